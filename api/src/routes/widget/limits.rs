//! The client address the widget's per-IP limits are keyed by. The limits themselves are
//! buckets of the server's one rate limiter ([`crate::rate_limit::RateLimiter::take`]), so
//! they live where the organizations' limits live: in this process, or in the database or
//! Redis shared by every replica.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// The client's IP address: the last `X-Forwarded-For` entry when the proxy is trusted, else
/// the TCP peer, else `unknown` (in-process tests without connection info).
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> String {
    if trust_proxy {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if let Some(ip) = forwarded {
            return ip.to_owned();
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string())
}
