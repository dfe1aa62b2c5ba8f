//! What one turn did, stage by stage, in a form that can be stored and compared: the basis of
//! recording and replay (issue 9). [`TurnTrace::record`] builds it from the turn, its reply
//! and the [`TurnLog`] the [`super::recorder`] collected while the turn ran (every passage
//! retrieved, every backend call, every model call); [`changes`] lists the stages whose output
//! differs between a recorded trace and a replay of the same message.
//!
//! Wiring: `service::chat::chat` runs the turn inside [`super::recorder::capture`] when the
//! organization's recording switch is on and stores the trace with
//! `Store::insert_turn_recording`; `blaigent-eval replay` (crate `evals`, module `replay`)
//! replays a stored conversation and reports the [`changes`].
//!
//! Privacy: the message is the stored (redacted) one, and model requests and responses, action
//! parameters and results pass through the same PII redaction as stored messages
//! ([`TurnTrace::redacted`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ActionOutcome, Reply, Turn};
use crate::channel::Channel;
use crate::policy::pii::{self, PiiKind};

/// Confidence moves smaller than this are not reported as an intent change.
pub const CONFIDENCE_TOLERANCE: f32 = 0.05;

/// A passage the retrieval stage returned (cited or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievedPassage {
    pub document_id: String,
    pub chunk_index: i64,
    /// The final (fused) score.
    pub score: f32,
}

/// One call to an organization's backend, as the executor made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionCall {
    pub name: String,
    pub parameters: Map<String, Value>,
    /// `succeeded`, `failed` or `timeout`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The backend's answer as JSON (`null` when empty or not JSON).
    #[serde(default)]
    pub response: Value,
}

/// How the agent asked the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelCallKind {
    Complete,
    Stream,
    ChooseTool,
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedToolCall {
    pub name: String,
    pub arguments: String,
}

/// One language-model request and its response (or error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    pub kind: ModelCallKind,
    pub system: String,
    pub user: String,
    /// Names of the tools offered (tool choice only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// The answer text (complete and stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// The tool call made (tool choice only; `None` when the model chose none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<RecordedToolCall>,
    /// The failure, when the model failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ModelCallError>,
}

/// A model failure as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCallError {
    pub transient: bool,
    pub message: String,
}

/// What the recorder collected while a turn ran: the stage data the reply does not carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnLog {
    pub retrieved: Vec<RetrievedPassage>,
    pub action_calls: Vec<ActionCall>,
    pub model_calls: Vec<ModelCall>,
}

/// The stage inputs and outputs of one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnTrace {
    /// The customer's message as stored (personal data redacted).
    pub message: String,
    #[serde(default)]
    pub channel: Channel,
    /// The language the request asked for, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_language: Option<String>,
    /// The request's `metadata` (stored with the message too; action hooks may read it).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    pub language: String,
    pub intent: String,
    pub confidence: f32,
    /// Policy verdicts: the reply's flags, sorted.
    pub policy_flags: Vec<String>,
    pub handoff: bool,
    /// Every passage retrieved, best first (empty when the turn did not reach retrieval).
    #[serde(default)]
    pub retrieved: Vec<RetrievedPassage>,
    /// Ids of the documents the answer cited, in order.
    pub cited_documents: Vec<String>,
    pub actions: Vec<ActionOutcome>,
    /// Backend calls with their parameters and results, in order.
    #[serde(default)]
    pub action_calls: Vec<ActionCall>,
    /// Language-model requests and responses, in order (empty without a model).
    #[serde(default)]
    pub model_calls: Vec<ModelCall>,
    pub response: String,
}

impl TurnTrace {
    /// The trace of the turn answered with `reply`, from the reply alone (no retrieval, calls
    /// or model data; see [`Self::record`]).
    pub fn from_reply(reply: &Reply) -> Self {
        let mut policy_flags = reply.flags.clone();
        policy_flags.sort();
        policy_flags.dedup();
        Self {
            message: reply.stored_message.clone(),
            channel: Channel::default(),
            requested_language: None,
            metadata: Map::new(),
            language: reply.language.clone(),
            intent: reply.intent.clone(),
            confidence: reply.confidence,
            policy_flags,
            handoff: reply.handoff,
            retrieved: Vec::new(),
            cited_documents: reply
                .citations
                .iter()
                .map(|c| c.document_id.as_str().to_owned())
                .collect(),
            actions: reply.actions.clone(),
            action_calls: Vec::new(),
            model_calls: Vec::new(),
            response: reply.response.clone(),
        }
    }

