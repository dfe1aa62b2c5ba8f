//! The action stage of a turn ([`ActionEngine`]): a small state machine per conversation,
//! stored in the database (`action_pending`) so it survives between turns and servers.
//!
//! ```text
//! no pending action --select--> fill parameters --> missing/invalid required? -> ask (collecting)
//!                                                --> over a policy limit?      -> hand off
//!                                                --> write needing a yes?      -> confirm (confirming)
//!                                                --> call the backend, answer from the result
//! collecting + answer     --> merge what it gives, then as above
//! collecting + "never mind", or an unrelated question --> cancel
//! confirming + yes        --> call the backend
//! confirming + no         --> cancel
//! confirming + new details ("make it 30") --> re-check and confirm again
//! confirming + anything else (a change of mind) --> cancel, the turn is answered as usual
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::audit::{self, Origin};
use super::executor::{CallContext, CallStatus, Executor};
use super::render;
use super::schema::{self, Violation};
use super::select;
use super::slots::{self, Sources};
use super::spec::Action;
use super::tools::{self, ToolDecision};
use crate::agent::cache::EmbeddingCache;
use crate::agent::{ActionOutcome, ActionReply, ActionStage, ActionTurn};
use crate::embed::Embedder;
use crate::error::Result;
use crate::ids::ActionId;
use crate::llm::ChatRequest;
use crate::store::actions::{PendingAction, PendingStage};
use crate::store::memory::FactOrigin;
use crate::store::Store;

const SUMMARY_PROMPT: &str = include_str!("prompts/summary.md");
/// An answer to a follow-up question longer than this (in words) that gives nothing valid is
/// taken as a new question, not as a wrong answer.
const MAX_ANSWER_WORDS: usize = 6;

/// The action stage: organization actions, selected, filled, confirmed and executed.
pub struct ActionEngine {
    store: Store,
    executor: Executor,
    embedder: Option<Arc<dyn Embedder>>,
    cache: EmbeddingCache,
}

impl std::fmt::Debug for ActionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionEngine")
            .field("embedder", &self.embedder.is_some())
            .finish_non_exhaustive()
    }
}

impl ActionEngine {
    /// The stage over `store`, calling backends with `executor`; `embedder` compares messages
    /// with example utterances (word overlap without one).
    pub fn new(store: Store, executor: Executor, embedder: Option<Arc<dyn Embedder>>) -> Self {
        Self {
            store,
            executor,
            embedder,
            cache: EmbeddingCache::default(),
        }
    }
}

#[async_trait]
impl ActionStage for ActionEngine {
    #[tracing::instrument(skip_all, fields(stage = "actions"))]
    async fn run(&self, turn: ActionTurn<'_>) -> Option<ActionReply> {
        match self.step(turn).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(error = %e.chain(), "the action stage failed; answering without actions");
                None
            }
        }
    }
}

/// What a reply of this stage looks like.
fn reply(action: &str, status: &str, text: String, detail: Option<String>) -> ActionReply {
    ActionReply {
        text,
        outcome: ActionOutcome {
            name: action.to_string(),
            status: status.to_string(),
            detail,
        },
        handoff_reason: None,
        intent: None,
        flags: Vec::new(),
    }
}

impl ActionEngine {
    async fn step(&self, t: ActionTurn<'_>) -> Result<Option<ActionReply>> {
        let org = &t.turn.organization_id;
        let conversation = &t.turn.conversation_id;
        let actions: Vec<Action> = self
            .store
            .list_actions(org)
            .await?
            .into_iter()
            .filter(|a| a.enabled)
            .collect();
        if let Some(pending) = self.store.pending_action(org, conversation).await? {
            match actions.iter().find(|a| a.name == pending.action_name) {
                Some(action) => {
                    if let Some(mut r) = self.resume(&t, action, pending).await? {
                        r.intent = r.intent.or_else(|| action.intents.first().cloned());
                        return Ok(Some(r));
                    }
                }
                None => self.store.clear_pending_action(org, conversation).await?,
            }
        }
        if actions.is_empty() {
            return Ok(None);
        }
        self.fresh(&t, &actions).await
    }

