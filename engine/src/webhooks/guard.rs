//! The SSRF guard for webhook URLs, in the words of the webhook API: an organization must not
//! be able to make the platform POST into its own private network. The policy itself (which
//! addresses are public, the allowlist, the connection-time resolver) is [`crate::ssrf`].
//!
//! Checked twice: when an endpoint is created or changed ([`UrlGuard::check_url`] plus
//! [`UrlGuard::check_resolved`]), and at every delivery, where the HTTP client resolves names
//! through [`crate::ssrf::GuardedResolver`] so a name that later points inside (DNS rebinding) is refused at
//! connection time. Redirects are never followed.

use std::net::IpAddr;

use ipnet::IpNet;
use url::{Host, Url};

use crate::error::{Error, Result};
use crate::ssrf::{AddressGuard, UrlRefusal};

/// Longest accepted URL.
pub const MAX_URL_LEN: usize = 2048;

/// Decides which URLs and addresses deliveries may go to.
#[derive(Debug, Clone, Default)]
pub struct UrlGuard {
    addresses: AddressGuard,
}

impl From<UrlGuard> for AddressGuard {
    fn from(guard: UrlGuard) -> Self {
        guard.addresses
    }
}

impl UrlGuard {
    /// A guard that refuses non-public addresses except those inside `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        UrlGuard {
            addresses: AddressGuard::new(allow),
        }
    }

    /// Tells whether a delivery may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.addresses.allows(ip)
    }

    /// Parses and checks a URL without touching the network: http or https, a host, no
    /// credentials, and, when the host is an address, an allowed one. Errors name the field.
    pub fn check_url(&self, raw: &str) -> Result<Url> {
        let bad = |why: &str| Error::unprocessable(format!("url: {why}"));
        if raw.len() > MAX_URL_LEN {
            return Err(bad(&format!("must be at most {MAX_URL_LEN} characters")));
        }
        self.addresses
            .check_url(raw)
            .map_err(|refusal| match refusal {
                UrlRefusal::Malformed(why) => bad(&format!("not a valid URL ({why})")),
                UrlRefusal::Scheme => bad("must start with https:// or http://"),
                UrlRefusal::Credentials => bad("must not contain credentials"),
                UrlRefusal::NoHost => bad("must name a host"),
                UrlRefusal::Address(_) => bad("points to a private or reserved address"),
            })
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
