//! The dispatcher: a background task that claims due deliveries and POSTs them.
//!
//! It wakes when an event is committed in this process ([`signal`]), when one of its own
//! deliveries finishes (the next event of that conversation may now go), and at every
//! `poll_interval` (retries coming due, events written by other replicas). Claims are made
//! only for free capacity (`max_in_flight`), and each endpoint gets at most
//! `per_endpoint_concurrency` requests at once from this process.
//!
//! Outcomes go to one writer task that records everything finished meanwhile in a single
//! transaction: one commit per batch rather than per delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinSet;

use super::signing::{
    self, HEADER_ATTEMPT, HEADER_EVENT, HEADER_EVENT_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use super::{UrlGuard, WebhookSettings};
use crate::error::{Result, ResultExt};
use crate::events::signal;
use crate::ssrf::GuardedResolver;
use crate::store::events::{AttemptOutcome, ClaimedDelivery};
use crate::store::{now_ms, Store};

/// How many bytes of a response the delivery log keeps.
pub const EXCERPT_BYTES: usize = 512;

/// Most deliveries claimed by one query.
const CLAIM_BATCH: usize = 64;

/// Most outcomes recorded by one transaction.
const COMPLETE_BATCH: usize = 128;

type Finished = (ClaimedDelivery, AttemptOutcome);

/// Delivers webhooks until its task is dropped or aborted.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Store,
    settings: WebhookSettings,
    guard: UrlGuard,
    client: reqwest::Client,
    /// One semaphore per endpoint id, created on first use.
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Signalled whenever finished deliveries are recorded.
    finished: Notify,
}

impl Dispatcher {
    /// Builds a dispatcher with its own HTTP client: no proxy, no redirects, the settings'
    /// timeout, and every name resolved through the SSRF guard.
    pub fn new(store: Store, settings: WebhookSettings) -> Result<Dispatcher> {
        let guard = settings.guard();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Blaigent-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .pool_max_idle_per_host(settings.per_endpoint_concurrency)
            .build()
            .or_internal("building the webhook HTTP client")?;
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                store,
                settings,
                guard,
                client,
                endpoints: Mutex::new(HashMap::new()),
                finished: Notify::new(),
            }),
        })
    }

    /// Starts the dispatcher on the runtime. Aborting the returned handle stops it and every
    /// delivery in flight (their claims are taken over once their lease runs out).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    /// Runs the dispatch loop forever.
    #[tracing::instrument(name = "webhook_dispatcher", skip_all)]
    pub async fn run(self) {
        let inner = self.inner;
        let mut committed = signal::subscribe();
        let capacity = Arc::new(Semaphore::new(inner.settings.max_in_flight.max(1)));
        let lease_ms = i64::try_from(inner.settings.lease().as_millis()).unwrap_or(i64::MAX);
        let mut tasks = JoinSet::new();
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Finished>();
        // Lives in `tasks`' sibling set so aborting the dispatcher aborts the writer too.
        let mut writer = JoinSet::new();
        writer.spawn(record_outcomes(inner.clone(), done_rx));
        tracing::info!("webhook dispatcher started");
        loop {
            while tasks.try_join_next().is_some() {}
            let free = capacity.available_permits().min(CLAIM_BATCH);
            let mut full_batch = false;
            if free > 0 {
                match inner.store.claim_deliveries(free as i64, lease_ms).await {
                    Ok(claimed) => {
                        full_batch = claimed.len() == free;
                        for delivery in claimed {
                            let Ok(permit) = capacity.clone().try_acquire_owned() else {
                                break;
                            };
                            let inner = inner.clone();
                            let done = done_tx.clone();
                            tasks.spawn(async move {
                                let outcome = inner.deliver(&delivery).await;
                                // Until the writer records it, the delivery stays claimed
                                // (its lease), so freeing capacity now cannot resend it.
                                drop(permit);
                                let _ = done.send((delivery, outcome));
                            });
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err.chain(), "claiming webhook deliveries failed");
                    }
                }
            }
            if full_batch {
                continue;
            }
            tokio::select! {
                _ = committed.changed() => {}
                _ = inner.finished.notified() => {}
                _ = tokio::time::sleep(inner.settings.poll_interval) => {}
            }
        }
    }
}

