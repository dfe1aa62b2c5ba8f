//! An action as an organization registers it ([`ActionSpec`], checked by [`ActionSpec::check`])
//! and as the agent uses it ([`Action`]); its secrets ([`ActionSecrets`]) travel separately so
//! nothing that is shown or logged can carry them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema;
use crate::error::{Error, Result};
use crate::ids::ActionId;
use crate::webhooks::UrlGuard;

/// The name of the built-in action (reserved).
pub use crate::agent::HUMAN_HANDOFF;

/// Default backend timeout.
pub const DEFAULT_TIMEOUT_MS: i64 = 10_000;
/// Bounds of the backend timeout: long enough for a slow backend, short enough that the
/// customer is not left waiting (retries multiply it).
pub const MIN_TIMEOUT_MS: i64 = 100;
pub const MAX_TIMEOUT_MS: i64 = 30_000;
const MAX_EXAMPLES: usize = 50;
const MAX_EXAMPLE_CHARS: usize = 300;
const MAX_DESCRIPTION_CHARS: usize = 1_000;
const MAX_TEMPLATE_CHARS: usize = 2_000;
const MAX_SCHEMA_BYTES: usize = 32 * 1024;
const MAX_SECRET_CHARS: usize = 512;

/// Whether an action only reads or changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Read,
    Write,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Read => "read",
            ActionKind::Write => "write",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "read" => Some(ActionKind::Read),
            "write" => Some(ActionKind::Write),
            _ => None,
        }
    }
}

/// A policy limit on a numeric parameter: outside it the agent does not call the backend and
/// hands the conversation to a human instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub parameter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

impl Limit {
    /// Returns why `parameters` break this limit, if they do.
    pub fn breach(&self, parameters: &serde_json::Map<String, Value>) -> Option<String> {
        let value = parameters.get(&self.parameter)?.as_f64()?;
        if self.max.is_some_and(|max| value > max) {
            return Some(format!(
                "{} {} is above the limit of {}",
                self.parameter,
                value,
                self.max.unwrap_or_default()
            ));
        }
        if self.min.is_some_and(|min| value < min) {
            return Some(format!(
                "{} {} is below the limit of {}",
                self.parameter,
                value,
                self.min.unwrap_or_default()
            ));
        }
        None
    }
}

/// The secrets used to call the backend; write-only (never returned by the API).
#[derive(Clone, Default, PartialEq, Deserialize)]
pub struct ActionSecrets {
    /// Sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// Signs every request (HMAC-SHA256, see `docs/actions.md`).
    #[serde(default)]
    pub signing_secret: Option<String>,
}

impl std::fmt::Debug for ActionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionSecrets")
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .field(
                "signing_secret",
                &self.signing_secret.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// An action as registered (create, or the result of applying an update).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActionSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the parameters (see [`schema`]).
    pub parameters: Value,
    pub url: String,
    /// `POST` (default), `PUT` or `PATCH`.
    pub method: String,
    pub secrets: ActionSecrets,
    pub timeout_ms: i64,
    pub kind: ActionKind,
    pub requires_confirmation: bool,
    pub idempotent: bool,
    pub limits: Vec<Limit>,
    pub examples: Vec<String>,
    pub intents: Vec<String>,
    pub response_template: Option<String>,
    pub sensitive_fields: Vec<String>,
    pub enabled: bool,
}

