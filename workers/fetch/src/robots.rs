//! robots.txt (RFC 9309): the group for our product token (else `*`), longest match wins,
//! `Allow` wins ties, `*` and `$` in patterns, and `Crawl-delay`.

use std::time::Duration;

#[derive(Debug, Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<(bool, String)>,
    crawl_delay: Option<f64>,
}

/// A parsed robots.txt.
#[derive(Debug, Default)]
pub struct Robots {
    groups: Vec<Group>,
}

impl Robots {
    pub fn parse(text: &str) -> Robots {
        let mut groups: Vec<Group> = Vec::new();
        let mut in_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else { continue };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if !in_agents {
                        groups.push(Group::default());
                    }
                    in_agents = true;
                    groups.last_mut().expect("pushed").agents.push(value.to_ascii_lowercase());
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    if let Some(g) = groups.last_mut() {
                        g.rules.push((key == "allow", value.to_owned()));
                    }
                }
                "crawl-delay" => {
                    in_agents = false;
                    if let Some(g) = groups.last_mut() {
                        g.crawl_delay = value.parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0);
                    }
                }
                _ => {}
            }
        }
        Robots { groups }
    }

    /// The groups that apply to `agent` (our product token): its own, else `*`.
    fn groups_for(&self, agent: &str) -> Vec<&Group> {
        let agent = agent.to_ascii_lowercase();
        let own: Vec<&Group> =
            self.groups.iter().filter(|g| g.agents.iter().any(|a| a != "*" && agent.contains(a.as_str()))).collect();
        if !own.is_empty() {
            return own;
        }
        self.groups.iter().filter(|g| g.agents.iter().any(|a| a == "*")).collect()
    }

    /// Whether `agent` may fetch `path` (path and query).
    pub fn allowed(&self, agent: &str, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for g in self.groups_for(agent) {
            for (allow, pattern) in &g.rules {
                if pattern.is_empty() {
                    continue; // `Disallow:` with nothing allows everything
                }
                if matches(pattern, path) {
                    let len = pattern.len();
                    if best.is_none_or(|(l, a)| len > l || (len == l && *allow && !a)) {
                        best = Some((len, *allow));
                    }
                }
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }

    pub fn crawl_delay(&self, agent: &str) -> Option<Duration> {
        self.groups_for(agent).iter().find_map(|g| g.crawl_delay).map(Duration::from_secs_f64)
    }
}

/// A robots.txt path pattern against a path: `*` is any run of characters, a final `$` anchors
/// the end; otherwise the pattern needs to match only a prefix of the path.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
            continue;
        }
        if pi == p.len() {
            if !anchored || si == s.len() {
                return true;
            }
        } else if si < s.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
            continue;
        }
        match star {
            Some((sp, ss)) if ss < s.len() => {
                star = Some((sp, ss + 1));
                pi = sp + 1;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TXT: &str = "User-agent: *\nDisallow: /private/\nAllow: /private/open\nCrawl-delay: 2\n\n\
                       User-agent: copydesk\nDisallow: /no-bots\nDisallow: /*.pdf$\n";

    #[test]
    fn our_group_wins_over_the_star_group() {
        let r = Robots::parse(TXT);
        assert!(!r.allowed("copydesk/0.0.0", "/no-bots/x"));
        assert!(r.allowed("copydesk/0.0.0", "/private/x"), "the * group does not apply to us");
        assert!(!r.allowed("copydesk", "/files/a.pdf"));
        assert!(r.allowed("copydesk", "/files/a.pdf?x=1"));
        assert_eq!(r.crawl_delay("copydesk"), None);
    }

    #[test]
    fn star_group_longest_match_and_allow_ties() {
        let r = Robots::parse(TXT);
        assert!(!r.allowed("otherbot", "/private/x"));
        assert!(r.allowed("otherbot", "/private/open/y"));
        assert!(r.allowed("otherbot", "/public"));
        assert_eq!(r.crawl_delay("otherbot"), Some(Duration::from_secs(2)));
        assert!(Robots::parse("User-agent: *\nDisallow:\n").allowed("x", "/anything"));
        assert!(Robots::parse("").allowed("x", "/anything"));
    }
}
