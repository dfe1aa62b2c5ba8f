//! Slot filling: values for an action's parameters found in the customer's message, the
//! request's `metadata`, customer memory and earlier messages of the conversation (in that
//! order of preference), driven by the parameter schema alone:
//!
//! - `enum`: a listed value named in the text (`express`, `next day` for `next_day`);
//! - `format: date`: an ISO date (`2026-12-24`), `today` or `tomorrow`; `format: time`:
//!   `15:30`; `format: email`: an e-mail address;
//! - `pattern`: a match of the pattern (anchors dropped) in the text, case-insensitively,
//!   then normalised to the case the pattern accepts (`a1234` -> `A1234`);
//! - `integer` / `number`: a number not already used by another parameter or a date;
//! - anything else (free text, booleans) only in answer to the question that asked for it.

use regex::Regex;
use serde_json::{Map, Value};

use super::schema::{self, EMAIL_BODY};
use super::spec::Action;
use crate::agent::{HistoryMessage, Role};
use crate::memory::{CustomerMemory, FactSource, NewFact};

/// Where values may come from besides the message.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub metadata: &'a Map<String, Value>,
    pub memory: &'a CustomerMemory,
    pub history: &'a [HistoryMessage],
}

/// Memory fact keys that hold a parameter of another name.
const MEMORY_ALIASES: [(&str, &str); 8] = [
    ("order_id", "order_number"),
    ("order", "order_number"),
    ("order_no", "order_number"),
    ("customer_email", "email"),
    ("email_address", "email"),
    ("customer_name", "name"),
    ("full_name", "name"),
    ("phone_number", "phone"),
];

/// Facts worth remembering from the parameters of a successful action: values of
/// parameters that name a memory fact (`order_id` -> `order_number`, `email`, ...), so the
/// next conversation does not ask again.
pub fn facts_to_remember(parameters: &Map<String, Value>) -> Vec<NewFact> {
    const KEYS: [&str; 4] = ["order_number", "email", "name", "phone"];
    parameters
        .iter()
        .filter_map(|(name, value)| {
            let key = MEMORY_ALIASES
                .iter()
                .find(|(param, _)| param == name)
                .map_or(name.as_str(), |(_, key)| *key);
            let text = value.as_str()?;
            KEYS.contains(&key).then(|| NewFact {
                key: key.to_string(),
                value: text.to_string(),
                source: FactSource::Rule,
                confidence: 0.9,
            })
        })
        .collect()
}

/// Fills what it can for a fresh action: the message first, then metadata, memory and the
/// conversation's earlier customer messages (typed values only there).
pub fn fill(action: &Action, message: &str, sources: Sources<'_>) -> Map<String, Value> {
    let mut found = from_text(action, message, None);
    for (name, rules) in action.properties() {
        if found.contains_key(name) {
            continue;
        }
        if let Some(v) = sources.metadata.get(name).filter(|v| is_scalar(v)) {
            found.insert(name.to_string(), v.clone());
            continue;
        }
        let key = MEMORY_ALIASES
            .iter()
            .find(|(param, _)| *param == name)
            .map_or(name, |(_, key)| *key);
        if let Some(v) = sources.memory.latest(key) {
            if let Some(value) = coerce(rules, v) {
                found.insert(name.to_string(), value);
                continue;
            }
        }
        for earlier in sources
            .history
            .iter()
            .rev()
            .filter(|m| m.role == Role::Customer)
        {
            let typed = from_text(action, &earlier.text, None);
            if let Some(v) = typed.get(name).filter(|_| is_typed(rules)) {
                found.insert(name.to_string(), v.clone());
                break;
            }
        }
    }
    found
}

/// Values for the action's parameters found in `text`. `asking` is the parameter the agent
/// just asked for: a bare answer ("A1234", "yes", "John") is taken for it.
pub fn from_text(action: &Action, text: &str, asking: Option<&str>) -> Map<String, Value> {
    let mut found = Map::new();
    let mut used: Vec<(usize, usize)> = Vec::new();
    // Dates and times are never numbers of another parameter.
    for re in [date_re(), time_re()].into_iter().flatten() {
        used.extend(re.find_iter(text).map(|m| (m.start(), m.end())));
    }
    let properties = action.properties();
    // Strongly typed values first, so numbers inside them are not taken as amounts.
    for (name, rules) in &properties {
        if let Some((value, span)) = typed_value(rules, text) {
            used.push(span);
            found.insert((*name).to_string(), value);
        }
    }
    for (name, rules) in &properties {
        if found.contains_key(*name) || !is_numeric(rules) {
            continue;
        }
        if let Some((value, span)) = number(text, &used) {
            used.push(span);
            found.insert((*name).to_string(), value);
        }
    }
    if let Some(name) = asking {
        if !found.contains_key(name) {
            if let Some((_, rules)) = properties.iter().find(|(n, _)| *n == name) {
                if let Some(value) = bare_answer(rules, text) {
                    found.insert(name.to_string(), value);
                }
            }
        }
    }
    found
}