    /// A turn with nothing pending: pick an action (the model's tool call, else offline).
    async fn fresh(&self, t: &ActionTurn<'_>, actions: &[Action]) -> Result<Option<ActionReply>> {
        let sources = Sources {
            metadata: &t.turn.metadata,
            memory: t.memory,
            history: &t.turn.history,
        };
        let key = ActionId::new().into_string();
        if let Some(model) = t.model {
            match tools::choose(model.as_ref(), actions, t.text, &t.turn.history).await {
                Some(ToolDecision::NoTool) => return Ok(None),
                Some(ToolDecision::Handoff) => {
                    let mut r = reply(
                        crate::agent::HUMAN_HANDOFF,
                        "succeeded",
                        handoff_text(t.language),
                        Some("chosen by the language model".into()),
                    );
                    r.handoff_reason = Some("the customer asked for a person".into());
                    return Ok(Some(r));
                }
                Some(ToolDecision::Malformed { name, why }) => {
                    tracing::warn!(tool = %name, why = %why, "malformed tool call not executed");
                    let mut r = reply(
                        &name,
                        "refused",
                        "Sorry, I didn't quite get that. Could you tell me again what you would like me to do, with the details?".into(),
                        Some(why),
                    );
                    r.flags.push("tool_call_malformed".into());
                    return Ok(Some(r));
                }
                Some(ToolDecision::Call { name, arguments }) => {
                    let Some(action) = actions.iter().find(|a| a.name == name) else {
                        return Ok(None);
                    };
                    let mut params = keep_properties(action, arguments);
                    let invalid =
                        !schema::validate(&action.parameters, &Value::Object(params.clone()))
                            .iter()
                            .all(|v| v.missing);
                    for (k, v) in slots::fill(action, t.text, sources) {
                        params.entry(k).or_insert(v);
                    }
                    let mut r = self.proceed(t, action, params, key).await?;
                    if invalid {
                        r.flags.push("tool_call_invalid".into());
                    }
                    return Ok(Some(r));
                }
                None => {}
            }
        }
        let Some(selection) = select::select(
            actions,
            t.text,
            t.intent,
            t.confidence,
            self.embedder.as_ref(),
            &self.cache,
        )
        .await
        else {
            return Ok(None);
        };
        tracing::info!(action = %selection.action.name, reason = %selection.reason, "action selected");
        let params = slots::fill(selection.action, t.text, sources);
        self.proceed(t, selection.action, params, key)
            .await
            .map(Some)
    }

