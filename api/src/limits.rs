//! Resource limits at the edge of the server: how long a client may take to send its request
//! headers and its whole request, how many connections may be open at once, and which request
//! bodies are refused before anything reads them.
//!
//! | variable | default | what a client sees past it |
//! |---|---|---|
//! | `BLAIGENT_HEADER_READ_TIMEOUT_SECS` | 10 | the connection is closed: no request was read, so there is nothing to answer |
//! | `BLAIGENT_REQUEST_TIMEOUT_SECS` | 60 | `408 {"detail"}` when the body was still arriving; `503 {"detail"}` with `Retry-After` when the server was still working |
//! | `BLAIGENT_MAX_CONNECTIONS` | 4096 | further connections wait in the kernel's listen backlog until one closes |
//!
//! Compressed request bodies (`Content-Encoding` other than `identity`) are refused with
//! `415 {"detail"}` and `Accept-Encoding: identity`. The server never inflates a request body:
//! a ten-kilobyte gzip bomb cannot become ten gigabytes in memory, and every body limit
//! (`BLAIGENT_MAX_BODY_BYTES`, `BLAIGENT_KNOWLEDGE_MAX_BYTES`) counts the bytes that arrive.
//!
//! Why these defaults: a legitimate client sends its headers in milliseconds, so 10 s only
//! ever hurts a slow-loris connection; 60 s is three times the language-model timeout (20 s)
//! and lets a 25 MiB knowledge upload arrive at about 3.5 Mbit/s; 4096 connections stay well
//! under a typical open-file limit while being far more than two cores can serve.
//!
//! The accept loop that applies the header timeout and the connection cap is
//! [`crate::connections`]; the two middlewares here run inside the request span.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{bail, Context as _};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::detail;

/// Edge limits (`BLAIGENT_HEADER_READ_TIMEOUT_SECS`, `BLAIGENT_REQUEST_TIMEOUT_SECS`,
/// `BLAIGENT_MAX_CONNECTIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    /// Longest time from accepting a connection (or finishing a response on a kept-alive
    /// one) to having read a complete request head.
    pub header_read_timeout: Duration,
    /// Longest time from a request's head to its response's head, body upload included.
    pub request_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

impl LimitSettings {
    /// Applies the variables above, read through `env`; each is validated and named when wrong.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let number = |name: &str, range: std::ops::RangeInclusive<u64>| {
            env(name)
                .map(|raw| -> anyhow::Result<u64> {
                    let n = raw
                        .trim()
                        .parse::<u64>()
                        .with_context(|| format!("{name} must be a whole number (got '{raw}')"))?;
                    if !range.contains(&n) {
                        bail!(
                            "{name} must be between {} and {} (got {n})",
                            range.start(),
                            range.end()
                        );
                    }
                    Ok(n)
                })
                .transpose()
        };
        if let Some(n) = number("BLAIGENT_HEADER_READ_TIMEOUT_SECS", 1..=600)? {
            self.header_read_timeout = Duration::from_secs(n);
        }
        if let Some(n) = number("BLAIGENT_REQUEST_TIMEOUT_SECS", 1..=3_600)? {
            self.request_timeout = Duration::from_secs(n);
        }
        if let Some(n) = number("BLAIGENT_MAX_CONNECTIONS", 1..=1_000_000)? {
            self.max_connections = n as usize;
        }
        Ok(())
    }
}

/// Most bytes of a refused body read before answering (more: the connection is closed).
const DRAIN_LIMIT: usize = 2 * 1024 * 1024;

/// Refuses a request whose body is compressed, without inflating it.
pub async fn refuse_encoded_bodies(req: Request, next: Next) -> Response {
    let Some(coding) = req.headers().get(header::CONTENT_ENCODING) else {
        return next.run(req).await;
    };
    let coding = String::from_utf8_lossy(coding.as_bytes()).trim().to_owned();
    let identity = coding
        .split(',')
        .map(str::trim)
        .all(|c| c.is_empty() || c.eq_ignore_ascii_case("identity"));
    if identity {
        return next.run(req).await;
    }
    let shown: String = coding.chars().take(40).collect();
    // Read (and drop) what the client is still sending, up to a bound, so it gets this answer
    // rather than a reset connection; the bytes are never inflated.
    let _ = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT).await;
    let mut response = detail(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "Content-Encoding '{shown}' is not accepted: send the request body uncompressed \
             (this server never inflates request bodies)"
        ),
    );
    response.headers_mut().insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    response
}

/// Bounds a request from its head to its response's head (see [`LimitSettings`]).
pub async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let arrived = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| Body::new(Tracked::new(body, arrived.clone())));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(mut response) => {
            // Answered before the body was read to its end (a 413, a 401 before reading, ...):
            // the unread rest makes the connection unusable, and a client that pooled it would
            // fail its next request on a reset socket. Say so, and the server closes it too.
            if !arrived.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
        Err(_) if !arrived.load(Ordering::Acquire) => {
            tracing::warn!(
                limit_secs = limit.as_secs(),
                "request body still arriving at the timeout"
            );
            let mut response = detail(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} seconds",
                    limit.as_secs()
                ),
            );
            // The rest of the body may still be on its way; the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Err(_) => {
            tracing::warn!(
                limit_secs = limit.as_secs(),
                "request still running at the timeout"
            );
            let mut response = detail(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request took longer than {} seconds; retry shortly",
                    limit.as_secs()
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// A request body that records when it has been read to the end.
struct Tracked {
    inner: Body,
    arrived: Arc<AtomicBool>,
}

impl Tracked {
    fn new(inner: Body, arrived: Arc<AtomicBool>) -> Self {
        // A request without a body has arrived once its head has.
        if inner.is_end_stream() {
            arrived.store(true, Ordering::Release);
        }
        Tracked { inner, arrived }
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.arrived.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_and_validated_with_their_names() {
        let mut settings = LimitSettings::default();
        settings
            .apply_env(|name| match name {
                "BLAIGENT_HEADER_READ_TIMEOUT_SECS" => Some("3".into()),
                "BLAIGENT_MAX_CONNECTIONS" => Some("100".into()),
                _ => None,
            })
            .expect("valid settings");
        assert_eq!(settings.header_read_timeout, Duration::from_secs(3));
        assert_eq!(settings.request_timeout, Duration::from_secs(60));
        assert_eq!(settings.max_connections, 100);

        let err = LimitSettings::default()
            .apply_env(|name| (name == "BLAIGENT_REQUEST_TIMEOUT_SECS").then(|| "0".into()))
            .expect_err("zero");
        assert!(
            err.to_string().contains("BLAIGENT_REQUEST_TIMEOUT_SECS"),
            "{err}"
        );
        let err = LimitSettings::default()
            .apply_env(|name| (name == "BLAIGENT_MAX_CONNECTIONS").then(|| "many".into()))
            .expect_err("not a number");
        assert!(
            err.to_string().contains("BLAIGENT_MAX_CONNECTIONS"),
            "{err}"
        );
    }
}
