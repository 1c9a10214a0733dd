//! Settings from the environment (12-factor), validated once at start.
//!
//! [`Settings::from_env`] reads the process environment; [`Settings::from_vars`] takes any list
//! of pairs, so tests never touch the process's own environment. Every bad variable is reported,
//! not just the first.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub const AMQP_URL: &str = "COPYDESK_AMQP_URL";
pub const REDIS_URL: &str = "COPYDESK_REDIS_URL";
pub const PREFIX: &str = "COPYDESK_PREFIX";
pub const HTTP_ADDR: &str = "COPYDESK_HTTP_ADDR";
pub const PREFETCH: &str = "COPYDESK_PREFETCH";
pub const GRACE_SECONDS: &str = "COPYDESK_GRACE_SECONDS";
pub const MAX_ATTEMPTS: &str = "COPYDESK_MAX_ATTEMPTS";
pub const RETRY_BASE_MS: &str = "COPYDESK_RETRY_BASE_MS";
pub const CONFIRM_TIMEOUT_MS: &str = "COPYDESK_CONFIRM_TIMEOUT_MS";
pub const DEDUP_TTL_SECONDS: &str = "COPYDESK_DEDUP_TTL_SECONDS";
pub const PENDING_TTL_SECONDS: &str = "COPYDESK_PENDING_TTL_SECONDS";
pub const DEDUP_CAPACITY: &str = "COPYDESK_DEDUP_CAPACITY";
pub const DEDUP_MAX_UNMARKED: &str = "COPYDESK_DEDUP_MAX_UNMARKED";
pub const DELIVERY_LIMIT: &str = "COPYDESK_DELIVERY_LIMIT";
pub const FETCH_ALLOW_PRIVATE: &str = "COPYDESK_FETCH_ALLOW_PRIVATE";
pub const FETCH_TIMEOUT_SECONDS: &str = "COPYDESK_FETCH_TIMEOUT_SECONDS";
pub const FETCH_CONNECT_TIMEOUT_SECONDS: &str = "COPYDESK_FETCH_CONNECT_TIMEOUT_SECONDS";
pub const FETCH_MAX_BYTES: &str = "COPYDESK_FETCH_MAX_BYTES";
pub const FETCH_MAX_REDIRECTS: &str = "COPYDESK_FETCH_MAX_REDIRECTS";
pub const USER_AGENT: &str = "COPYDESK_USER_AGENT";
pub const FETCH_INTERVAL_MS: &str = "COPYDESK_FETCH_INTERVAL_MS";
pub const FETCH_HOST_INTERVALS: &str = "COPYDESK_FETCH_HOST_INTERVALS";
pub const FETCH_ROBOTS: &str = "COPYDESK_FETCH_ROBOTS";
pub const FETCH_ROBOTS_TTL_SECONDS: &str = "COPYDESK_FETCH_ROBOTS_TTL_SECONDS";
pub const FETCH_ALLOW_ADDRS: &str = "COPYDESK_FETCH_ALLOW_ADDRS";
pub const LOG_FORMAT: &str = "COPYDESK_LOG_FORMAT";
pub const MAX_EVENT_BYTES: &str = "COPYDESK_MAX_EVENT_BYTES";

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";
const DEFAULT_PREFIX: &str = "copydesk";
const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:9000";
const DEFAULT_USER_AGENT: &str = concat!("copydesk/", env!("CARGO_PKG_VERSION"), " (+https://github.com/copydesk)");

/// Everything a worker is configured with.
#[derive(Clone)]
pub struct Settings {
    /// May hold credentials: never logged (see the `Debug` impl).
    pub amqp_url: String,
    /// May hold credentials: never logged.
    pub redis_url: String,
    /// Prefix of every exchange, queue and Redis key.
    pub prefix: String,
    pub http_addr: SocketAddr,
    /// Unacknowledged deliveries per consumer: the only bound on in-flight work.
    pub prefetch: u16,
    /// How long a stopping worker lets in-flight messages finish; below RabbitMQ's consumer
    /// timeout (30 minutes by default) and below Kubernetes' termination grace period.
    pub grace: Duration,
    /// Attempts before a transient failure is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's delay; each next one doubles, with ±20% jitter.
    pub retry_base: Duration,
    /// How long to wait for the broker to confirm a publish.
    pub confirm_timeout: Duration,
    /// How long an article is remembered for deduplication.
    pub dedup_ttl: Duration,
    /// How long a claim on an article stays while its event is being published.
    pub pending_ttl: Duration,
    /// Articles expected per dedup window: sizes the Redis keys (see the dedup stage).
    pub dedup_capacity: u64,
    /// Article events the dedup stage may have out (published, not yet marked confirmed in Redis)
    /// at once: a crash repeats at most this many. Default: the prefetch (no other bound); 1
    /// gives at most one repeat per crash, at a fraction of the throughput (RELIABILITY.md).
    pub dedup_max_unmarked: u16,
    /// Deliveries of one message before the quorum queue dead-letters it (poison messages).
    pub delivery_limit: u32,
    pub fetch: FetchSettings,
    pub log_json: bool,
    /// Largest message a stage publishes; keep it under the broker's `max_message_size`, since
    /// RabbitMQ closes the channel on a bigger one. A bigger event is dead-lettered with a reason.
    pub max_event_bytes: usize,
}

