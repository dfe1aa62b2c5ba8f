//! Action selection: which action, if any, this turn runs. `human_handoff` is built in
//! ([`ActionSelector`], synchronous rules); organization actions run through the
//! asynchronous [`ActionStage`] (implemented by [`crate::actions::ActionEngine`]), which may
//! ask follow-up questions, wait for a confirmation, call a backend or hand off.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::{ActionOutcome, Turn};
use crate::llm::ChatModel;
use crate::memory::CustomerMemory;
use crate::policy::{Escalation, Inbound};

/// What the action stage sees of a turn.
#[derive(Clone, Copy)]
pub struct ActionTurn<'a> {
    pub turn: &'a Turn,
    /// The text the agent may work with (payment data removed).
    pub text: &'a str,
    pub intent: &'a str,
    pub confidence: f32,
    pub language: &'a str,
    pub memory: &'a CustomerMemory,
    /// The language model, when one is configured (tool calling).
    pub model: Option<&'a Arc<dyn ChatModel>>,
}

/// The action stage's answer for a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionReply {
    /// What the customer is told.
    pub text: String,
    pub outcome: ActionOutcome,
    /// Set when the turn hands the conversation to a human (policy limit, model's choice).
    pub handoff_reason: Option<String>,
    /// The intent to report for the turn (a follow-up answer like "A1234" belongs to the
    /// action's intent, not to whatever the classifier makes of it).
    pub intent: Option<String>,
    /// Flags for the reply (`tool_call_malformed`, `tool_call_invalid`).
    pub flags: Vec<String>,
}

/// Runs organization actions for a turn: `None` when no action is involved (the turn is
/// answered as usual). Failures are the stage's to handle (never an error for the turn).
#[async_trait]
pub trait ActionStage: Send + Sync {
    async fn run(&self, turn: ActionTurn<'_>) -> Option<ActionReply>;
}

/// An action chosen for this turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectedAction {
    /// `human_handoff` or an organization action's name.
    pub name: String,
    /// Why it was chosen (shown in the inbox and logs).
    pub reason: String,
    /// Arguments (slots) for the action, as JSON.
    pub arguments: serde_json::Value,
}

/// What action selection sees of the turn.
#[derive(Debug, Clone, Copy)]
pub struct ActionContext<'a> {
    pub turn: &'a Turn,
    pub inbound: &'a Inbound,
    pub intent: &'a str,
    pub confidence: f32,
}

/// Chooses an action for a turn. Selectors run in order; the first that returns one wins.
pub trait ActionSelector: Send + Sync {
    fn select(&self, context: ActionContext<'_>) -> Option<SelectedAction>;
}

/// The built-in selector: hands off to a human when an escalation rule fired.
#[derive(Debug, Default)]
pub struct HandoffSelector;

/// The name of the built-in handoff action.
pub const HUMAN_HANDOFF: &str = "human_handoff";

impl ActionSelector for HandoffSelector {
    fn select(&self, context: ActionContext<'_>) -> Option<SelectedAction> {
        let escalation = context.inbound.escalation.as_ref()?;
        Some(handoff(escalation))
    }
}

/// The handoff action for an escalation.
pub fn handoff(escalation: &Escalation) -> SelectedAction {
    SelectedAction {
        name: HUMAN_HANDOFF.into(),
        reason: escalation.reason(),
        arguments: serde_json::to_value(escalation).unwrap_or(serde_json::Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Turn;
    use crate::config::AgentConfig;
    use crate::policy::inspect;

    fn turn(message: &str) -> Turn {
        Turn {
            organization_id: crate::ids::OrganizationId::new(),
            customer_id: "c1".into(),
            customer_record_id: crate::ids::CustomerRecordId::new(),
            conversation_id: crate::ids::ConversationId::new(),
            channel: crate::channel::Channel::Web,
            message: message.into(),
            language: None,
            metadata: Default::default(),
            history: vec![],
            config: AgentConfig::default(),
        }
    }

    #[test]
    fn asking_for_a_person_selects_the_handoff_action() {
        let t = turn("I want to talk to a human");
        let inbound = inspect(&t.message, &t.config.guardrails, &[], |_| false);
        let chosen = HandoffSelector.select(ActionContext {
            turn: &t,
            inbound: &inbound,
            intent: "human_handoff",
            confidence: 0.9,
        });
        assert_eq!(chosen.map(|a| a.name), Some(HUMAN_HANDOFF.to_string()));
    }

    #[test]
    fn an_ordinary_question_selects_no_action() {
        let t = turn("What are your opening hours?");
        let inbound = inspect(&t.message, &t.config.guardrails, &[], |_| false);
        let chosen = HandoffSelector.select(ActionContext {
            turn: &t,
            inbound: &inbound,
            intent: "other",
            confidence: 0.2,
        });
        assert_eq!(chosen, None);
    }
}
