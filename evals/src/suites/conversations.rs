//! The `conversations` suite: scripted multi-turn conversations with action hooks, run
//! in-process through the real chat service (`engine::service::chat::chat`: the agent, its
//! store, the pending-action state between turns) against a loopback backend
//! ([`super::action_backend`]). Reports the task success rate (every turn and the final state
//! as scripted), the turn pass rate, intent accuracy and action accuracy.
//!
//! # Data format
//!
//! One JSON file (`evals/data/conversations/cases.json`):
//!
//! ```json
//! {
//!   "actions": [
//!     {"name": "order_status", "description": "Look up the status of an order",
//!      "parameters": {"type": "object", "properties": {"order_id": {"type": "string",
//!        "pattern": "^[A-Z][0-9]{4}$"}}, "required": ["order_id"]},
//!      "url": "{backend}/orders/status", "kind": "read", "intents": ["order_tracking"],
//!      "examples": ["where is my order"]}
//!   ],
//!   "cases": [
//!     {"name": "order status over two turns",
//!      "metadata": {"plan": "gold"},
//!      "turns": [
//!        {"message": "Where is my order?", "expected_intent": "order_tracking",
//!         "expected_status": "needs_input", "response_contains": ["order number"]},
//!        {"message": "A1234", "expected_status": "succeeded",
//!         "expected_action": {"name": "order_status", "parameters": {"order_id": "A1234"}}}
//!      ],
//!      "expect_handoff": false,
//!      "final_memory": {"order_number": "A1234"}}
//!   ]
//! }
//! ```
//!
//! - `actions`: registrations exactly as `POST /api/v1/dashboard/actions` takes them;
//!   `{backend}` in a `url` becomes the loopback backend's address (paths `/orders/status`,
//!   `/orders/cancel`, `/refunds`, `/bookings`; known orders A1234, B5678, C9012, D3456).
//! - a turn: `message`; optional `expected_intent` (the reply's `intent`), `expected_status`
//!   (the status of the reply's first action: `needs_input`, `awaiting_confirmation`,
//!   `succeeded`, `failed`, `cancelled`, `refused`; `"none"` for no action),
//!   `expected_action` (the one backend call this turn must make, name and exact parameters;
//!   when absent the turn must make **no** call) and `response_contains` (case-insensitive
//!   substrings of the reply).
//! - the final state: `expect_handoff` (whether any turn handed off; default false) and
//!   `final_memory` (facts `key: value` remembered about the customer at the end).
//!
//! Each case is a fresh customer and conversation in one shared organization.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context as _, Result};
use engine::actions::executor::Executor;
use engine::actions::manage::{self, NewAction};
use engine::actions::{ActionEngine, ActionKind, ActionSecrets, Limit};
use engine::agent::Agent;
use engine::channel::Channel;
use engine::embed::Embedder;
use engine::intent::IntentService;
use engine::service::chat::{chat, ChatCaller, ChatInput};
use engine::store::orgs::{NewOrganization, Plan};
use engine::store::Store;
use engine::webhooks::UrlGuard;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::action_backend::{Backend, Call};
use crate::metrics::proportion_se;
use crate::report::Report;

/// The data file.
#[derive(Debug, Clone, Deserialize)]
pub struct ConversationSet {
    pub actions: Vec<ActionDef>,
    pub cases: Vec<ConversationCase>,
}

/// An action registration (the body of `POST /api/v1/dashboard/actions`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDef {
    pub name: String,
    pub description: String,
    pub parameters: Value,
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub auth: Option<ActionSecrets>,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    pub kind: ActionKind,
    #[serde(default)]
    pub requires_confirmation: Option<bool>,
    #[serde(default)]
    pub idempotent: Option<bool>,
    #[serde(default)]
    pub limits: Vec<Limit>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub intents: Vec<String>,
    #[serde(default)]
    pub response_template: Option<String>,
    #[serde(default)]
    pub sensitive_fields: Vec<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A scripted multi-turn conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationCase {
    pub name: String,
    /// The chat request's `metadata` on every turn.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    pub turns: Vec<ScriptedTurn>,
    /// Whether some turn hands the conversation to a human.
    #[serde(default)]
    pub expect_handoff: bool,
    /// Facts expected in customer memory at the end, as `key: value`.
    #[serde(default)]
    pub final_memory: BTreeMap<String, String>,
}

