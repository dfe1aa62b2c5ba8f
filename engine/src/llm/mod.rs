//! Language models: the [`ChatModel`] seam, one implementation per vendor wire format
//! ([`openai`]: any OpenAI-compatible chat-completions endpoint), and the [`prompt`] built from
//! agent configuration, memory and numbered passages; [`traced`] notes calls for turn recording.
//!
//! A model is optional: without one the offline grounded responder answers. With one, any
//! transient failure (timeout, connection error, 5xx, 429) falls back to the offline responder;
//! the customer never sees the error.

pub mod openai;
mod openai_tools;
pub mod prompt;
pub mod traced;

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

    /// Offers `request.tools` to the model and returns the tool call it made, if any (action
    /// hooks, see `crate::actions::tools`). Models without tool calling say so.
    async fn choose_tool(&self, request: &ToolRequest) -> Result<Option<ToolCall>, ModelError> {
        let _ = request;
        Err(ModelError::Permanent(
            "this model does not support tool calling".into(),
        ))
    }
}

/// A function the model may call: its name, what it does, and a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// A request that offers tools.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRequest {
    pub system: String,
    pub user: String,
    pub tools: Vec<ToolSpec>,
}

/// A tool call as the model wrote it: the arguments are raw text, which may not even be JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
}
