//! Load shedding in front of the chat endpoints: at most `max_inflight` chat turns run at once,
//! at most `max_queue` more wait (each for at most `queue_timeout`) for a free slot, and
//! everything past that is answered at once with `503 {"detail": ...}` and `Retry-After`.
//!
//! Why: a chat turn costs CPU (language detection, intent model, retrieval, embedding) and
//! memory (its body, history and context). Without a bound, a traffic spike queues work
//! without limit, so every client's latency grows until they all time out, and memory grows
//! with the queue. With it, the server keeps answering its capacity at normal latency and
//! tells the rest to come back (load balancers and SDKs retry on 503 + `Retry-After`).
//!
//! Only the chat routes are guarded (`/api/v1/agents/...` and the widget's `.../chat`): the
//! rest of the API is cheap and must stay usable during a spike (dashboards, health checks).
//! A streamed answer (server-sent events) keeps its slot until its stream ends or its client
//! goes away: the turn runs while the events flow, after the `200` went out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::detail;

/// Capacity settings (`BLAIGENT_MAX_INFLIGHT`, `BLAIGENT_MAX_QUEUE`,
/// `BLAIGENT_QUEUE_TIMEOUT_MS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverloadSettings {
    /// Chat turns running at once. The default (64) keeps both cores of a small machine busy
    /// while a turn waits on the database or a model, without letting memory follow traffic.
    pub max_inflight: usize,
    /// Chat requests waiting for a slot; past it, 503 at once.
    pub max_queue: usize,
    /// Longest wait for a slot before a queued request gets its 503.
    pub queue_timeout: Duration,
    /// The `Retry-After` of a refused request, in seconds.
    pub retry_after_secs: u64,
}

impl Default for OverloadSettings {
    fn default() -> Self {
        OverloadSettings {
            max_inflight: 64,
            max_queue: 256,
            queue_timeout: Duration::from_secs(5),
            retry_after_secs: 1,
        }
    }
}

impl OverloadSettings {
    /// Applies the `BLAIGENT_MAX_INFLIGHT`, `BLAIGENT_MAX_QUEUE` and
    /// `BLAIGENT_QUEUE_TIMEOUT_MS` variables read through `env`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let number = |name: &str| -> anyhow::Result<Option<u64>> {
            env(name)
                .map(|raw| {
                    raw.trim()
                        .parse::<u64>()
                        .with_context(|| format!("{name} must be a whole number (got '{raw}')"))
                })
                .transpose()
        };
        if let Some(n) = number("BLAIGENT_MAX_INFLIGHT")? {
            if n == 0 || n > 100_000 {
                bail!("BLAIGENT_MAX_INFLIGHT must be between 1 and 100000 (got {n})");
            }
            self.max_inflight = n as usize;
        }
        if let Some(n) = number("BLAIGENT_MAX_QUEUE")? {
            if n > 1_000_000 {
                bail!("BLAIGENT_MAX_QUEUE must be at most 1000000 (got {n})");
            }
            self.max_queue = n as usize;
        }
        if let Some(n) = number("BLAIGENT_QUEUE_TIMEOUT_MS")? {
            self.queue_timeout = Duration::from_millis(n);
        }
        Ok(())
    }
}

/// The shared counters of one server.
#[derive(Debug, Clone)]
pub struct Overload {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    settings: Arc<OverloadSettings>,
}

impl Overload {
    pub fn new(settings: &OverloadSettings) -> Self {
        Overload {
            slots: Arc::new(Semaphore::new(settings.max_inflight)),
            waiting: Arc::new(AtomicUsize::new(0)),
            settings: Arc::new(settings.clone()),
        }
    }
}

/// Whether `path` is a chat turn (what this layer bounds).
pub fn is_guarded(path: &str) -> bool {
    path.starts_with("/api/v1/agents/")
        || (path.starts_with("/api/v1/widget/") && path.ends_with("/chat"))
}