/// One customer turn and what should happen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScriptedTurn {
    pub message: String,
    #[serde(default)]
    pub expected_intent: Option<String>,
    /// The status of the reply's first action (`"none"`: no action).
    #[serde(default)]
    pub expected_status: Option<String>,
    /// The backend call this turn makes; absent: no call.
    #[serde(default)]
    pub expected_action: Option<ExpectedAction>,
    #[serde(default)]
    pub response_contains: Vec<String>,
}

/// An action call the turn should make.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpectedAction {
    pub name: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
}

/// Reads a data file.
pub fn load(path: &Path) -> Result<ConversationSet> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&raw).with_context(|| format!("parsing {}", path.display()))
}

/// What happened in one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub turns_passed: usize,
    pub turns: usize,
    /// Why it failed (first problems), empty when it passed.
    pub problems: Vec<String>,
}

/// Tallies over all turns.
#[derive(Debug, Default)]
struct Tally {
    intents: (usize, usize),
    actions: (usize, usize),
    turns: (usize, usize),
}

/// The organization, agent and backend the cases run against.
struct Harness {
    store: Store,
    agent: Agent,
    caller: ChatCaller,
    backend: Backend,
    _dir: tempfile::TempDir,
}

async fn harness(set: &ConversationSet, embedder: Arc<dyn Embedder>) -> Result<Harness> {
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!("sqlite://{}/eval.db", dir.path().display()))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    store.migrate().await.map_err(|e| anyhow!("{e}"))?;
    let org = engine::service::orgs::create_org(
        &store,
        NewOrganization {
            name: "Conversations eval".into(),
            plan: Plan::Scale,
            rate_limit_per_min: None,
            monthly_conversation_quota: None,
        },
    )
    .await
    .map_err(|e| anyhow!("{e}"))?
    .organization
    .id;
    let backend = Backend::start().await?;
    let guard = UrlGuard::new(vec!["127.0.0.1/32".parse()?]);
    for def in &set.actions {
        let def = def.clone();
        let new = NewAction {
            name: def.name.clone(),
            description: def.description,
            parameters: def.parameters,
            url: def.url.replace("{backend}", &backend.base_url),
            method: def.method,
            auth: def.auth,
            timeout_ms: def.timeout_ms,
            kind: def.kind,
            requires_confirmation: def.requires_confirmation,
            idempotent: def.idempotent,
            limits: def.limits,
            examples: def.examples,
            intents: def.intents,
            response_template: def.response_template,
            sensitive_fields: def.sensitive_fields,
            enabled: def.enabled,
        };
        manage::create(&store, &guard, &org, new)
            .await
            .map_err(|e| anyhow!("registering action {}: {e}", def.name))?;
    }
    let executor = Executor::new(guard).map_err(|e| anyhow!("{e}"))?;
    let agent = Agent::new()
        .with_store(store.clone())
        .with_embedder(embedder.clone())
        .with_intents(Arc::new(IntentService::new(
            store.clone(),
            embedder.clone(),
        )))
        .with_actions(Arc::new(ActionEngine::new(
            store.clone(),
            executor,
            Some(embedder),
        )));
    Ok(Harness {
        caller: ChatCaller {
            organization_id: org,
            plan: Plan::Scale,
            monthly_conversation_quota: None,
        },
        store,
        agent,
        backend,
        _dir: dir,
    })
}

/// Runs every case and reports.
pub async fn run(set: &ConversationSet, embedder: Arc<dyn Embedder>) -> Result<Report> {
    let h = harness(set, embedder).await?;
    let mut results = Vec::with_capacity(set.cases.len());
    let mut tally = Tally::default();
    for (i, case) in set.cases.iter().enumerate() {
        let span = tracing::info_span!("conversation_case", name = %case.name);
        let _guard = span.enter();
        results.push(run_case(&h, case, &format!("eval-conv-{i}"), &mut tally).await?);
    }
    Ok(report(&results, &tally))
}

