//! The SSRF guard for webhook URLs: an organization must not be able to make the platform
//! POST into its own private network (cloud metadata, databases, admin consoles).
//!
//! Checked twice: when an endpoint is created or changed ([`UrlGuard::check_url`] plus
//! [`UrlGuard::check_resolved`]), and at every delivery, where the HTTP client resolves names
//! through [`GuardedResolver`] so a name that later points inside (DNS rebinding) is refused at
//! connection time. Redirects are never followed. Networks in the allowlist (configuration;
//! the tests allow `127.0.0.1/32`) are exempt.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use url::{Host, Url};

use crate::error::{Error, Result};

/// Longest accepted URL.
pub const MAX_URL_LEN: usize = 2048;

/// Decides which URLs and addresses deliveries may go to.
#[derive(Debug, Clone, Default)]
pub struct UrlGuard {
    allow: Arc<Vec<IpNet>>,
}

impl UrlGuard {
    /// A guard that refuses non-public addresses except those inside `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        UrlGuard {
            allow: Arc::new(allow),
        }
    }

    /// Tells whether a delivery may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|net| net.contains(&ip)) || is_public(ip)
    }

    /// Parses and checks a URL without touching the network: http or https, a host, no
    /// credentials, and, when the host is an address, an allowed one.
    pub fn check_url(&self, raw: &str) -> Result<Url> {
        let bad = |why: &str| Error::unprocessable(format!("url: {why}"));
        if raw.len() > MAX_URL_LEN {
            return Err(bad(&format!("must be at most {MAX_URL_LEN} characters")));
        }
        let url = Url::parse(raw.trim()).map_err(|e| bad(&format!("not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must start with https:// or http://"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain credentials"));
        }
        let ip = match url.host() {
            None => return Err(bad("must name a host")),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
                } else {
                    None
                }
            }
        };
        if let Some(ip) = ip {
            if !self.allows(ip) {
                return Err(bad("points to a private or reserved address"));
            }
        }
        Ok(url)
    }

    /// Resolves the URL's host and refuses it when any address is not allowed. A name that
    /// does not resolve (yet) passes: the delivery-time check is the one that counts.
    pub async fn check_resolved(&self, url: &Url) -> Result<()> {
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let Ok(addrs) = tokio::net::lookup_host((name, port)).await else {
            return Ok(());
        };
        for addr in addrs {
            if !self.allows(addr.ip()) {
                return Err(Error::unprocessable(
                    "url: resolves to a private or reserved address",
                ));
            }
        }
        Ok(())
    }
}

/// Tells whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
        || (first & 0xffc0) == 0xfec0 // site local (deprecated)
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::a.b.c.d (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64, may reach IPv4 inside
}

/// A DNS resolver for the delivery client that drops addresses the guard refuses, so the
/// check and the connection use the very same answer.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: UrlGuard,
}

impl GuardedResolver {
    pub fn new(guard: UrlGuard) -> Self {
        GuardedResolver { guard }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| guard.allows(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "'{host}' resolves to no public address (blocked by the SSRF guard)"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_targets_are_refused() {
        let guard = UrlGuard::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:192.168.1.1]/",
            "http://[::127.0.0.1]/",
            "http://[fec0::1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
        ] {
            let err = guard.check_url(url).unwrap_err();
            assert!(err.message().contains("private"), "{url}: {err}");
        }
    }

    #[test]
    fn bad_schemes_and_credentials_are_refused_naming_the_field() {
        let guard = UrlGuard::default();
        for url in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            let err = guard.check_url(url).unwrap_err();
            assert!(err.message().starts_with("url:"), "{url}: {err}");
        }
    }

    #[test]
    fn public_urls_pass_and_the_allowlist_opens_loopback() {
        let guard = UrlGuard::default();
        assert!(guard
            .check_url("https://hooks.example.com/blaigent")
            .is_ok());
        assert!(guard.check_url("http://93.184.216.34/x").is_ok());
        let guard = UrlGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(guard.check_url("http://127.0.0.1:9999/hook").is_ok());
        assert!(guard.check_url("http://127.0.0.2:9999/hook").is_err());
    }
}
