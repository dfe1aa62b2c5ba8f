//! Streaming: what [`super::Agent::handle_streaming`] sends while a turn is being answered.
//!
//! The offline responder sends the answer's sentences; the model path sends the model's token
//! deltas, but only once the sentence they belong to has passed the grounding and leak checks
//! (so nothing unsupported ever reaches the customer, at the cost of one sentence of latency).
//! The final reply (authoritative, channel-shaped) is returned by the call itself.

use serde::Serialize;
use tokio::sync::mpsc;

/// One streamed piece of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "text", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A whole sentence (offline responder, canned replies).
    Sentence(String),
    /// A piece of a model's answer, as the model produced it.
    Delta(String),
}

/// Where streamed events go; `None` when the caller does not stream.
pub type EventSink = Option<mpsc::Sender<StreamEvent>>;

/// Sends `event` when streaming; a receiver that went away is not an error (the turn still
/// completes and is stored).
pub async fn emit(sink: &EventSink, event: StreamEvent) {
    if let Some(tx) = sink {
        let _ = tx.send(event).await;
    }
}
