//! The replay language model: answers each call of a replayed turn with the recorded response
//! of the call with the same index, so a replay never depends on a live (and drifting) model.
//! The requests themselves are not matched: the replayed trace records them and
//! `engine::agent::trace::changes` reports a different prompt as a `model` change.
//!
//! A call beyond the recorded ones, or of another kind than the recorded call at its index,
//! fails transiently (the agent falls back to the offline responder, and the replay reports
//! the difference).

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use engine::agent::trace::{ModelCall, ModelCallKind};
use engine::llm::{ChatModel, ChatRequest, ModelError, ToolCall, ToolRequest};
use tokio::sync::mpsc;

/// Serves recorded responses in order; [`ReplayModel::load`] sets them per turn.
#[derive(Debug, Default)]
pub struct ReplayModel {
    calls: Mutex<VecDeque<ModelCall>>,
}

impl ReplayModel {
    /// The responses of the next turn's calls, in order (replacing what is left).
    pub fn load(&self, calls: Vec<ModelCall>) {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner()) = calls.into();
    }

    /// The next recorded call, when it is of `kind`.
    fn next(&self, kind: ModelCallKind) -> Result<ModelCall, ModelError> {
        let call = self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .ok_or_else(|| {
                ModelError::Transient("replay: no recorded model response for this call".into())
            })?;
        if call.kind != kind {
            return Err(ModelError::Transient(format!(
                "replay: the recorded call at this index was {:?}, not {kind:?}",
                call.kind
            )));
        }
        if let Some(error) = &call.error {
            return Err(if error.transient {
                ModelError::Transient(error.message.clone())
            } else {
                ModelError::Permanent(error.message.clone())
            });
        }
        Ok(call)
    }
}

#[async_trait]
impl ChatModel for ReplayModel {
    fn model_name(&self) -> &str {
        "replay"
    }

    async fn complete(&self, _request: &ChatRequest) -> Result<String, ModelError> {
        Ok(self
            .next(ModelCallKind::Complete)?
            .response
            .unwrap_or_default())
    }

    async fn stream(
        &self,
        _request: &ChatRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<String, ModelError> {
        let text = self
            .next(ModelCallKind::Stream)?
            .response
            .unwrap_or_default();
        // A closed receiver does not stop the generation (the trait's contract).
        let _ = deltas.send(text.clone()).await;
        Ok(text)
    }

    async fn choose_tool(&self, _request: &ToolRequest) -> Result<Option<ToolCall>, ModelError> {
        Ok(self
            .next(ModelCallKind::ChooseTool)?
            .tool_call
            .map(|c| ToolCall {
                name: c.name,
                arguments: c.arguments,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::agent::trace::ModelCallError;

    fn call(kind: ModelCallKind, response: &str) -> ModelCall {
        ModelCall {
            kind,
            system: String::new(),
            user: String::new(),
            tools: vec![],
            response: Some(response.into()),
            tool_call: None,
            error: None,
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            system: "s".into(),
            user: "u".into(),
        }
    }

    #[tokio::test]
    async fn recorded_responses_come_back_in_order_then_run_out() {
        let model = ReplayModel::default();
        model.load(vec![
            call(ModelCallKind::Complete, "one"),
            call(ModelCallKind::Complete, "two"),
        ]);
        assert_eq!(model.complete(&request()).await, Ok("one".to_string()));
        assert_eq!(model.complete(&request()).await, Ok("two".to_string()));
        assert!(matches!(
            model.complete(&request()).await,
            Err(ModelError::Transient(_))
        ));
    }

    #[tokio::test]
    async fn a_recorded_failure_and_a_kind_mismatch_fail_the_call() {
        let model = ReplayModel::default();
        let mut failed = call(ModelCallKind::Complete, "");
        failed.error = Some(ModelCallError {
            transient: false,
            message: "bad key".into(),
        });
        model.load(vec![failed, call(ModelCallKind::Stream, "streamed")]);
        assert_eq!(
            model.complete(&request()).await,
            Err(ModelError::Permanent("bad key".into()))
        );
        assert!(model.complete(&request()).await.is_err());
    }
}