    /// A turn of a conversation with a pending action. `None` when the customer moved on (the
    /// pending action is cancelled and the turn is answered as usual).
    async fn resume(
        &self,
        t: &ActionTurn<'_>,
        action: &Action,
        pending: PendingAction,
    ) -> Result<Option<ActionReply>> {
        let org = &t.turn.organization_id;
        let conversation = &t.turn.conversation_id;
        match pending.stage {
            PendingStage::Confirming => match yes_or_no(t.text) {
                Some(true) => {
                    // The pending row (with its idempotency key) goes only once the call has
                    // returned: a process killed while the backend works leaves it, so the
                    // customer's next "yes" calls again under the same key and a backend that
                    // honours the key applies the write once.
                    let outcome = self
                        .execute(t, action, &pending.parameters, &pending.idempotency_key)
                        .await;
                    self.store.clear_pending_action(org, conversation).await?;
                    outcome.map(Some)
                }
                Some(false) => {
                    self.store.clear_pending_action(org, conversation).await?;
                    Ok(Some(cancelled(action)))
                }
                None => {
                    let found = slots::from_text(action, t.text, None);
                    let changed = found
                        .iter()
                        .any(|(k, v)| pending.parameters.get(k) != Some(v));
                    if changed {
                        let mut params = pending.parameters.clone();
                        params.extend(found);
                        return self
                            .proceed(t, action, params, pending.idempotency_key)
                            .await
                            .map(Some);
                    }
                    self.store.clear_pending_action(org, conversation).await?;
                    tracing::info!(action = %action.name, "pending confirmation dropped: the customer moved on");
                    Ok(None)
                }
            },
            PendingStage::Collecting => {
                if is_cancel(t.text) {
                    self.store.clear_pending_action(org, conversation).await?;
                    return Ok(Some(cancelled(action)));
                }
                let found = slots::from_text(action, t.text, pending.asking.as_deref());
                let gives_valid = found.iter().any(|(k, v)| {
                    let mut one = Map::new();
                    one.insert(k.clone(), v.clone());
                    schema::validate(&action.parameters, &Value::Object(one))
                        .iter()
                        .all(|p| p.missing)
                });
                let words = t.text.split_whitespace().count();
                if !gives_valid && (words > MAX_ANSWER_WORDS || t.text.contains('?')) {
                    self.store.clear_pending_action(org, conversation).await?;
                    tracing::info!(action = %action.name, "pending action dropped: the customer asked something else");
                    return Ok(None);
                }
                let mut params = pending.parameters.clone();
                params.extend(found);
                self.proceed(t, action, params, pending.idempotency_key)
                    .await
                    .map(Some)
            }
        }
    }

    /// Validates what is known and takes the next step: ask, hand off, confirm or execute.
    async fn proceed(
        &self,
        t: &ActionTurn<'_>,
        action: &Action,
        params: Map<String, Value>,
        key: String,
    ) -> Result<ActionReply> {
        let org = &t.turn.organization_id;
        let conversation = &t.turn.conversation_id;
        let mut params = keep_properties(action, params);
        let required = action.required();
        let mut blocking: Vec<Violation> = Vec::new();
        for problem in schema::validate(&action.parameters, &Value::Object(params.clone())) {
            let top = problem
                .field
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string();
            if required.contains(&top.as_str()) {
                blocking.push(problem);
            } else {
                // An optional value that does not fit is dropped rather than asked about.
                params.remove(&top);
            }
        }
        if let Some(first) = blocking.first() {
            let top = first
                .field
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string();
            if !first.missing {
                params.remove(&top);
            }
            let pending = PendingAction {
                conversation_id: conversation.clone(),
                action_name: action.name.clone(),
                stage: PendingStage::Collecting,
                parameters: params,
                asking: Some(top.clone()),
                idempotency_key: key,
            };
            self.store.save_pending_action(org, &pending).await?;
            let mut r = reply(
                &action.name,
                "needs_input",
                question(action, first),
                Some(format!("asked for {top}")),
            );
            r.intent = action.intents.first().cloned();
            return Ok(r);
        }
        for limit in &action.limits {
            if let Some(reason) = limit.breach(&params) {
                self.store.clear_pending_action(org, conversation).await?;
                let origin = origin(t, &key);
                if let Err(e) =
                    audit::record_refusal(&self.store, action, &params, &reason, origin).await
                {
                    tracing::warn!(error = %e.chain(), "recording a refused action failed");
                }
                let mut r = reply(
                    &action.name,
                    "refused",
                    format!(
                        "That is more than I can {} on my own, so I'm connecting you with a member of our team. They will pick up this conversation shortly.",
                        verb_phrase(action)
                    ),
                    Some(reason.clone()),
                );
                r.handoff_reason = Some(format!("policy limit of {}: {reason}", action.name));
                return Ok(r);
            }
        }
        if action.needs_confirmation() {
            let what = render::describe(&params, &action.sensitive_fields);
            let pending = PendingAction {
                conversation_id: conversation.clone(),
                action_name: action.name.clone(),
                stage: PendingStage::Confirming,
                parameters: params,
                asking: None,
                idempotency_key: key,
            };
            self.store.save_pending_action(org, &pending).await?;
            let details = if what.is_empty() {
                String::new()
            } else {
                format!(" with {what}")
            };
            return Ok(reply(
                &action.name,
                "awaiting_confirmation",
                format!(
                    "Just to confirm: I'm about to {}{details}. Shall I go ahead? (yes/no)",
                    verb_phrase(action)
                ),
                None,
            ));
        }
        self.store.clear_pending_action(org, conversation).await?;
        self.execute(t, action, &params, &key).await
    }