impl ActionSpec {
    /// Checks every field, naming the first bad one (422 for the client). The URL passes the
    /// SSRF guard (resolving its host name).
    pub async fn check(&mut self, guard: &UrlGuard) -> Result<()> {
        let bad = |m: String| Err(Error::unprocessable(m));
        self.name = self.name.trim().to_string();
        if !valid_name(&self.name) {
            return bad("name: must be 1-64 characters of lowercase letters, digits and '_', starting with a letter".into());
        }
        if self.name == HUMAN_HANDOFF {
            return bad(format!("name: '{HUMAN_HANDOFF}' is the built-in action"));
        }
        if self.description.trim().is_empty()
            || self.description.chars().count() > MAX_DESCRIPTION_CHARS
        {
            return bad(format!(
                "description: must be 1-{MAX_DESCRIPTION_CHARS} characters"
            ));
        }
        if self.parameters.to_string().len() > MAX_SCHEMA_BYTES {
            return bad(format!(
                "parameters: must be at most {MAX_SCHEMA_BYTES} bytes"
            ));
        }
        schema::check_schema(&self.parameters).map_err(Error::unprocessable)?;
        let url = guard.check_url(&self.url)?;
        guard.check_resolved(&url).await?;
        self.url = url.to_string();
        self.method = self.method.trim().to_ascii_uppercase();
        if !matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            return bad(
                "method: must be POST, PUT or PATCH (the parameters travel as a JSON body)".into(),
            );
        }
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return bad(format!(
                "timeout_ms: must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"
            ));
        }
        for secret in [&self.secrets.bearer_token, &self.secrets.signing_secret]
            .into_iter()
            .flatten()
        {
            if secret.is_empty()
                || secret.chars().count() > MAX_SECRET_CHARS
                || secret.chars().any(char::is_control)
            {
                return bad(format!(
                    "auth: secrets must be 1-{MAX_SECRET_CHARS} printable characters"
                ));
            }
        }
        let properties = self
            .parameters
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for limit in &self.limits {
            let numeric = properties.get(&limit.parameter).is_some_and(|p| {
                matches!(
                    p.get("type").and_then(Value::as_str),
                    Some("number" | "integer")
                )
            });
            if !numeric {
                return bad(format!(
                    "limits: '{}' is not a number or integer parameter",
                    limit.parameter
                ));
            }
            if limit.max.is_none() && limit.min.is_none() {
                return bad(format!(
                    "limits: '{}' needs a max or a min",
                    limit.parameter
                ));
            }
        }
        for field in &self.sensitive_fields {
            if !properties.contains_key(field) {
                return bad(format!("sensitive_fields: '{field}' is not a parameter"));
            }
        }
        if self.examples.len() > MAX_EXAMPLES
            || self
                .examples
                .iter()
                .any(|e| e.trim().is_empty() || e.chars().count() > MAX_EXAMPLE_CHARS)
        {
            return bad(format!(
                "examples: at most {MAX_EXAMPLES} non-empty utterances of at most {MAX_EXAMPLE_CHARS} characters"
            ));
        }
        for intent in &self.intents {
            if !valid_name(intent) {
                return bad(format!("intents: '{intent}' is not an intent label"));
            }
        }
        if let Some(template) = &self.response_template {
            if template.trim().is_empty() || template.chars().count() > MAX_TEMPLATE_CHARS {
                return bad(format!(
                    "response_template: must be 1-{MAX_TEMPLATE_CHARS} characters"
                ));
            }
            for name in super::render::placeholders(template) {
                let known = name.starts_with("result")
                    || properties.contains_key(name.split('.').next().unwrap_or_default());
                if !known {
                    return bad(format!(
                        "response_template: '{{{{{name}}}}}' is neither a parameter nor result.<field>"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// An action as stored and used by the agent (no secrets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub id: ActionId,
    pub name: String,
    pub description: String,
    pub parameters: Value,
    pub url: String,
    pub method: String,
    pub timeout_ms: i64,
    pub kind: ActionKind,
    pub requires_confirmation: bool,
    pub idempotent: bool,
    pub limits: Vec<Limit>,
    pub examples: Vec<String>,
    pub intents: Vec<String>,
    pub response_template: Option<String>,
    pub sensitive_fields: Vec<String>,
    pub enabled: bool,
    pub has_bearer_token: bool,
    pub has_signing_secret: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Action {
    /// The spec this action was registered with (secrets empty: an update keeps the stored
    /// ones unless it names new ones).
    pub fn to_spec(&self) -> ActionSpec {
        ActionSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
            url: self.url.clone(),
            method: self.method.clone(),
            secrets: ActionSecrets::default(),
            timeout_ms: self.timeout_ms,
            kind: self.kind,
            requires_confirmation: self.requires_confirmation,
            idempotent: self.idempotent,
            limits: self.limits.clone(),
            examples: self.examples.clone(),
            intents: self.intents.clone(),
            response_template: self.response_template.clone(),
            sensitive_fields: self.sensitive_fields.clone(),
            enabled: self.enabled,
        }
    }

    /// The properties of the parameter schema, in schema order.
    pub fn properties(&self) -> Vec<(&str, &Value)> {
        self.parameters
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default()
    }

    /// The required parameter names.
    pub fn required(&self) -> Vec<&str> {
        self.parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the customer must say yes before the call.
    pub fn needs_confirmation(&self) -> bool {
        self.kind == ActionKind::Write && self.requires_confirmation
    }

    /// Whether a failed call may be repeated: reads, and writes whose backend honours the
    /// idempotency key.
    pub fn retry_safe(&self) -> bool {
        self.kind == ActionKind::Read || self.idempotent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_name_the_breach() {
        let limit = Limit {
            parameter: "amount".into(),
            max: Some(100.0),
            min: None,
        };
        let over = json!({"amount": 150})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let under = json!({"amount": 99.5})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            limit.breach(&over).as_deref(),
            Some("amount 150 is above the limit of 100")
        );
        assert_eq!(limit.breach(&under), None);
    }

    #[test]
    fn names_are_function_safe() {
        assert!(valid_name("order_status"));
        assert!(!valid_name("Order"));
        assert!(!valid_name("1x"));
        assert!(!valid_name("a-b"));
    }
}
