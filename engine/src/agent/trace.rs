//! What one turn did, stage by stage, in a form that can be stored and compared: the basis of
//! recording and replay (issue 9). [`TurnTrace::from_reply`] builds it from the reply (every
//! stage's output the reply carries); [`changes`] lists the stages whose output differs
//! between a recorded trace and a replay of the same message.
//!
//! Not yet wired: the pipeline does not fill the passages it retrieved but did not cite, nor
//! the model requests and responses ([`TurnTrace::model_calls`] stays empty), and nothing
//! stores traces yet.

use serde::{Deserialize, Serialize};

use super::{ActionOutcome, Reply};

/// Confidence moves smaller than this are not reported as an intent change.
pub const CONFIDENCE_TOLERANCE: f32 = 0.05;

/// The stage outputs of one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnTrace {
    /// The customer's message as stored (personal data redacted).
    pub message: String,
    pub language: String,
    pub intent: String,
    pub confidence: f32,
    /// Policy verdicts: the reply's flags, sorted.
    pub policy_flags: Vec<String>,
    pub handoff: bool,
    /// Ids of the documents the answer cited, in order.
    pub cited_documents: Vec<String>,
    pub actions: Vec<ActionOutcome>,
    /// Language-model requests and responses, in order (empty without a model).
    #[serde(default)]
    pub model_calls: Vec<serde_json::Value>,
    pub response: String,
}

impl TurnTrace {
    /// The trace of the turn answered with `reply`.
    pub fn from_reply(reply: &Reply) -> Self {
        let mut policy_flags = reply.flags.clone();
        policy_flags.sort();
        policy_flags.dedup();
        Self {
            message: reply.stored_message.clone(),
            language: reply.language.clone(),
            intent: reply.intent.clone(),
            confidence: reply.confidence,
            policy_flags,
            handoff: reply.handoff,
            cited_documents: reply
                .citations
                .iter()
                .map(|c| c.document_id.as_str().to_owned())
                .collect(),
            actions: reply.actions.clone(),
            model_calls: Vec::new(),
            response: reply.response.clone(),
        }
    }
}

/// One stage whose output changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// `language`, `policy`, `intent`, `retrieval`, `actions` or `response`.
    pub stage: String,
    pub recorded: String,
    pub replayed: String,
}

/// The stages of `replayed` that differ from `recorded`, in pipeline order.
pub fn changes(recorded: &TurnTrace, replayed: &TurnTrace) -> Vec<StageChange> {
    let mut out = Vec::new();
    let mut push = |stage: &str, a: String, b: String| {
        if a != b {
            out.push(StageChange {
                stage: stage.into(),
                recorded: a,
                replayed: b,
            });
        }
    };
    push(
        "language",
        recorded.language.clone(),
        replayed.language.clone(),
    );
    let policy = |t: &TurnTrace| format!("flags {:?}, handoff {}", t.policy_flags, t.handoff);
    push("policy", policy(recorded), policy(replayed));
    let moved = (recorded.confidence - replayed.confidence).abs() > CONFIDENCE_TOLERANCE;
    if recorded.intent != replayed.intent || moved {
        push(
            "intent",
            format!("{} ({:.2})", recorded.intent, recorded.confidence),
            format!("{} ({:.2})", replayed.intent, replayed.confidence),
        );
    }
    push(
        "retrieval",
        format!("{:?}", recorded.cited_documents),
        format!("{:?}", replayed.cited_documents),
    );
    let actions = |t: &TurnTrace| {
        t.actions
            .iter()
            .map(|a| format!("{}: {}", a.name, a.status))
            .collect::<Vec<_>>()
            .join(", ")
    };
    push("actions", actions(recorded), actions(replayed));
    push(
        "response",
        recorded.response.clone(),
        replayed.response.clone(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> TurnTrace {
        TurnTrace {
            message: "where is my parcel".into(),
            language: "en".into(),
            intent: "order_tracking".into(),
            confidence: 0.91,
            policy_flags: vec![],
            handoff: false,
            cited_documents: vec!["doc_a".into()],
            actions: vec![],
            model_calls: vec![],
            response: "It ships in 2 days.".into(),
        }
    }

    #[test]
    fn an_identical_replay_changes_nothing() {
        assert!(changes(&trace(), &trace()).is_empty());
        let mut nudged = trace();
        nudged.confidence = 0.93;
        assert!(changes(&trace(), &nudged).is_empty());
    }

    #[test]
    fn every_changed_stage_is_listed_in_pipeline_order() {
        let mut replayed = trace();
        replayed.intent = "shipping".into();
        replayed.cited_documents = vec!["doc_b".into()];
        replayed.response = "Shipping takes 3 days.".into();
        replayed.policy_flags = vec!["pii_redacted".into()];
        let stages: Vec<String> = changes(&trace(), &replayed)
            .into_iter()
            .map(|c| c.stage)
            .collect();
        assert_eq!(stages, ["policy", "intent", "retrieval", "response"]);
        let c = &changes(&trace(), &replayed)[1];
        assert_eq!(c.recorded, "order_tracking (0.91)");
        assert_eq!(c.replayed, "shipping (0.91)");
    }

    #[test]
    fn a_trace_survives_json() {
        let t = trace();
        let back: TurnTrace = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
