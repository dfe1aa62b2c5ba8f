//! The turn recorder: a task-local [`TurnLog`] that the stages write to while a recorded turn
//! runs. [`capture`] runs a future with a fresh log and returns it; the hooks
//! ([`note_retrieval`], [`note_action_call`], [`note_model_call`]) add to the log of the
//! current task and do nothing when no recording is under way, so a turn of an organization
//! that does not record pays one failed task-local lookup per hook and nothing else.
//!
//! Task-local rather than threaded through the stages: the data comes from deep inside the
//! action engine (the executor) and the model seam, and every stage of a turn runs on the
//! turn's own task (blocking work such as embedding records nothing).

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::trace::{ActionCall, ModelCall, RetrievedPassage, TurnLog};
use crate::actions::executor::CallOutcome;
use crate::knowledge::ScoredPassage;

tokio::task_local! {
    static LOG: Arc<Mutex<TurnLog>>;
}

/// Runs `future` with a fresh log; returns its output and what the stages noted.
pub async fn capture<F: Future>(future: F) -> (F::Output, TurnLog) {
    let log = Arc::new(Mutex::new(TurnLog::default()));
    let output = LOG.scope(log.clone(), future).await;
    let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (output, log)
}

/// Whether the current task is recording a turn.
pub fn is_recording() -> bool {
    LOG.try_with(|_| ()).is_ok()
}

fn note(write: impl FnOnce(&mut TurnLog)) {
    let _ = LOG.try_with(|log| write(&mut log.lock().unwrap_or_else(|p| p.into_inner())));
}

/// Notes the passages the retrieval stage returned (all of them, cited or not).
pub fn note_retrieval(passages: &[ScoredPassage]) {
    note(|log| {
        log.retrieved
            .extend(passages.iter().map(|p| RetrievedPassage {
                document_id: p.document_id.as_str().to_owned(),
                chunk_index: p.chunk_index,
                score: p.score,
            }));
    });
}

/// Notes one backend call and its result.
pub fn note_action_call(name: &str, parameters: &Map<String, Value>, outcome: &CallOutcome) {
    note(|log| {
        log.action_calls.push(ActionCall {
            name: name.to_owned(),
            parameters: parameters.clone(),
            status: outcome.status.as_str().to_owned(),
            http_status: outcome.http_status,
            response: outcome.response.clone(),
        });
    });
}

/// Notes one language-model call.
pub fn note_model_call(call: ModelCall) {
    note(|log| log.model_calls.push(call));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::trace::ModelCallKind;

    fn call() -> ModelCall {
        ModelCall {
            kind: ModelCallKind::Complete,
            system: "s".into(),
            user: "u".into(),
            tools: vec![],
            response: Some("r".into()),
            tool_call: None,
            error: None,
        }
    }

    #[tokio::test]
    async fn notes_inside_a_capture_are_returned_and_outside_are_dropped() {
        note_model_call(call());
        assert!(!is_recording());
        let (value, log) = capture(async {
            assert!(is_recording());
            note_model_call(call());
            7
        })
        .await;
        assert_eq!(value, 7);
        assert_eq!(log.model_calls, vec![call()]);
    }
}