    /// Calls the backend, records the execution and words the result.
    async fn execute(
        &self,
        t: &ActionTurn<'_>,
        action: &Action,
        params: &Map<String, Value>,
        key: &str,
    ) -> Result<ActionReply> {
        let org = &t.turn.organization_id;
        let Some((action, secrets)) = self.store.action_by_name(org, &action.name).await? else {
            return Ok(reply(
                &action.name,
                "failed",
                apology(action, CallStatus::Failed),
                None,
            ));
        };
        let context = CallContext {
            organization_id: org.as_str(),
            customer_id: Some(&t.turn.customer_id),
            conversation_id: Some(t.turn.conversation_id.as_str()),
            metadata: &t.turn.metadata,
            idempotency_key: key,
            test: false,
        };
        let outcome = self
            .executor
            .call(&action, &secrets, params, &context)
            .await;
        if let Err(e) =
            audit::record_call(&self.store, &action, params, &outcome, origin(t, key)).await
        {
            tracing::warn!(error = %e.chain(), "recording an action execution failed");
        }
        if outcome.status != CallStatus::Succeeded {
            return Ok(reply(
                &action.name,
                "failed",
                apology(&action, outcome.status),
                Some(outcome.status.as_str().to_string()),
            ));
        }
        self.remember(t, params).await;
        let text = match &action.response_template {
            Some(template) => render::render(template, params, &outcome.response),
            None => self.summary(t, &action, params, &outcome.response).await,
        };
        Ok(reply(&action.name, "succeeded", text, None))
    }

    /// Remembers the customer facts among the parameters of a successful call.
    async fn remember(&self, t: &ActionTurn<'_>, params: &Map<String, Value>) {
        let facts = slots::facts_to_remember(params);
        if facts.is_empty() {
            return;
        }
        let origin = FactOrigin {
            conversation: Some(&t.turn.conversation_id),
            channel: Some(t.turn.channel),
        };
        if let Err(e) = self
            .store
            .upsert_facts(
                &t.turn.organization_id,
                &t.turn.customer_record_id,
                &facts,
                origin,
            )
            .await
        {
            tracing::warn!(error = %e.chain(), "remembering action parameters failed");
        }
    }

    /// The result in words: the language model's summary when one is configured, else the
    /// plain summary.
    async fn summary(
        &self,
        t: &ActionTurn<'_>,
        action: &Action,
        params: &Map<String, Value>,
        result: &Value,
    ) -> String {
        if let Some(model) = t.model {
            let request = ChatRequest {
                system: SUMMARY_PROMPT.to_string(),
                user: json!({
                    "action": action.description,
                    "parameters": render::redact(params, &action.sensitive_fields),
                    "result": result,
                })
                .to_string(),
            };
            match model.complete(&request).await {
                Ok(text) if !text.trim().is_empty() => return text.trim().to_string(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "summarising the action result failed"),
            }
        }
        render::summarize(result)
    }
}

fn origin<'a>(t: &'a ActionTurn<'_>, key: &'a str) -> Origin<'a> {
    Origin {
        organization_id: &t.turn.organization_id,
        conversation_id: Some(&t.turn.conversation_id),
        customer_id: Some(&t.turn.customer_id),
        idempotency_key: key,
        test: false,
    }
}

fn keep_properties(action: &Action, params: Map<String, Value>) -> Map<String, Value> {
    let names: Vec<&str> = action.properties().into_iter().map(|(n, _)| n).collect();
    params
        .into_iter()
        .filter(|(k, v)| names.contains(&k.as_str()) && !v.is_null())
        .collect()
}