async fn run_case(
    h: &Harness,
    case: &ConversationCase,
    customer: &str,
    tally: &mut Tally,
) -> Result<CaseResult> {
    let mut problems = Vec::new();
    let mut session: Option<String> = None;
    let mut handed_off = false;
    let mut turns_passed = 0;
    for (n, turn) in case.turns.iter().enumerate() {
        let before = h.backend.count();
        let outcome = chat(
            &h.store,
            &h.agent,
            &h.caller,
            ChatInput {
                organization_id: h.caller.organization_id.to_string(),
                customer_id: customer.to_string(),
                message: turn.message.clone(),
                channel: Channel::Web,
                session_id: session.clone(),
                language: None,
                metadata: case.metadata.clone(),
            },
        )
        .await
        .map_err(|e| anyhow!("turn {}: {e}", n + 1))?;
        session = Some(outcome.conversation_id.to_string());
        let reply = &outcome.reply;
        handed_off |= reply.handoff;
        let calls = h.backend.since(before);
        let mut ok = true;
        let mut fail = |why: String| {
            ok = false;
            problems.push(format!("turn {} ({:?}): {why}", n + 1, turn.message));
        };
        if let Some(intent) = &turn.expected_intent {
            tally.intents.1 += 1;
            if &reply.intent == intent {
                tally.intents.0 += 1;
            } else {
                fail(format!("intent {} instead of {intent}", reply.intent));
            }
        }
        if let Some(status) = &turn.expected_status {
            let got = reply.actions.first().map_or("none", |a| a.status.as_str());
            if got != status {
                fail(format!("action status {got} instead of {status}"));
            }
        }
        tally.actions.1 += 1;
        if calls_match(&calls, turn.expected_action.as_ref()) {
            tally.actions.0 += 1;
        } else {
            fail(format!(
                "backend calls {:?} instead of {:?}",
                calls
                    .iter()
                    .map(|c| (c.action.as_str(), Value::Object(c.parameters.clone())))
                    .collect::<Vec<_>>(),
                turn.expected_action
                    .as_ref()
                    .map(|e| (e.name.as_str(), Value::Object(e.parameters.clone())))
            ));
        }
        let lower = reply.response.to_lowercase();
        for needle in &turn.response_contains {
            if !lower.contains(&needle.to_lowercase()) {
                fail(format!("reply {:?} lacks {needle:?}", reply.response));
            }
        }
        tally.turns.1 += 1;
        if ok {
            tally.turns.0 += 1;
            turns_passed += 1;
        }
    }
    if handed_off != case.expect_handoff {
        problems.push(format!(
            "handoff {handed_off}, expected {}",
            case.expect_handoff
        ));
    }
    if !case.final_memory.is_empty() {
        let record = h
            .store
            .ensure_customer(&h.caller.organization_id, customer)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let memory = h
            .store
            .customer_memory(&h.caller.organization_id, &record)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        for (key, value) in &case.final_memory {
            if !memory
                .values(key)
                .iter()
                .any(|v| v.eq_ignore_ascii_case(value))
            {
                problems.push(format!("memory lacks {key}: {value}"));
            }
        }
    }
    Ok(CaseResult {
        name: case.name.clone(),
        passed: problems.is_empty(),
        turns_passed,
        turns: case.turns.len(),
        problems,
    })
}

fn calls_match(calls: &[Call], expected: Option<&ExpectedAction>) -> bool {
    match (calls, expected) {
        ([], None) => true,
        ([call], Some(e)) => call.action == e.name && call.parameters == e.parameters,
        _ => false,
    }
}

fn report(results: &[CaseResult], tally: &Tally) -> Report {
    let mut report = Report::new("conversations", json!({"cases": results.len()}));
    let rate = |(ok, all): (usize, usize)| ok as f64 / all.max(1) as f64;
    let passed = results.iter().filter(|r| r.passed).count();
    let p = rate((passed, results.len()));
    report.push(
        "conversations.task_success_rate",
        p,
        Some(proportion_se(p, results.len())),
    );
    let p = rate(tally.turns);
    report.push(
        "conversations.turn_pass_rate",
        p,
        Some(proportion_se(p, tally.turns.1)),
    );
    let p = rate(tally.intents);
    report.push(
        "conversations.intent_accuracy",
        p,
        Some(proportion_se(p, tally.intents.1)),
    );
    let p = rate(tally.actions);
    report.push(
        "conversations.action_accuracy",
        p,
        Some(proportion_se(p, tally.actions.1)),
    );
    report.detail(
        "cases",
        serde_json::to_value(results).unwrap_or(Value::Null),
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_cases_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/conversations/cases.json");
        let set = load(&path).unwrap();
        assert!(set.cases.len() >= 10);
        assert!(set.actions.iter().all(|a| a.url.starts_with("{backend}/")));
    }

    #[test]
    fn a_turn_without_an_expected_action_must_make_no_call() {
        let call = Call {
            action: "refund".into(),
            parameters: Map::new(),
        };
        assert!(calls_match(&[], None));
        assert!(!calls_match(std::slice::from_ref(&call), None));
        let expected = ExpectedAction {
            name: "refund".into(),
            parameters: Map::new(),
        };
        assert!(calls_match(&[call], Some(&expected)));
    }
}
