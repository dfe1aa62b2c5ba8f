//! Action selection: which action, if any, this turn runs. `human_handoff` is built in; the
//! action-hooks capability plugs organization actions in through [`ActionSelector`].

use serde::Serialize;

use super::Turn;
use crate::policy::{Escalation, Inbound};

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