/// The action's description as a verb phrase: "Refund an order." -> "refund an order".
fn verb_phrase(action: &Action) -> String {
    let text = action.description.trim().trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => action.name.replace('_', " "),
    }
}

fn cancelled(action: &Action) -> ActionReply {
    reply(
        &action.name,
        "cancelled",
        format!(
            "All right, I won't {}. Is there anything else I can help you with?",
            verb_phrase(action)
        ),
        None,
    )
}

fn apology(action: &Action, status: CallStatus) -> String {
    let why = if status == CallStatus::Timeout {
        "our system did not respond in time"
    } else {
        "something went wrong on our side"
    };
    format!(
        "I'm sorry, {why}, so I couldn't {} just now. Please try again in a few minutes, or ask for a person and a colleague will take care of it.",
        verb_phrase(action)
    )
}

fn handoff_text(language: &str) -> String {
    crate::respond::templates::phrases(language)
        .handoff
        .to_string()
}

/// The follow-up question for a missing or invalid parameter: the property's `x-question`
/// when it has one, else "What is the <title or name>?" with a hint for enums and dates.
fn question(action: &Action, problem: &Violation) -> String {
    let top = problem.field.split('.').next().unwrap_or_default();
    let rules = action
        .properties()
        .into_iter()
        .find(|(n, _)| *n == top)
        .map(|(_, r)| r.clone())
        .unwrap_or(Value::Null);
    let label = rules
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
        .unwrap_or_else(|| top.replace('_', " "));
    let mut ask = match rules.get("x-question").and_then(Value::as_str) {
        Some(q) => q.to_string(),
        None => format!("What is the {label}?"),
    };
    if let Some(values) = rules.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(render::scalar).collect();
        ask = format!("{ask} (one of: {})", names.join(", "));
    } else if rules.get("format").and_then(Value::as_str) == Some("date") {
        ask = format!("{ask} (for example 2026-12-24)");
    }
    if problem.missing {
        ask
    } else if rules.get("pattern").is_some() && problem.reason.starts_with("does not have") {
        format!("That doesn't look like a valid {label}. {ask}")
    } else {
        format!("The {label} {}. {ask}", problem.reason)
    }
}

/// Reads a yes or a no; `None` when the message is neither.
pub fn yes_or_no(text: &str) -> Option<bool> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let phrase = |p: &str| lower.contains(p);
    if is_cancel(text)
        || ["no", "nope", "nah", "don't", "dont", "not"]
            .iter()
            .any(|w| has(w))
    {
        return Some(false);
    }
    if words.len() <= 6
        && ([
            "yes",
            "yeah",
            "yep",
            "yup",
            "sure",
            "ok",
            "okay",
            "confirm",
            "confirmed",
            "correct",
            "absolutely",
            "y",
        ]
        .iter()
        .any(|w| has(w))
            || phrase("go ahead")
            || phrase("do it")
            || phrase("please do"))
    {
        return Some(true);
    }
    None
}

/// Whether the customer calls the action off ("never mind", "cancel that", "forget it").
pub fn is_cancel(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "never mind",
        "nevermind",
        "forget it",
        "forget about it",
        "cancel that",
        "cancel it",
        "don't do it",
        "do not do it",
        "changed my mind",
        "change of mind",
        "no thanks",
        "no thank you",
        "stop",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_and_changes_of_mind_are_read() {
        assert_eq!(yes_or_no("Yes please"), Some(true));
        assert_eq!(yes_or_no("ok, go ahead"), Some(true));
        assert_eq!(yes_or_no("No."), Some(false));
        assert_eq!(yes_or_no("Actually, I changed my mind"), Some(false));
        assert_eq!(yes_or_no("don't do that"), Some(false));
        assert_eq!(yes_or_no("make it 30 instead"), None);
        assert!(is_cancel("never mind"));
        assert!(!is_cancel("A1234"));
    }
}