    /// The full trace of `turn`: its reply plus what the recorder collected, redacted with the
    /// organization's PII settings.
    pub fn record(turn: &Turn, reply: &Reply, log: TurnLog) -> Self {
        let mut trace = Self::from_reply(reply);
        trace.channel = turn.channel;
        trace.requested_language = turn.language.clone();
        trace.metadata = turn.metadata.clone();
        trace.retrieved = log.retrieved;
        trace.action_calls = log.action_calls;
        trace.model_calls = log.model_calls;
        let kinds = pii::configured_kinds(&turn.config.guardrails.redact_pii);
        trace.redacted(&kinds)
    }

    /// The trace with personal data of `kinds` replaced in model text and action data, as
    /// in stored messages. The message is already the stored form.
    pub fn redacted(mut self, kinds: &[PiiKind]) -> Self {
        let clean = |text: &str| pii::redact(text, kinds).text;
        for call in &mut self.model_calls {
            call.system = clean(&call.system);
            call.user = clean(&call.user);
            if let Some(response) = &mut call.response {
                *response = clean(response);
            }
            if let Some(tool) = &mut call.tool_call {
                tool.arguments = clean(&tool.arguments);
            }
        }
        for call in &mut self.action_calls {
            for value in call.parameters.values_mut() {
                redact_json(value, &clean);
            }
            redact_json(&mut call.response, &clean);
        }
        self
    }
}

/// Redacts every string inside `value`.
fn redact_json(value: &mut Value, clean: &impl Fn(&str) -> String) {
    match value {
        Value::String(s) => *s = clean(s),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_json(v, clean)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_json(v, clean)),
        _ => {}
    }
}

/// One stage whose output changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// `language`, `policy`, `intent`, `retrieval`, `actions`, `model` or `response`.
    pub stage: String,
    pub recorded: String,
    pub replayed: String,
}

/// The stages of `replayed` that differ from `recorded`, in pipeline order. Retrieval compares
/// the passages retrieved (ids and order, not the float scores) and the documents cited;
/// actions compare outcomes and each backend call's name and parameters (results are the
/// replay's input, not its output); the model stage compares the requests sent.
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
    let retrieval = |t: &TurnTrace| {
        let ids: Vec<String> = t
            .retrieved
            .iter()
            .map(|p| format!("{}#{}", p.document_id, p.chunk_index))
            .collect();
        format!("retrieved {ids:?}, cited {:?}", t.cited_documents)
    };
    push("retrieval", retrieval(recorded), retrieval(replayed));
    let actions = |t: &TurnTrace| {
        let mut parts: Vec<String> = t
            .actions
            .iter()
            .map(|a| format!("{}: {}", a.name, a.status))
            .collect();
        parts.extend(
            t.action_calls
                .iter()
                .map(|c| format!("call {}({})", c.name, Value::Object(c.parameters.clone()))),
        );
        parts.join(", ")
    };
    push("actions", actions(recorded), actions(replayed));
    if let Some((a, b)) = model_difference(&recorded.model_calls, &replayed.model_calls) {
        push("model", a, b);
    }
    push(
        "response",
        recorded.response.clone(),
        replayed.response.clone(),
    );
    out
}

