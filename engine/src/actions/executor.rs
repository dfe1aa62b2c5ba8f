//! The call to an organization's backend.
//!
//! One JSON body, the same bytes on every attempt:
//! `{"action", "parameters", "organization_id", "customer_id", "conversation_id", "metadata",
//! "idempotency_key", "test"}`. Headers: `Idempotency-Key` (the same on every retry, and when
//! a confirmed write is confirmed again after a crash, so a backend that honours it never
//! refunds twice), `Blaigent-Action`,
//! `Blaigent-Attempt`, and when the action has a signing secret `Blaigent-Timestamp` plus
//! `Blaigent-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`, the scheme of the
//! webhooks ([`crate::webhooks::signing`]); a bearer token when one is set.
//!
//! Each attempt is bounded by the action's timeout. Only safe calls are retried (reads, and
//! writes whose backend honours the idempotency key), once, after a timeout, a connection
//! failure, a 5xx or a 429. Redirects are never followed and every address passes the SSRF
//! guard at connection time.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::spec::{Action, ActionSecrets};
use crate::error::{Error, Result};
use crate::ssrf::GuardedResolver;
use crate::webhooks::signing;
use crate::webhooks::UrlGuard;

/// Header names, as sent.
pub const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const HEADER_ACTION: &str = "Blaigent-Action";
pub const HEADER_ATTEMPT: &str = "Blaigent-Attempt";
/// Attempts for a call that is safe to repeat.
const SAFE_ATTEMPTS: u32 = 2;
/// Pause before a retry.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Largest response body read, in bytes; the rest is ignored.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Who and what a call is for.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    pub organization_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub conversation_id: Option<&'a str>,
    pub metadata: &'a Map<String, Value>,
    pub idempotency_key: &'a str,
    /// A call from the dashboard's test mode.
    pub test: bool,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Succeeded,
    Failed,
    Timeout,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Succeeded => "succeeded",
            CallStatus::Failed => "failed",
            CallStatus::Timeout => "timeout",
        }
    }
}

/// The exchange with the backend.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub status: CallStatus,
    pub http_status: Option<u16>,
    /// The response body as JSON (`Null` when empty or not JSON).
    pub response: Value,
    /// The response body as text (at most 64 KiB), for the test mode.
    pub response_text: Option<String>,
    pub latency_ms: i64,
    pub attempts: u32,
    /// What went wrong, for the audit log (never shown to customers).
    pub error: Option<String>,
    /// The body sent.
    pub request_body: Value,
    /// The headers sent on the last attempt (the bearer token masked).
    pub request_headers: Vec<(String, String)>,
}

/// Calls backends. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Executor {
    client: reqwest::Client,
    guard: UrlGuard,
}

