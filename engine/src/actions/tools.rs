//! The language-model path of action selection: every enabled action becomes a tool (its
//! description and parameter schema, unchanged), plus the built-in `human_handoff`; the
//! model's tool call is then checked like any customer input. A call whose arguments are not
//! a JSON object, name an unknown action, or break the schema is never executed as is: the
//! broken arguments are dropped and the agent asks for what is missing.

use serde_json::{json, Map, Value};

use super::spec::{Action, HUMAN_HANDOFF};
use crate::agent::{HistoryMessage, Role};
use crate::llm::{ChatModel, ToolRequest, ToolSpec};

/// Earlier messages shown to the model (newest last).
const HISTORY_SHOWN: usize = 6;

const SYSTEM: &str = include_str!("prompts/tools.md");

/// What the model decided.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolDecision {
    /// No tool: the turn is answered without an action.
    NoTool,
    /// The built-in handoff.
    Handoff,
    /// An action with arguments that are a JSON object (still to be validated).
    Call {
        name: String,
        arguments: Map<String, Value>,
    },
    /// A call that cannot be used: unknown tool or arguments that are not a JSON object.
    Malformed { name: String, why: String },
}

/// Asks `model` which action (if any) the message calls for. `None` when the model failed
/// (the offline selection then decides).
pub async fn choose(
    model: &dyn ChatModel,
    actions: &[Action],
    message: &str,
    history: &[HistoryMessage],
) -> Option<ToolDecision> {
    let mut tools: Vec<ToolSpec> = actions
        .iter()
        .map(|a| ToolSpec {
            name: a.name.clone(),
            description: a.description.clone(),
            parameters: a.parameters.clone(),
        })
        .collect();
    tools.push(ToolSpec {
        name: HUMAN_HANDOFF.into(),
        description: "Hand the conversation to a human colleague.".into(),
        parameters: json!({"type": "object", "properties": {"reason": {"type": "string"}}}),
    });
    let shown: Vec<Value> = history
        .iter()
        .rev()
        .take(HISTORY_SHOWN)
        .rev()
        .map(|m| json!({"role": if m.role == Role::Customer { "customer" } else { "agent" }, "text": m.text}))
        .collect();
    let user = json!({"conversation": shown, "message": message}).to_string();
    let request = ToolRequest {
        system: SYSTEM.to_string(),
        user,
        tools,
    };
    match model.choose_tool(&request).await {
        Ok(None) => Some(ToolDecision::NoTool),
        Ok(Some(call)) => Some(interpret(actions, &call.name, &call.arguments)),
        Err(e) => {
            tracing::warn!(error = %e, "the model could not choose a tool; selecting offline");
            None
        }
    }
}

/// Checks a tool call's name and that its arguments are a JSON object.
pub fn interpret(actions: &[Action], name: &str, arguments: &str) -> ToolDecision {
    if name == HUMAN_HANDOFF {
        return ToolDecision::Handoff;
    }
    if !actions.iter().any(|a| a.name == name) {
        return ToolDecision::Malformed {
            name: name.chars().take(64).collect(),
            why: "the model called a tool that does not exist".into(),
        };
    }
    let raw = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(arguments)) => ToolDecision::Call {
            name: name.to_string(),
            arguments,
        },
        Ok(_) => ToolDecision::Malformed {
            name: name.to_string(),
            why: "the tool arguments are not a JSON object".into(),
        },
        Err(e) => ToolDecision::Malformed {
            name: name.to_string(),
            why: format!("the tool arguments are not valid JSON ({e})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_arguments_and_unknown_tools_are_malformed() {
        let none: Vec<Action> = Vec::new();
        assert!(matches!(
            interpret(&none, "refund", "{}"),
            ToolDecision::Malformed { .. }
        ));
        assert_eq!(interpret(&none, HUMAN_HANDOFF, ""), ToolDecision::Handoff);
    }
}
