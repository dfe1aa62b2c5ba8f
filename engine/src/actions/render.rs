//! Words around an action: response templates (`{{order_id}}`, `{{result.status}}`), a plain
//! summary of a backend result when there is no template, and redaction of sensitive
//! parameters for the audit log and events.

use serde_json::{Map, Value};

/// What replaces a sensitive value wherever it is shown or logged.
pub const REDACTED: &str = "[redacted]";
/// Longest summary of a result, in characters (a backend may return a lot).
const MAX_SUMMARY_CHARS: usize = 400;

/// The placeholder names in `template`, in order (`{{ name }}` -> `name`).
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

/// Fills `template`: `{{name}}` is a parameter, `{{result}}` / `{{result.a.b}}` a field of
/// the backend's JSON answer. A missing value renders as an empty string.
pub fn render(template: &str, parameters: &Map<String, Value>, result: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let value = if name == "result" {
            Some(result)
        } else if let Some(path) = name.strip_prefix("result.") {
            lookup(result, path)
        } else {
            let mut parts = name.splitn(2, '.');
            let head = parts.next().unwrap_or_default();
            parameters
                .get(head)
                .and_then(|v| parts.next().map_or(Some(v), |p| lookup(v, p)))
        };
        out.push_str(&value.map(scalar).unwrap_or_default());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A value as text: strings without quotes, numbers as written, lists joined.
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A plain sentence from a backend result: its `message` field when it has one (a backend
/// may word the answer itself), else its simple fields as `key: value`.
pub fn summarize(result: &Value) -> String {
    if let Some(message) = result.get("message").and_then(Value::as_str) {
        if !message.trim().is_empty() {
            return truncate(message.trim());
        }
    }
    let fields: Vec<String> = match result {
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_null())
            .map(|(k, v)| format!("{}: {}", k.replace('_', " "), scalar(v)))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![scalar(other)],
    };
    if fields.is_empty() {
        "Done.".to_string()
    } else {
        truncate(&format!("Done. {}.", fields.join(", ")))
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_SUMMARY_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_SUMMARY_CHARS).collect();
    format!("{}...", cut.trim_end())
}

/// `parameters` with every field named in `sensitive` replaced by [`REDACTED`].
pub fn redact(parameters: &Map<String, Value>, sensitive: &[String]) -> Value {
    Value::Object(
        parameters
            .iter()
            .map(|(k, v)| {
                if sensitive.iter().any(|s| s == k) {
                    (k.clone(), Value::from(REDACTED))
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect(),
    )
}

/// The parameters as a short human list: `order_id A1234, amount 50`.
pub fn describe(parameters: &Map<String, Value>, sensitive: &[String]) -> String {
    parameters
        .iter()
        .map(|(k, v)| {
            let shown = if sensitive.iter().any(|s| s == k) {
                REDACTED.to_string()
            } else {
                scalar(v)
            };
            format!("{} {}", k.replace('_', " "), shown)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_fill_parameters_and_result_fields() {
        let params = json!({"order_id": "A1234"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let result = json!({"status": "shipped", "items": [{"name": "tent"}]});
        let text = render(
            "Order {{order_id}} is {{ result.status }} ({{result.items.0.name}}){{missing}}.",
            &params,
            &result,
        );
        assert_eq!(text, "Order A1234 is shipped (tent).");
        assert_eq!(
            placeholders("{{a}} and {{ result.b }}"),
            vec!["a".to_string(), "result.b".to_string()]
        );
    }

    #[test]
    fn results_are_summarised_plainly() {
        assert_eq!(summarize(&json!({"message": "All set!"})), "All set!");
        assert_eq!(
            summarize(&json!({"status": "shipped", "order_id": "A1"})),
            "Done. status: shipped, order id: A1."
        );
    }

    #[test]
    fn sensitive_fields_are_redacted() {
        let params = json!({"card": "4111", "amount": 5})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let shown = redact(&params, &["card".into()]);
        assert_eq!(shown, json!({"card": "[redacted]", "amount": 5}));
        assert_eq!(
            describe(&params, &["card".into()]),
            "card [redacted], amount 5"
        );
    }
}
