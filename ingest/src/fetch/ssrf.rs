//! The SSRF guard of ingestion, in the words of the knowledge API: ingestion fetches URLs an
//! organization gives it, and must not become a way to read the platform's own network. The
//! policy (public addresses, allowlist, the connection-time resolver that also checks every
//! redirect hop) is [`engine::ssrf`], shared with webhooks, actions and channels.

use std::net::IpAddr;

use engine::error::{Error, Result};
pub use engine::ssrf::GuardedResolver;
use engine::ssrf::{parse_network, AddressGuard, UrlRefusal};
use ipnet::IpNet;
use url::Url;

/// Decides which URLs and addresses fetches may go to.
#[derive(Debug, Clone, Default)]
pub struct SsrfGuard {
    addresses: AddressGuard,
}

impl From<SsrfGuard> for AddressGuard {
    fn from(guard: SsrfGuard) -> Self {
        guard.addresses
    }
}

impl SsrfGuard {
    /// A guard refusing every non-public address except those inside `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self {
            addresses: AddressGuard::new(allow),
        }
    }

    /// Parses an allowlist of CIDRs or single addresses (`127.0.0.1`, `10.0.0.0/8`).
    pub fn parse_allowlist(entries: &[String]) -> Result<Vec<IpNet>> {
        entries
            .iter()
            .map(|entry| {
                parse_network(entry)
                    .map_err(|why| Error::invalid(format!("in the fetch allowlist: {why}")))
            })
            .collect()
    }

    /// Tells whether a fetch may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.addresses.allows(ip)
    }

    /// Checks a URL without touching the network: http(s), a host, no credentials, and an
    /// allowed address when the host is an IP literal or `localhost`.
    pub fn check_url(&self, raw: &str) -> Result<Url> {
        self.addresses
            .check_url(raw)
            .map_err(|refusal| match refusal {
                UrlRefusal::Malformed(why) => {
                    Error::invalid(format!("'{raw}' is not a valid URL ({why})"))
                }
                UrlRefusal::Scheme => {
                    Error::invalid("only http:// and https:// URLs can be fetched")
                }
                UrlRefusal::Credentials => Error::invalid("URLs with credentials are not fetched"),
                UrlRefusal::NoHost => Error::invalid("the URL names no host"),
                UrlRefusal::Address(ip) => Error::forbidden(format!(
                    "the address {ip} is private, loopback, link-local or reserved and may not be \
                 fetched"
                )),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_is_parsed_and_a_bad_entry_is_named() {
        let allow = SsrfGuard::parse_allowlist(&["127.0.0.1".into(), "10.0.0.0/8".into()])
            .expect("allowlist");
        let guard = SsrfGuard::new(allow);
        assert!(guard.allows("10.9.9.9".parse().expect("ip")));
        assert!(!guard.allows("127.0.0.2".parse().expect("ip")));
        let err = SsrfGuard::parse_allowlist(&["not-a-net".into()]).expect_err("refused");
        assert!(err.message().contains("not-a-net"), "{err:?}");
    }

    #[test]
    fn refusals_speak_the_knowledge_api() {
        let guard = SsrfGuard::default();
        let err = guard
            .check_url("http://169.254.169.254/latest/meta-data/")
            .expect_err("metadata refused");
        assert!(err.message().contains("may not be fetched"), "{err:?}");
        let err = guard.check_url("ftp://example.com/").expect_err("scheme");
        assert!(err.message().contains("http"), "{err:?}");
        assert!(guard.check_url("https://example.com/help").is_ok());
    }
}