fn typed_value(rules: &Value, text: &str) -> Option<(Value, (usize, usize))> {
    if let Some(values) = rules.get("enum").and_then(Value::as_array) {
        return enum_value(values, text);
    }
    match rules.get("format").and_then(Value::as_str) {
        Some("date") => return date_value(text),
        Some("time") => {
            let m = time_re()?.find(text)?;
            return Some((Value::from(m.as_str()), (m.start(), m.end())));
        }
        Some("email") => {
            let re = Regex::new(&format!(r"\b{EMAIL_BODY}\b")).ok()?;
            let m = re.find(text)?;
            return Some((Value::from(m.as_str()), (m.start(), m.end())));
        }
        _ => {}
    }
    let pattern = rules.get("pattern").and_then(Value::as_str)?;
    pattern_value(pattern, text)
}

fn enum_value(values: &[Value], text: &str) -> Option<(Value, (usize, usize))> {
    let lower = text.to_lowercase();
    values.iter().find_map(|v| {
        let raw = v.as_str()?;
        for variant in [
            raw.to_lowercase(),
            raw.to_lowercase().replace(['_', '-'], " "),
        ] {
            let re = Regex::new(&format!(r"\b{}\b", regex::escape(&variant))).ok()?;
            if let Some(m) = re.find(&lower) {
                return Some((v.clone(), (m.start(), m.end())));
            }
        }
        None
    })
}

fn date_value(text: &str) -> Option<(Value, (usize, usize))> {
    if let Some(m) = date_re()?.find(text) {
        if schema::parse_date(m.as_str()).is_some() {
            return Some((Value::from(m.as_str()), (m.start(), m.end())));
        }
    }
    let lower = text.to_lowercase();
    let today = time::OffsetDateTime::now_utc().date();
    for (word, days) in [("day after tomorrow", 2), ("tomorrow", 1), ("today", 0)] {
        if let Some(at) = lower.find(word) {
            let date = today.checked_add(time::Duration::days(days))?;
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            let formatted = date.format(&fmt).ok()?;
            return Some((Value::from(formatted), (at, at + word.len())));
        }
    }
    None
}

fn pattern_value(pattern: &str, text: &str) -> Option<(Value, (usize, usize))> {
    let exact = Regex::new(pattern).ok()?;
    let inner = pattern.strip_prefix('^').unwrap_or(pattern);
    let inner = inner
        .strip_suffix('$')
        .filter(|s| !s.ends_with('\\'))
        .unwrap_or(inner);
    let search = Regex::new(&format!(r"(?i)\b(?:{inner})\b")).ok()?;
    for m in search.find_iter(text) {
        let raw = m.as_str();
        for candidate in [raw.to_string(), raw.to_uppercase(), raw.to_lowercase()] {
            if exact.is_match(&candidate) {
                return Some((Value::from(candidate), (m.start(), m.end())));
            }
        }
    }
    None
}

fn number(text: &str, used: &[(usize, usize)]) -> Option<(Value, (usize, usize))> {
    let re = number_re()?;
    re.find_iter(text)
        .find(|m| !used.iter().any(|(s, e)| m.start() < *e && *s < m.end()))
        .and_then(|m| {
            let cleaned = m.as_str().replace(',', "");
            numeric_value(&cleaned).map(|v| (v, (m.start(), m.end())))
        })
}

fn numeric_value(raw: &str) -> Option<Value> {
    if let Ok(i) = raw.parse::<i64>() {
        return Some(Value::from(i));
    }
    raw.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::from)
}

/// The customer's whole (short) answer, taken for the parameter just asked for.
fn bare_answer(rules: &Value, text: &str) -> Option<Value> {
    let answer = text
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .trim()
        .to_string();
    if answer.is_empty() {
        return None;
    }
    match rules.get("type").and_then(Value::as_str) {
        Some("boolean") => match super::dialogue::yes_or_no(&answer) {
            Some(yes) => Some(Value::Bool(yes)),
            None => Some(Value::from(answer)),
        },
        Some("integer" | "number") => Some(numeric_value(&answer).unwrap_or(Value::from(answer))),
        _ => Some(Value::from(answer)),
    }
}

/// A stored text value turned into the parameter's type, when it fits.
fn coerce(rules: &Value, raw: &str) -> Option<Value> {
    let value = match rules.get("type").and_then(Value::as_str) {
        Some("integer" | "number") => numeric_value(raw)?,
        Some("string") | None => Value::from(raw),
        _ => return None,
    };
    let wrapper = serde_json::json!({"type": "object", "properties": {"v": rules}});
    schema::validate(&wrapper, &serde_json::json!({ "v": value }))
        .is_empty()
        .then_some(value)
}

