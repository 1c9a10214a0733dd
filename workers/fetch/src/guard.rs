//! The SSRF guard: only `http` and `https`, and only public addresses, unless
//! `COPYDESK_FETCH_ALLOW_PRIVATE=1`. Names are checked where they are resolved (our resolver
//! hands reqwest only public addresses), literal addresses before the request, since reqwest
//! does not consult a resolver for them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64, embeds IPv4
                || (s[0] == 0x2002) // 6to4, embeds IPv4
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// A URL's host as an address, if it is written as one (in any of the spellings browsers
/// accept: `2130706433`, `0x7f.1`, `[::1]` are normalized by the URL parser).
pub fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Why a URL may not be fetched, if it may not. `allow_addrs` are exact `ip:port` addresses let
/// through although not public.
pub fn check_url(url: &url::Url, allow_private: bool, allow_addrs: &[SocketAddr]) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not allowed; only http and https", url.scheme()));
    }
    if url.host().is_none() {
        return Err("the URL has no host".into());
    }
    if !allow_private
        && let Some(ip) = literal_ip(url)
        && !is_public(ip)
    {
        let port = url.port_or_known_default().unwrap_or(0);
        if !allow_addrs.contains(&SocketAddr::new(ip, port)) {
            return Err(format!("{ip} is not a public address"));
        }
    }
    Ok(())
}

/// Keeps the public addresses of a resolution.
pub fn public_only(addrs: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    addrs.filter(|a| is_public(a.ip())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn private_and_odd_spellings_are_refused() {
        for u in [
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://169.254.169.254/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://100.64.0.1/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://240.0.0.1/",
        ] {
            assert!(check_url(&url(u), false, &[]).is_err(), "{u} should be refused");
            assert!(check_url(&url(u), true, &[]).is_ok(), "{u} allowed with the override");
        }
    }

    #[test]
    fn an_allowed_address_passes_only_with_its_port() {
        let allowed: Vec<SocketAddr> = vec!["127.0.0.1:8080".parse().unwrap()];
        assert!(check_url(&url("http://127.0.0.1:8080/a"), false, &allowed).is_ok());
        assert!(check_url(&url("http://127.0.0.1:8081/a"), false, &allowed).is_err());
        assert!(check_url(&url("http://127.0.0.1/"), false, &allowed).is_err());
    }

    #[test]
    fn public_addresses_and_names_pass_and_other_schemes_do_not() {
        assert!(check_url(&url("https://93.184.215.14/"), false, &[]).is_ok());
        assert!(check_url(&url("https://news.example.com/a"), false, &[]).is_ok());
        assert!(check_url(&url("ftp://news.example.com/a"), true, &[]).is_err());
        assert!(check_url(&url("file:///etc/passwd"), true, &[]).is_err());
    }
}