/// Counts a waiting request for as long as it lives, even when its client goes away.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The middleware: runs a chat request when a slot is free (or frees up in time), else 503.
pub async fn limit(State(guard): State<Overload>, req: Request, next: Next) -> Response {
    if !is_guarded(req.uri().path()) {
        return next.run(req).await;
    }
    let permit = match guard.slots.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            if guard.waiting.fetch_add(1, Ordering::AcqRel) >= guard.settings.max_queue {
                guard.waiting.fetch_sub(1, Ordering::AcqRel);
                return busy(&guard.settings, "the queue is full");
            }
            let _waiting = Waiting(&guard.waiting);
            match tokio::time::timeout(
                guard.settings.queue_timeout,
                guard.slots.clone().acquire_owned(),
            )
            .await
            {
                Ok(Ok(permit)) => permit,
                _ => return busy(&guard.settings, "no slot freed up in time"),
            }
        }
    };
    let response = next.run(req).await;
    if is_event_stream(&response) {
        return response.map(|body| hold_until_sent(body, permit));
    }
    drop(permit);
    response
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// `body`, holding `permit` until the last piece is sent or the body is dropped (the client
/// went away).
fn hold_until_sent(body: Body, permit: OwnedSemaphorePermit) -> Body {
    Body::from_stream(body.into_data_stream().map(move |piece| {
        let _slot = &permit;
        piece
    }))
}

fn busy(settings: &OverloadSettings, why: &str) -> Response {
    tracing::warn!(
        why,
        max_inflight = settings.max_inflight,
        max_queue = settings.max_queue,
        "chat request shed: the server is at capacity"
    );
    let mut response = detail(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the server is at capacity; retry in {} s",
            settings.retry_after_secs
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(settings.retry_after_secs.max(1)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::sse::{Event, Sse};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    /// A router whose chat route streams one event, then waits for `release` before ending;
    /// the overload layer allows one turn and no queue.
    fn streaming_chat(release: Arc<tokio::sync::Notify>) -> Router {
        let guard = Overload::new(&OverloadSettings {
            max_inflight: 1,
            max_queue: 0,
            ..OverloadSettings::default()
        });
        let chat = move || {
            let release = release.clone();
            async move {
                let events = futures::stream::once(async { Event::default().data("piece") })
                    .chain(futures::stream::once(async move {
                        release.notified().await;
                        Event::default().event("final").data("{}")
                    }))
                    .map(Ok::<_, std::convert::Infallible>);
                Sse::new(events).into_response()
            }
        };
        Router::new()
            .route("/api/v1/agents/customer-service/chat", get(chat))
            .layer(axum::middleware::from_fn_with_state(guard, limit))
    }

    fn chat_request() -> Request {
        Request::builder()
            .uri("/api/v1/agents/customer-service/chat")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_streamed_answer_keeps_its_slot_until_the_stream_ends() {
        let release = Arc::new(tokio::sync::Notify::new());
        let app = streaming_chat(release.clone());
        let streaming = app.clone().oneshot(chat_request()).await.unwrap();
        assert_eq!(streaming.status(), StatusCode::OK);
        // The headers are out and the turn still runs: the next chat finds no slot.
        let refused = app.clone().oneshot(chat_request()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        release.notify_one();
        let body = axum::body::to_bytes(streaming.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("event: final"));
        let next = app.clone().oneshot(chat_request()).await.unwrap();
        assert_eq!(next.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_client_leaving_a_stream_gives_its_slot_back() {
        let app = streaming_chat(Arc::new(tokio::sync::Notify::new()));
        let streaming = app.clone().oneshot(chat_request()).await.unwrap();
        assert_eq!(streaming.status(), StatusCode::OK);
        drop(streaming);
        let next = app.clone().oneshot(chat_request()).await.unwrap();
        assert_eq!(next.status(), StatusCode::OK);
    }

    #[test]
    fn only_chat_turns_are_guarded() {
        assert!(is_guarded("/api/v1/agents/customer-service/chat"));
        assert!(is_guarded("/api/v1/agents/customer-service/chat/stream"));
        assert!(is_guarded("/api/v1/widget/org_1/chat"));
        assert!(!is_guarded("/api/v1/widget/org_1/config"));
        assert!(!is_guarded("/api/v1/conversations"));
        assert!(!is_guarded("/readyz"));
    }

    #[test]
    fn settings_come_from_the_environment_with_their_names_in_errors() {
        let mut settings = OverloadSettings::default();
        settings
            .apply_env(|name| match name {
                "BLAIGENT_MAX_INFLIGHT" => Some("4".into()),
                "BLAIGENT_QUEUE_TIMEOUT_MS" => Some("250".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(settings.max_inflight, 4);
        assert_eq!(settings.max_queue, 256);
        assert_eq!(settings.queue_timeout, Duration::from_millis(250));
        let err = settings
            .apply_env(|name| (name == "BLAIGENT_MAX_INFLIGHT").then(|| "0".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("BLAIGENT_MAX_INFLIGHT"), "{err}");
    }
}