impl Executor {
    /// A client whose connections pass `guard`.
    pub fn new(guard: UrlGuard) -> Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve and connect in the guard's place.
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(GuardedResolver::new(guard.clone())))
            .connect_timeout(Duration::from_secs(5))
            .user_agent("Blaigent-Actions/1")
            .build()
            .map_err(|e| {
                Error::internal("could not build the action HTTP client").with_source(e)
            })?;
        Ok(Self { client, guard })
    }

    /// Calls `action` with `parameters`; never fails: every problem is in the outcome.
    #[tracing::instrument(skip_all, fields(action = %action.name, test = context.test))]
    pub async fn call(
        &self,
        action: &Action,
        secrets: &ActionSecrets,
        parameters: &Map<String, Value>,
        context: &CallContext<'_>,
    ) -> CallOutcome {
        let body_json = json!({
            "action": action.name,
            "parameters": parameters,
            "organization_id": context.organization_id,
            "customer_id": context.customer_id,
            "conversation_id": context.conversation_id,
            "metadata": context.metadata,
            "idempotency_key": context.idempotency_key,
            "test": context.test,
        });
        let body = body_json.to_string().into_bytes();
        let started = Instant::now();
        let max_attempts = if action.retry_safe() {
            SAFE_ATTEMPTS
        } else {
            1
        };
        let mut outcome = CallOutcome {
            status: CallStatus::Failed,
            http_status: None,
            response: Value::Null,
            response_text: None,
            latency_ms: 0,
            attempts: 0,
            error: None,
            request_body: body_json.clone(),
            request_headers: Vec::new(),
        };
        if let Err(e) = self.guard.check_url(&action.url) {
            outcome.error = Some(e.message().to_string());
            return outcome;
        }
        for attempt in 1..=max_attempts {
            outcome.attempts = attempt;
            let headers = headers(action, secrets, context, attempt, &body);
            outcome.request_headers = headers
                .iter()
                .map(|(k, v)| {
                    let shown = if k == "Authorization" {
                        "Bearer ***".to_string()
                    } else {
                        v.clone()
                    };
                    (k.clone(), shown)
                })
                .collect();
            let method = reqwest::Method::from_bytes(action.method.as_bytes())
                .unwrap_or(reqwest::Method::POST);
            let mut request = self
                .client
                .request(method, &action.url)
                .timeout(Duration::from_millis(action.timeout_ms.max(1) as u64))
                .header("Content-Type", "application/json")
                .body(body.clone());
            for (k, v) in &headers {
                request = request.header(k.as_str(), v.as_str());
            }
            let retry = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    outcome.http_status = Some(status.as_u16());
                    match read_body(response).await {
                        Ok(text) => {
                            outcome.response = serde_json::from_str(&text).unwrap_or(Value::Null);
                            outcome.response_text = Some(text);
                            if status.is_success() {
                                outcome.status = CallStatus::Succeeded;
                                outcome.error = None;
                                false
                            } else {
                                outcome.status = CallStatus::Failed;
                                outcome.error = Some(format!("the backend answered {status}"));
                                status.is_server_error() || status.as_u16() == 429
                            }
                        }
                        Err(e) if e.is_timeout() => {
                            outcome.status = CallStatus::Timeout;
                            outcome.error =
                                Some("the backend's answer did not arrive in time".into());
                            true
                        }
                        Err(e) => {
                            outcome.status = CallStatus::Failed;
                            outcome.error =
                                Some(format!("reading the backend's answer failed: {e}"));
                            true
                        }
                    }
                }
                Err(e) if e.is_timeout() => {
                    outcome.http_status = None;
                    outcome.status = CallStatus::Timeout;
                    outcome.error = Some(format!(
                        "the backend did not answer within {} ms",
                        action.timeout_ms
                    ));
                    true
                }
                Err(e) => {
                    outcome.http_status = None;
                    outcome.status = CallStatus::Failed;
                    outcome.error =
                        Some(format!("could not reach the backend: {}", error_chain(&e)));
                    true
                }
            };
            if !retry || attempt == max_attempts {
                break;
            }
            tracing::info!(attempt, error = ?outcome.error, "retrying the action call");
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        outcome.latency_ms = started.elapsed().as_millis() as i64;
        crate::agent::recorder::note_action_call(&action.name, parameters, &outcome);
        tracing::info!(
            status = outcome.status.as_str(),
            http_status = outcome.http_status,
            attempts = outcome.attempts,
            latency_ms = outcome.latency_ms,
            "action called"
        );
        outcome
    }
}

fn headers(
    action: &Action,
    secrets: &ActionSecrets,
    context: &CallContext<'_>,
    attempt: u32,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut out = vec![
        (
            HEADER_IDEMPOTENCY_KEY.to_string(),
            context.idempotency_key.to_string(),
        ),
        (HEADER_ACTION.to_string(), action.name.clone()),
        (HEADER_ATTEMPT.to_string(), attempt.to_string()),
    ];
    if let Some(secret) = &secrets.signing_secret {
        let timestamp = crate::store::now_ms() / 1000;
        out.push((signing::HEADER_TIMESTAMP.to_string(), timestamp.to_string()));
        out.push((
            signing::HEADER_SIGNATURE.to_string(),
            signing::signature_header(&[secret.as_str()], timestamp, body),
        ));
    }
    if let Some(token) = &secrets.bearer_token {
        out.push(("Authorization".to_string(), format!("Bearer {token}")));
    }
    out
}

async fn read_body(response: reqwest::Response) -> std::result::Result<String, reqwest::Error> {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = MAX_RESPONSE_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
