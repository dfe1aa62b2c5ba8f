//! The platform's one SSRF policy: which addresses the server may connect to when an
//! organization hands it a URL (knowledge sources, webhook endpoints, action backends, channel
//! provider base URLs). Without it an organization could make the platform read or POST into
//! its own network: cloud metadata at 169.254.169.254, databases, admin consoles.
//!
//! Two checks, both here:
//! - [`AddressGuard::check_url`] before any request: http(s), a host, no credentials, and an
//!   allowed address when the host is an IP literal or `localhost`.
//! - [`GuardedResolver`] at connection time: the HTTP client resolves every name (and every
//!   redirect hop) through it and gets only allowed addresses, so the connection goes to the
//!   very address that was checked and DNS rebinding gains nothing.
//!
//! Networks in the allowlist (configuration; the tests allow `127.0.0.1/32`) are exempt.
//! Callers wrap the guard to phrase refusals in their own API's words
//! (`webhooks::UrlGuard`, `ingest::fetch::ssrf::SsrfGuard`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Decides which addresses outgoing requests may connect to.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    allow: Arc<Vec<IpNet>>,
}

/// Why [`AddressGuard::check_url`] refused a URL; callers turn it into their own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not a URL at all (the parser's reason).
    Malformed(String),
    /// A scheme other than http or https.
    Scheme,
    /// A user name or password in the URL.
    Credentials,
    /// No host (e.g. `http:///path`).
    NoHost,
    /// The host is (or is a name for) an address the guard refuses.
    Address(IpAddr),
}

impl fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "not a valid URL ({why})"),
            Self::Scheme => f.write_str("only http:// and https:// URLs are allowed"),
            Self::Credentials => f.write_str("URLs with credentials are not allowed"),
            Self::NoHost => f.write_str("the URL names no host"),
            Self::Address(ip) => write!(
                f,
                "the address {ip} is private, loopback, link-local or reserved"
            ),
        }
    }
}

impl AddressGuard {
    /// A guard refusing every non-public address except those inside `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }

    /// Tells whether a request may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|net| net.contains(&ip)) || is_public(ip)
    }

    /// Parses and checks a URL without touching the network.
    pub fn check_url(&self, raw: &str) -> Result<Url, UrlRefusal> {
        let url = Url::parse(raw.trim()).map_err(|e| UrlRefusal::Malformed(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefusal::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Credentials);
        }
        let ip = match url.host() {
            None => return Err(UrlRefusal::NoHost),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                (name == "localhost" || name.ends_with(".localhost"))
                    .then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
        };
        match ip {
            Some(ip) if !self.allows(ip) => Err(UrlRefusal::Address(ip)),
            _ => Ok(url),
        }
    }
}

/// Parses one allowlist entry: a CIDR (`10.0.0.0/8`) or a single address (`127.0.0.1`).
pub fn parse_network(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{raw}' is not a CIDR or an IP address"))
}

/// True for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64.0.0/10
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 168) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast 224/4, reserved 240/4, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (incl. fd00:ec2::254 metadata)
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d (deprecated)
}

/// A DNS resolver for reqwest that returns only addresses the guard allows, and fails the
/// connection (with the reason) when a name resolves to none.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: AddressGuard,
}

impl GuardedResolver {
    pub fn new(guard: impl Into<AddressGuard>) -> Self {
        Self {
            guard: guard.into(),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| guard.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let shown = addrs
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|| "no address".to_owned());
                let message = format!(
                    "{host} resolves to {shown}, a private, loopback, link-local or reserved \
                     address that may not be fetched (blocked by the SSRF guard)"
                );
                return Err(message.into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn every_non_public_range_is_refused() {
        for refused in [
            "0.0.0.0",
            "10.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "fec0::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.1.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(refused)), "{refused} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(allowed)), "{allowed} must be allowed");
        }
    }

    #[test]
    fn the_allowlist_exempts_exactly_its_networks() {
        let allow = ["127.0.0.1", "10.0.0.0/8"]
            .iter()
            .map(|n| parse_network(n))
            .collect::<Result<Vec<_>, _>>()
            .expect("allowlist");
        let guard = AddressGuard::new(allow);
        assert!(guard.allows(ip("127.0.0.1")));
        assert!(guard.allows(ip("10.9.9.9")));
        assert!(!guard.allows(ip("127.0.0.2")));
        assert!(!guard.allows(ip("169.254.169.254")));
        let err = parse_network("not-a-net").expect_err("refused");
        assert!(err.contains("not-a-net"), "{err}");
    }

    #[test]
    fn urls_are_refused_before_any_request_with_the_reason() {
        let guard = AddressGuard::default();
        for url in [
            "http://127.0.0.1:8080/admin",
            "http://localhost/",
            "http://app.localhost/",
            "http://LOCALHOST./",
            "http://[::1]/",
            "http://[::ffff:192.168.1.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/",
            "http://2130706433/",
        ] {
            let refusal = guard.check_url(url).expect_err(url);
            assert!(
                matches!(refusal, UrlRefusal::Address(_)),
                "{url}: {refusal}"
            );
        }
        assert_eq!(
            guard.check_url("ftp://example.com/file"),
            Err(UrlRefusal::Scheme)
        );
        assert_eq!(
            guard.check_url("https://user:pw@example.com/"),
            Err(UrlRefusal::Credentials)
        );
        assert!(matches!(
            guard.check_url("not a url"),
            Err(UrlRefusal::Malformed(_))
        ));
        assert!(guard.check_url("https://example.com/help").is_ok());
        let open = AddressGuard::new(vec![ip("127.0.0.1").into()]);
        assert!(open.check_url("http://127.0.0.1:9999/hook").is_ok());
        assert!(open.check_url("http://127.0.0.2:9999/hook").is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_by_the_resolver() {
        let resolver = GuardedResolver::new(AddressGuard::default());
        let name: Name = "localhost".parse().expect("name");
        let err = resolver.resolve(name).await.err().expect("refused");
        assert!(err.to_string().contains("SSRF guard"), "{err}");

        let allowed = GuardedResolver::new(AddressGuard::new(vec![ip("127.0.0.1").into()]));
        let name: Name = "localhost".parse().expect("name");
        let addrs: Vec<_> = allowed.resolve(name).await.expect("allowed").collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip() == ip("127.0.0.1")));
    }
}