/// A readable account of the first difference between two lists of model requests.
fn model_difference(recorded: &[ModelCall], replayed: &[ModelCall]) -> Option<(String, String)> {
    if recorded.len() != replayed.len() {
        return Some((
            format!("{} model calls", recorded.len()),
            format!("{} model calls", replayed.len()),
        ));
    }
    let request = |c: &ModelCall| format!("{}\n{}\n{}", c.system, c.user, c.tools.join(","));
    recorded
        .iter()
        .zip(replayed)
        .enumerate()
        .find_map(|(i, (a, b))| {
            let (ra, rb) = (request(a), request(b));
            if a.kind == b.kind && ra == rb {
                return None;
            }
            let line = ra
                .lines()
                .zip(rb.lines())
                .find(|(x, y)| x != y)
                .unwrap_or(("", ""));
            Some((
                format!("call {} {:?}: {}", i + 1, a.kind, line.0),
                format!("call {} {:?}: {}", i + 1, b.kind, line.1),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> TurnTrace {
        TurnTrace {
            message: "where is my parcel".into(),
            channel: Channel::Web,
            requested_language: None,
            metadata: Map::new(),
            language: "en".into(),
            intent: "order_tracking".into(),
            confidence: 0.91,
            policy_flags: vec![],
            handoff: false,
            retrieved: vec![RetrievedPassage {
                document_id: "doc_a".into(),
                chunk_index: 0,
                score: 0.03,
            }],
            cited_documents: vec!["doc_a".into()],
            actions: vec![],
            action_calls: vec![],
            model_calls: vec![],
            response: "It ships in 2 days.".into(),
        }
    }

    #[test]
    fn an_identical_replay_changes_nothing() {
        assert!(changes(&trace(), &trace()).is_empty());
        let mut nudged = trace();
        nudged.confidence = 0.93;
        nudged.retrieved[0].score = 0.031;
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
    fn a_passage_retrieved_but_not_cited_still_counts_for_retrieval() {
        let mut replayed = trace();
        replayed.retrieved.push(RetrievedPassage {
            document_id: "doc_b".into(),
            chunk_index: 2,
            score: 0.01,
        });
        let found = changes(&trace(), &replayed);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].stage, "retrieval");
        assert!(found[0].replayed.contains("doc_b#2"), "{:?}", found[0]);
    }

    #[test]
    fn different_action_parameters_and_model_prompts_are_changes() {
        let call = |order: &str| ActionCall {
            name: "order_status".into(),
            parameters: serde_json::from_value(serde_json::json!({ "order_id": order }))
                .expect("an object"),
            status: "succeeded".into(),
            http_status: Some(200),
            response: Value::Null,
        };
        let model = |user: &str| ModelCall {
            kind: ModelCallKind::Complete,
            system: "You are Ava.".into(),
            user: user.into(),
            tools: vec![],
            response: Some("Hi".into()),
            tool_call: None,
            error: None,
        };
        let mut recorded = trace();
        recorded.action_calls = vec![call("A1234")];
        recorded.model_calls = vec![model("question one")];
        let mut replayed = recorded.clone();
        replayed.action_calls = vec![call("B5678")];
        replayed.model_calls = vec![model("question two")];
        let found = changes(&recorded, &replayed);
        let stages: Vec<&str> = found.iter().map(|c| c.stage.as_str()).collect();
        assert_eq!(stages, ["actions", "model"]);
        assert!(found[0].replayed.contains("B5678"));
        assert_eq!(found[1].recorded, "call 1 Complete: question one");
    }

    #[test]
    fn model_and_action_text_is_redacted_like_stored_messages() {
        let mut t = trace();
        t.model_calls = vec![ModelCall {
            kind: ModelCallKind::Complete,
            system: "Facts: email dana@example.com".into(),
            user: "hi".into(),
            tools: vec![],
            response: Some("Write to dana@example.com".into()),
            tool_call: None,
            error: None,
        }];
        t.action_calls = vec![ActionCall {
            name: "lookup".into(),
            parameters: serde_json::from_value(serde_json::json!({"email": "dana@example.com"}))
                .expect("an object"),
            status: "succeeded".into(),
            http_status: Some(200),
            response: serde_json::json!({"contact": ["dana@example.com"]}),
        }];
        let clean = t.redacted(&pii::configured_kinds(&["email".to_string()]));
        let json = serde_json::to_string(&clean).expect("json");
        assert!(!json.contains("dana@example.com"), "{json}");
    }

    #[test]
    fn a_trace_survives_json() {
        let t = trace();
        let back: TurnTrace =
            serde_json::from_str(&serde_json::to_string(&t).expect("json")).expect("parse");
        assert_eq!(back, t);
    }
}