#[derive(Clone, Debug)]
pub struct FetchSettings {
    /// Allow URLs resolving to loopback, private, link-local or other non-public addresses.
    pub allow_private: bool,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
    pub user_agent: String,
    /// Least time between two requests to one host, across all replicas.
    pub interval: Duration,
    /// Per-host overrides of `interval` (`news.example.com=250,slow.example.org=5000`).
    pub host_intervals: Vec<(String, Duration)>,
    /// Honour robots.txt (and its `Crawl-delay`).
    pub robots: bool,
    pub robots_ttl: Duration,
    /// Exact `ip:port` addresses allowed although not public (an internal mirror; tests).
    pub allow_addrs: Vec<SocketAddr>,
}

impl FetchSettings {
    /// The interval for `host`.
    pub fn interval_for(&self, host: &str) -> Duration {
        self.host_intervals.iter().find(|(h, _)| h.eq_ignore_ascii_case(host)).map_or(self.interval, |(_, d)| *d)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("amqp_url", &"<redacted>")
            .field("redis_url", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("http_addr", &self.http_addr)
            .field("prefetch", &self.prefetch)
            .field("grace", &self.grace)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Bad settings, all of them.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {}", .0.join("; "))]
pub struct Error(pub Vec<String>);

impl Settings {
    /// # Errors
    ///
    /// Every variable that is set but invalid.
    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_vars(std::env::vars())
    }

    /// # Errors
    ///
    /// Every variable that is set but invalid.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Settings, Error> {
        let vars: HashMap<String, String> = vars.into_iter().filter(|(k, _)| k.starts_with("COPYDESK_")).collect();
        let mut errors = Vec::new();
        let text = |key: &str, default: &str| vars.get(key).map_or_else(|| default.to_owned(), |v| v.trim().to_owned());
        let mut number = |key: &str, default: u64, min: u64| -> u64 {
            match vars.get(key).map(|v| v.trim().parse::<u64>()) {
                None => default,
                Some(Ok(n)) if n >= min => n,
                Some(_) => {
                    errors.push(format!("{key} must be a whole number of at least {min}"));
                    default
                }
            }
        };
        let prefetch = number(PREFETCH, 32, 1).min(u64::from(u16::MAX)) as u16;
        let grace = Duration::from_secs(number(GRACE_SECONDS, 25, 0));
        let max_attempts = number(MAX_ATTEMPTS, 6, 1) as u32;
        let retry_base = Duration::from_millis(number(RETRY_BASE_MS, 1000, 1));
        let confirm_timeout = Duration::from_millis(number(CONFIRM_TIMEOUT_MS, 10_000, 100));
        let dedup_ttl = Duration::from_secs(number(DEDUP_TTL_SECONDS, 30 * 24 * 3600, 1));
        let pending_ttl = Duration::from_secs(number(PENDING_TTL_SECONDS, 30, 1));
        let dedup_capacity = number(DEDUP_CAPACITY, 10_000_000, 1);
        let dedup_max_unmarked = number(DEDUP_MAX_UNMARKED, u64::from(prefetch), 1).min(u64::from(u16::MAX)) as u16;
        let delivery_limit = number(DELIVERY_LIMIT, 20, 1) as u32;
        let max_event_bytes = number(MAX_EVENT_BYTES, 16 * 1024 * 1024, 1024) as usize;
        let fetch = FetchSettings {
            allow_private: vars.get(FETCH_ALLOW_PRIVATE).is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
            timeout: Duration::from_secs(number(FETCH_TIMEOUT_SECONDS, 30, 1)),
            connect_timeout: Duration::from_secs(number(FETCH_CONNECT_TIMEOUT_SECONDS, 10, 1)),
            max_bytes: number(FETCH_MAX_BYTES, 10 * 1024 * 1024, 1024) as usize,
            max_redirects: number(FETCH_MAX_REDIRECTS, 10, 0) as usize,
            user_agent: text(USER_AGENT, DEFAULT_USER_AGENT),
            interval: Duration::from_millis(number(FETCH_INTERVAL_MS, 1000, 0)),
            host_intervals: Vec::new(),
            robots: !vars.get(FETCH_ROBOTS).is_some_and(|v| matches!(v.trim(), "0" | "false" | "no" | "off")),
            robots_ttl: Duration::from_secs(number(FETCH_ROBOTS_TTL_SECONDS, 3600, 1)),
            allow_addrs: Vec::new(),
        };
        let mut fetch = fetch;
        let items = |key: &str| -> Vec<String> {
            vars.get(key).map_or_else(Vec::new, |v| {
                v.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect()
            })
        };
        for item in items(FETCH_HOST_INTERVALS) {
            match item.split_once('=').map(|(h, ms)| (h.trim(), ms.trim().parse::<u64>())) {
                Some((h, Ok(ms))) if !h.is_empty() => {
                    fetch.host_intervals.push((h.to_owned(), Duration::from_millis(ms)))
                }
                _ => errors.push(format!("{FETCH_HOST_INTERVALS} must be host=milliseconds pairs separated by commas")),
            }
        }
        for item in items(FETCH_ALLOW_ADDRS) {
            match item.parse::<SocketAddr>() {
                Ok(a) => fetch.allow_addrs.push(a),
                Err(_) => errors.push(format!("{FETCH_ALLOW_ADDRS} must be ip:port addresses separated by commas")),
            }
        }
        let amqp_url = text(AMQP_URL, DEFAULT_AMQP_URL);
        if !(amqp_url.starts_with("amqp://") || amqp_url.starts_with("amqps://")) {
            errors.push(format!("{AMQP_URL} must start with amqp:// or amqps://"));
        }
        let redis_url = text(REDIS_URL, DEFAULT_REDIS_URL);
        if !["redis://", "rediss://", "redis+cluster://", "rediss+cluster://"].iter().any(|s| redis_url.starts_with(s))
        {
            errors.push(format!("{REDIS_URL} must start with redis:// or rediss://"));
        }
        let prefix = text(PREFIX, DEFAULT_PREFIX);
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            errors.push(format!("{PREFIX} must be letters, digits, '-', '_' or '.'"));
        }
        let http_addr = text(HTTP_ADDR, DEFAULT_HTTP_ADDR).parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(format!("{HTTP_ADDR} must be an address and port, such as 0.0.0.0:9000"));
            DEFAULT_HTTP_ADDR.parse().expect("valid default")
        });
        let log_json = match vars.get(LOG_FORMAT).map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "json" => true,
            Some(v) if v == "text" || v.is_empty() => false,
            Some(_) => {
                errors.push(format!("{LOG_FORMAT} must be json or text"));
                false
            }
        };
        if !errors.is_empty() {
            return Err(Error(errors));
        }
        Ok(Settings {
            amqp_url,
            redis_url,
            prefix,
            http_addr,
            prefetch,
            grace,
            max_attempts,
            retry_base,
            confirm_timeout,
            dedup_ttl,
            dedup_capacity,
            dedup_max_unmarked,
            pending_ttl,
            delivery_limit,
            fetch,
            log_json,
            max_event_bytes,
        })
    }

    /// The host of a URL, for logs (a URL may carry credentials; its host does not).
    pub fn host_of(url: &str) -> &str {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split(['/', '?']).next().unwrap_or(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = Settings::from_vars(vars(&[])).unwrap();
        assert_eq!(s.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(s.redis_url, "redis://127.0.0.1:6379/");
        assert_eq!(s.prefix, "copydesk");
        assert_eq!(s.http_addr.to_string(), "0.0.0.0:9000");
        assert!(!s.fetch.allow_private);
        assert_eq!(s.dedup_ttl, Duration::from_secs(30 * 24 * 3600));
    }

    #[test]
    fn every_bad_variable_is_reported() {
        let err =
            Settings::from_vars(vars(&[(PREFETCH, "zero"), (AMQP_URL, "http://x"), (PREFIX, "a b")])).unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
    }

    #[test]
    fn fetch_politeness_settings_are_read() {
        let s = Settings::from_vars(vars(&[
            (FETCH_INTERVAL_MS, "250"),
            (FETCH_HOST_INTERVALS, "slow.example.org=5000, news.example.com=100"),
            (FETCH_ALLOW_ADDRS, "127.0.0.1:8080"),
            (FETCH_ROBOTS, "0"),
        ]))
        .unwrap();
        assert_eq!(s.fetch.interval_for("other.example"), Duration::from_millis(250));
        assert_eq!(s.fetch.interval_for("SLOW.example.org"), Duration::from_secs(5));
        assert_eq!(s.fetch.allow_addrs, ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        assert!(!s.fetch.robots);
        let err = Settings::from_vars(vars(&[(FETCH_HOST_INTERVALS, "nohost"), (FETCH_ALLOW_ADDRS, "x")])).unwrap_err();
        assert_eq!(err.0.len(), 2);
    }

    #[test]
    fn the_unmarked_bound_follows_the_prefetch_unless_set() {
        let s = Settings::from_vars(vars(&[(PREFETCH, "64")])).unwrap();
        assert_eq!(s.dedup_max_unmarked, 64);
        let s = Settings::from_vars(vars(&[(PREFETCH, "64"), (DEDUP_MAX_UNMARKED, "1")])).unwrap();
        assert_eq!(s.dedup_max_unmarked, 1);
        assert!(Settings::from_vars(vars(&[(DEDUP_MAX_UNMARKED, "0")])).is_err());
    }

    #[test]
    fn credentials_never_reach_debug_or_host() {
        let s = Settings::from_vars(vars(&[(AMQP_URL, "amqps://user:secret@broker.example:5671/vh")])).unwrap();
        assert!(!format!("{s:?}").contains("secret"));
        assert_eq!(Settings::host_of(&s.amqp_url), "broker.example:5671");
    }
}