fn is_scalar(v: &Value) -> bool {
    v.is_string() || v.is_number() || v.is_boolean()
}

fn is_numeric(rules: &Value) -> bool {
    matches!(
        rules.get("type").and_then(Value::as_str),
        Some("integer" | "number")
    )
}

/// Whether a value of this parameter can be recognised on its own (safe to take from an
/// earlier message).
fn is_typed(rules: &Value) -> bool {
    rules.get("pattern").is_some() || rules.get("format").is_some() || rules.get("enum").is_some()
}

fn cached(
    cell: &'static std::sync::OnceLock<Option<Regex>>,
    pattern: &str,
) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn date_re() -> Option<&'static Regex> {
    static RE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    cached(&RE, r"\b\d{4}-\d{2}-\d{2}\b")
}

fn time_re() -> Option<&'static Regex> {
    static RE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    cached(&RE, r"\b\d{1,2}:\d{2}\b")
}

fn number_re() -> Option<&'static Regex> {
    static RE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    cached(&RE, r"\b\d{1,3}(?:,\d{3})+(?:\.\d+)?\b|\b\d+(?:\.\d+)?\b")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::spec::ActionKind;
    use crate::ids::ActionId;
    use serde_json::json;

    fn action(parameters: Value) -> Action {
        Action {
            id: ActionId::new(),
            name: "refund".into(),
            description: "Refund".into(),
            parameters,
            url: "http://127.0.0.1/x".into(),
            method: "POST".into(),
            timeout_ms: 1000,
            kind: ActionKind::Write,
            requires_confirmation: true,
            idempotent: true,
            limits: vec![],
            examples: vec![],
            intents: vec![],
            response_template: None,
            sensitive_fields: vec![],
            enabled: true,
            has_bearer_token: false,
            has_signing_secret: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn refund() -> Action {
        action(json!({"type": "object", "properties": {
            "order_id": {"type": "string", "pattern": "^[A-Z][0-9]{4}$"},
            "amount": {"type": "number"},
            "reason": {"type": "string", "enum": ["damaged", "late", "wrong_item"]},
            "note": {"type": "string"}
        }, "required": ["order_id", "amount"]}))
    }

    #[test]
    fn typed_values_are_found_and_numbers_inside_ids_are_not_amounts() {
        let found = from_text(
            &refund(),
            "Please refund 49.90 for order a1234, it was the wrong item",
            None,
        );
        assert_eq!(found.get("order_id"), Some(&json!("A1234")));
        assert_eq!(found.get("amount"), Some(&json!(49.9)));
        assert_eq!(found.get("reason"), Some(&json!("wrong_item")));
        assert_eq!(found.get("note"), None);
    }

    #[test]
    fn a_bare_answer_is_taken_for_the_parameter_asked_for() {
        let found = from_text(&refund(), "it arrived broken", Some("note"));
        assert_eq!(found.get("note"), Some(&json!("it arrived broken")));
        let found = from_text(&refund(), "1234", Some("order_id"));
        assert_eq!(
            found.get("order_id"),
            Some(&json!("1234")),
            "kept for validation to explain"
        );
    }

    #[test]
    fn dates_and_emails_are_recognised() {
        let booking = action(json!({"type": "object", "properties": {
            "date": {"type": "string", "format": "date"},
            "email": {"type": "string", "format": "email"},
            "guests": {"type": "integer"}
        }}));
        let found = from_text(
            &booking,
            "Table for 4 on 2026-12-24, mail me at ann@example.com",
            None,
        );
        assert_eq!(found.get("date"), Some(&json!("2026-12-24")));
        assert_eq!(found.get("email"), Some(&json!("ann@example.com")));
        assert_eq!(found.get("guests"), Some(&json!(4)));
        let found = from_text(&booking, "tomorrow please", None);
        assert!(found
            .get("date")
            .and_then(Value::as_str)
            .is_some_and(|d| d.len() == 10));
    }

    #[test]
    fn metadata_and_memory_fill_what_the_message_lacks() {
        let metadata = json!({"amount": 20})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut memory = CustomerMemory::default();
        memory.merge(
            &[crate::memory::NewFact {
                key: "order_number".into(),
                value: "B7777".into(),
                source: crate::memory::FactSource::Rule,
                confidence: 0.9,
            }],
            1,
        );
        let sources = Sources {
            metadata: &metadata,
            memory: &memory,
            history: &[],
        };
        let found = fill(&refund(), "I want a refund", sources);
        assert_eq!(found.get("order_id"), Some(&json!("B7777")));
        assert_eq!(found.get("amount"), Some(&json!(20)));
    }
}
