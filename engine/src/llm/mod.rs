//! Language models: the [`ChatModel`] seam, one implementation per vendor wire format
//! ([`openai`]: any OpenAI-compatible chat-completions endpoint), and the [`prompt`] built from
//! agent configuration, memory and numbered passages.
//!
//! A model is optional: without one the offline grounded responder answers. With one, any
//! transient failure (timeout, connection error, 5xx, 429) falls back to the offline responder;
//! the customer never sees the error.

pub mod openai;
pub mod prompt;

use async_trait::async_trait;
use tokio::sync::mpsc;

/// One chat request: the system prompt and the user turn (history and message as data).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub system: String,
    pub user: String,
}

/// A model failure, saying whether retrying (or falling back) makes sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// Timeouts, connection failures, 5xx and 429: the model may work again later.
    #[error("transient model error: {0}")]
    Transient(String),
    /// Bad request, authentication, unknown model: retrying cannot help.
    #[error("permanent model error: {0}")]
    Permanent(String),
}

/// A chat model. Object-safe; held as `Arc<dyn ChatModel>`.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The model name sent to the endpoint (for logs).
    fn model_name(&self) -> &str;

    /// Returns the whole answer.
    async fn complete(&self, request: &ChatRequest) -> Result<String, ModelError>;

    /// Streams the answer: each text delta is sent on `deltas` as it arrives; returns the whole
    /// answer at the end. A closed receiver does not stop the generation.
    async fn stream(
        &self,
        request: &ChatRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<String, ModelError>;
}
