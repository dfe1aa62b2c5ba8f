//! Streaming chat: `POST /api/v1/agents/customer-service/chat` with `Accept: text/event-stream`
//! or `"stream": true` answers with server-sent events instead of one JSON body:
//!
//! - `event: sentence` / `event: delta`, data `{"text": "..."}`: the answer's pieces as they are
//!   ready (sentences from the offline responder; a model's token deltas, released sentence by
//!   sentence once grounded);
//! - `event: final`, data: the full response object of the JSON endpoint (authoritative: it is
//!   channel-shaped and what was stored);
//! - `event: error`, data `{"detail": "..."}` when the turn failed after the stream started.
//!
//! The turn runs through the same chat service as the JSON endpoint (validation, quota,
//! persistence); only the agent call streams. Input errors found before the agent runs are
//! still plain HTTP errors.

use std::convert::Infallible;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use engine::agent::{Agent, Reply, StreamEvent, Turn};
use engine::error::Result;
use engine::service::chat::{self, ChatCaller, ChatInput, ChatOutcome, TurnHandler};
use futures::future::BoxFuture;
use futures::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use super::chat::{ActionBody, ChatResponse, CitationBody};
use crate::error::ApiResult;
use crate::state::AppState;

/// Tells whether the client asked for a stream (the `Accept` header or the body flag).
pub fn wants_stream(headers: &HeaderMap, stream_flag: Option<bool>) -> bool {
    if let Some(flag) = stream_flag {
        return flag;
    }
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// Runs the agent's streaming variant and forwards its events.
struct StreamingTurns {
    agent: Arc<Agent>,
    events: mpsc::Sender<StreamEvent>,
}

impl TurnHandler for StreamingTurns {
    fn handle<'a>(&'a self, turn: &'a Turn) -> BoxFuture<'a, Result<Reply>> {
        Box::pin(self.agent.handle_streaming(turn, self.events.clone()))
    }
}

/// The JSON endpoint's response object for a finished turn.
pub fn response_body(outcome: ChatOutcome) -> ChatResponse {
    let reply = outcome.reply;
    ChatResponse {
        response: reply.response,
        intent: reply.intent,
        confidence: reply.confidence,
        session_id: outcome.conversation_id.to_string(),
        conversation_id: outcome.conversation_id.into_string(),
        message_id: outcome.message_id.into_string(),
        language: reply.language,
        citations: reply
            .citations
            .into_iter()
            .map(|c| CitationBody {
                document_id: c.document_id.into_string(),
                title: c.title,
                url: c.url,
                snippet: c.snippet,
            })
            .collect(),
        handoff: reply.handoff,
        handoff_reason: reply.handoff_reason,
        actions: reply
            .actions
            .into_iter()
            .map(|a| ActionBody {
                name: a.name,
                status: a.status,
                detail: a.detail,
            })
            .collect(),
        flags: reply.flags,
    }
}

fn piece(event: StreamEvent) -> Event {
    let (name, text) = match event {
        StreamEvent::Sentence(text) => ("sentence", text),
        StreamEvent::Delta(text) => ("delta", text),
    };
    Event::default()
        .event(name)
        .data(json!({ "text": text }).to_string())
}

/// The stream's last event: `final` with the stored reply, or `error`.
async fn final_event(done: oneshot::Receiver<Result<ChatOutcome>>) -> Event {
    match done.await {
        Ok(Ok(outcome)) => {
            let body = response_body(outcome);
            let data = serde_json::to_string(&body)
                .unwrap_or_else(|_| json!({"detail": "could not encode the reply"}).to_string());
            Event::default().event("final").data(data)
        }
        Ok(Err(e)) => {
            if e.kind() == engine::ErrorKind::Internal {
                tracing::error!(error = ?e, "a streamed chat turn failed");
            }
            let detail = match e.kind() {
                engine::ErrorKind::Internal => "something went wrong".to_string(),
                _ => e.message().to_string(),
            };
            Event::default()
                .event("error")
                .data(json!({ "detail": detail }).to_string())
        }
        Err(_) => Event::default()
            .event("error")
            .data(json!({"detail": "something went wrong"}).to_string()),
    }
}

/// Streams one chat turn as server-sent events.
#[tracing::instrument(skip_all)]
pub async fn stream_message(
    state: AppState,
    caller: ChatCaller,
    input: ChatInput,
) -> ApiResult<Response> {
    // Bad input, another organization or an unknown session is a plain HTTP error, as on
    // the JSON endpoint, before the stream's `200` goes out.
    chat::preflight(&state.store, &caller, &input).await?;
    let (events_tx, events_rx) = mpsc::channel::<StreamEvent>(64);
    let (done_tx, done_rx) = oneshot::channel::<Result<ChatOutcome>>();
    let handler = StreamingTurns {
        agent: state.agent.clone(),
        events: events_tx,
    };
    let store = state.store.clone();
    // The turn runs, and the stream ends, after this handler has returned: both carry the
    // request's span along so their log lines keep the request id and organization.
    let span = tracing::Span::current();
    tokio::spawn(
        async move {
            let outcome = chat::chat(&store, &handler, &caller, input).await;
            // Closing the event channel first lets the stream end its pieces before `final`.
            drop(handler);
            let _ = done_tx.send(outcome);
        }
        .instrument(span.clone()),
    );
    let pieces = ReceiverStream::new(events_rx).map(piece);
    let last = stream::once(final_event(done_rx).instrument(span));
    let events: std::pin::Pin<
        Box<dyn Stream<Item = std::result::Result<Event, Infallible>> + Send>,
    > = Box::pin(pieces.chain(last).map(Ok));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_accept_header_or_the_body_flag_asks_for_a_stream() {
        let mut headers = HeaderMap::new();
        assert!(!wants_stream(&headers, None));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        assert!(wants_stream(&headers, None));
        assert!(!wants_stream(&headers, Some(false)));
        assert!(wants_stream(&HeaderMap::new(), Some(true)));
    }
}
