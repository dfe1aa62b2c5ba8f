//! [`TracedModel`]: a [`ChatModel`] decorator that notes every request and its response (or
//! error) in the turn recorder ([`crate::agent::recorder`]) when the turn is being recorded.
//! [`crate::agent::Agent::with_model`] wraps every model in it, so recording sees the answer
//! route, the tool choice of the action stage and the result summaries alike; outside a
//! recording it only forwards.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{ChatModel, ChatRequest, ModelError, ToolCall, ToolRequest};
use crate::agent::recorder;
use crate::agent::trace::{ModelCall, ModelCallError, ModelCallKind, RecordedToolCall};

/// Forwards to `inner`, noting each call while a turn is recorded.
pub struct TracedModel {
    inner: Arc<dyn ChatModel>,
}

impl TracedModel {
    pub fn new(inner: Arc<dyn ChatModel>) -> Self {
        Self { inner }
    }
}

fn error(e: &ModelError) -> ModelCallError {
    match e {
        ModelError::Transient(m) => ModelCallError {
            transient: true,
            message: m.clone(),
        },
        ModelError::Permanent(m) => ModelCallError {
            transient: false,
            message: m.clone(),
        },
    }
}

fn note(kind: ModelCallKind, request: &ChatRequest, result: &Result<String, ModelError>) {
    if !recorder::is_recording() {
        return;
    }
    recorder::note_model_call(ModelCall {
        kind,
        system: request.system.clone(),
        user: request.user.clone(),
        tools: Vec::new(),
        response: result.as_ref().ok().cloned(),
        tool_call: None,
        error: result.as_ref().err().map(error),
    });
}

#[async_trait]
impl ChatModel for TracedModel {
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<String, ModelError> {
        let result = self.inner.complete(request).await;
        note(ModelCallKind::Complete, request, &result);
        result
    }

    async fn stream(
        &self,
        request: &ChatRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<String, ModelError> {
        let result = self.inner.stream(request, deltas).await;
        note(ModelCallKind::Stream, request, &result);
        result
    }

    async fn choose_tool(&self, request: &ToolRequest) -> Result<Option<ToolCall>, ModelError> {
        let result = self.inner.choose_tool(request).await;
        if recorder::is_recording() {
            recorder::note_model_call(ModelCall {
                kind: ModelCallKind::ChooseTool,
                system: request.system.clone(),
                user: request.user.clone(),
                tools: request.tools.iter().map(|t| t.name.clone()).collect(),
                response: None,
                tool_call: result.as_ref().ok().and_then(|call| {
                    call.as_ref().map(|c| RecordedToolCall {
                        name: c.name.clone(),
                        arguments: c.arguments.clone(),
                    })
                }),
                error: result.as_ref().err().map(error),
            });
        }
        result
    }
}
