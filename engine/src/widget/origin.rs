//! Origins: the scheme, host and port of the page that embeds the widget, as the browser sends
//! them in the `Origin` header. Both sides are normalised by the URL parser (lowercase host,
//! default port dropped) before they are compared, so `https://Shop.Example:443` matches an
//! allowlist entry `https://shop.example`. Nothing else matches: no wildcards, no
//! "same registrable domain", because a lax origin check is what lets another site drive the
//! organization's agent.

/// Returns the normalised serialisation of an origin (`https://shop.example`), or `None` when
/// `raw` is not an http(s) origin (`null`, `file://`, garbage).
pub fn normalise(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Tells whether `origin` (as sent by the browser) is one of `allowed`.
pub fn is_allowed(allowed: &[String], origin: &str) -> bool {
    let Some(origin) = normalise(origin) else {
        return false;
    };
    allowed
        .iter()
        .filter_map(|entry| normalise(entry))
        .any(|entry| entry == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_default_ports_do_not_matter() {
        let allowed = vec!["https://shop.example".to_owned()];
        assert!(is_allowed(&allowed, "https://Shop.Example:443"));
        assert!(is_allowed(&allowed, "https://shop.example"));
    }

    #[test]
    fn scheme_port_and_subdomain_must_match_exactly() {
        let allowed = vec!["https://shop.example".to_owned()];
        assert!(!is_allowed(&allowed, "http://shop.example"));
        assert!(!is_allowed(&allowed, "https://shop.example:8443"));
        assert!(!is_allowed(&allowed, "https://evil.shop.example"));
        assert!(!is_allowed(&allowed, "https://shop.example.evil"));
    }

    #[test]
    fn opaque_and_malformed_origins_are_refused() {
        let allowed = vec!["https://shop.example".to_owned()];
        assert!(!is_allowed(&allowed, "null"));
        assert!(!is_allowed(&allowed, "file:///etc/passwd"));
        assert!(!is_allowed(&allowed, ""));
        assert_eq!(
            normalise("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080".into())
        );
    }
}