/// Records outcomes as they come, each batch in one transaction, then wakes the claim loop
/// (the next event of a conversation may now go). A batch that fails to record is logged:
/// its leases run out and the deliveries are sent again with the same event ids.
async fn record_outcomes(inner: Arc<Inner>, mut done: mpsc::UnboundedReceiver<Finished>) {
    let disable_after = i64::try_from(inner.settings.disable_after.as_millis()).unwrap_or(i64::MAX);
    let mut batch = Vec::with_capacity(COMPLETE_BATCH);
    while done.recv_many(&mut batch, COMPLETE_BATCH).await > 0 {
        if let Err(err) = inner.store.complete_deliveries(&batch, disable_after).await {
            tracing::error!(error = %err.chain(), count = batch.len(), "recording webhook attempts failed");
        }
        batch.clear();
        inner.finished.notify_one();
    }
}

impl Inner {
    /// Sends one delivery when its endpoint has a free slot.
    #[tracing::instrument(skip_all, fields(delivery = %delivery.id, webhook = %delivery.webhook_id, attempt = delivery.attempts))]
    async fn deliver(&self, delivery: &ClaimedDelivery) -> AttemptOutcome {
        let semaphore = self.endpoint_semaphore(&delivery.webhook_id);
        let _turn = semaphore.acquire_owned().await;
        let outcome = self.send(delivery).await;
        tracing::debug!(status = ?outcome.status_code, ok = outcome.succeeded, "webhook attempt");
        outcome
    }

    fn endpoint_semaphore(&self, webhook: &str) -> Arc<Semaphore> {
        let mut endpoints = self
            .endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        endpoints
            .entry(webhook.to_owned())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.settings.per_endpoint_concurrency.max(1),
                ))
            })
            .clone()
    }

    /// POSTs the stored body with fresh signature headers and classifies the answer.
    async fn send(&self, delivery: &ClaimedDelivery) -> AttemptOutcome {
        let started = Instant::now();
        let failed = |error: String, status_code: Option<u16>, excerpt: Option<String>| {
            self.failure(delivery, started, status_code, Some(error), excerpt)
        };
        // Address literals never reach the resolver, so they are checked here.
        if let Err(err) = self.guard.check_url(&delivery.url) {
            return failed(format!("blocked: {}", err.message()), None, None);
        }
        let now_ms = now_ms();
        let timestamp = now_ms.div_euclid(1000);
        let mut secrets = vec![delivery.secret.as_str()];
        if let (Some(previous), Some(until)) = (
            &delivery.previous_secret,
            delivery.previous_secret_expires_at,
        ) {
            if until > now_ms {
                secrets.push(previous.as_str());
            }
        }
        let body = delivery.payload.as_bytes();
        let request = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_EVENT_ID, &delivery.event_id)
            .header(HEADER_EVENT, &delivery.event_type)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(
                HEADER_SIGNATURE,
                signing::signature_header(&secrets, timestamp, body),
            )
            .header(HEADER_ATTEMPT, delivery.attempts.to_string())
            .body(delivery.payload.clone());
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return failed(describe_error(&err, self.settings.timeout), None, None),
        };
        let status = response.status();
        let excerpt = read_excerpt(response).await;
        if status.is_success() {
            return AttemptOutcome {
                status_code: Some(status.as_u16()),
                error: None,
                latency_ms: elapsed_ms(started),
                response_excerpt: excerpt,
                succeeded: true,
                next_attempt_at: None,
                disable_reason: None,
            };
        }
        let mut outcome = failed(format!("HTTP {status}"), Some(status.as_u16()), excerpt);
        if status == reqwest::StatusCode::GONE {
            outcome.disable_reason =
                Some("disabled because the endpoint answered 410 Gone".to_owned());
        }
        outcome
    }

    fn failure(
        &self,
        delivery: &ClaimedDelivery,
        started: Instant,
        status_code: Option<u16>,
        error: Option<String>,
        response_excerpt: Option<String>,
    ) -> AttemptOutcome {
        let next_attempt_at = self
            .settings
            .schedule
            .delay_after(delivery.attempts)
            .map(|delay| now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2));
        AttemptOutcome {
            status_code,
            error,
            latency_ms: elapsed_ms(started),
            response_excerpt,
            succeeded: false,
            next_attempt_at,
            disable_reason: None,
        }
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Reads at most [`EXCERPT_BYTES`] of the body, cut at a character boundary.
async fn read_excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    if bytes.is_empty() {
        return None;
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            String::from_utf8_lossy(&err.into_bytes()[..valid]).into_owned()
        }
    };
    Some(text)
}

/// A one-line reason for a request that got no response.
fn describe_error(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let mut text = if err.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(300).collect()
}
