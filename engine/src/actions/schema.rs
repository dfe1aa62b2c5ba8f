//! JSON Schema for action parameters: the subset an action needs, checked at registration
//! ([`check_schema`], which names the reason when a schema is refused) and applied to every
//! set of parameters before a backend is called ([`validate`]).
//!
//! Supported keywords: `type` (`object`, `string`, `integer`, `number`, `boolean`, `array`),
//! `properties`, `required`, `additionalProperties` (a boolean), `enum`, `const`, `pattern`,
//! `format` (`date`, `date-time`, `time`, `email`, `uri`), `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`, `items`, `minItems`,
//! `maxItems`; annotations (`title`, `description`, `default`, `examples`, `x-...`) are
//! accepted and ignored by validation. Anything else (`$ref`, `oneOf`, ...) is refused at
//! registration rather than silently not enforced.

use regex::Regex;
use serde_json::{Map, Value};

/// Keywords that carry no constraint.
const ANNOTATIONS: [&str; 6] = [
    "title",
    "description",
    "default",
    "examples",
    "$schema",
    "$comment",
];
/// Keywords this validator enforces.
const KEYWORDS: [&str; 19] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "items",
    "minItems",
    "maxItems",
    "readOnly",
    "writeOnly",
];
/// Formats this validator checks.
pub const FORMATS: [&str; 5] = ["date", "date-time", "time", "email", "uri"];
const TYPES: [&str; 7] = [
    "object", "string", "integer", "number", "boolean", "array", "null",
];
/// Deepest nesting accepted (objects in arrays in objects ...).
const MAX_DEPTH: usize = 6;

/// One problem with a set of parameters: the field (dotted path, empty for the whole object)
/// and a short reason a customer can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub reason: String,
    /// True when the field is required and absent (a follow-up question asks for it).
    pub missing: bool,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

/// Checks that `schema` is an object schema this validator fully enforces; the error names
/// the path and the reason.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    let Some(object) = schema.as_object() else {
        return Err("parameters: must be a JSON Schema object".into());
    };
    if object.get("type").and_then(Value::as_str) != Some("object") {
        return Err("parameters: the top-level schema must have \"type\": \"object\"".into());
    }
    check_node(schema, "parameters", 0)
}

fn check_node(schema: &Value, path: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested deeper than {MAX_DEPTH} levels"));
    }
    let Some(object) = schema.as_object() else {
        return Err(format!("{path}: must be a schema object"));
    };
    for key in object.keys() {
        if !(KEYWORDS.contains(&key.as_str())
            || ANNOTATIONS.contains(&key.as_str())
            || key.starts_with("x-"))
        {
            return Err(format!("{path}: the keyword '{key}' is not supported"));
        }
    }
    let types = types_of(object).map_err(|e| format!("{path}: {e}"))?;
    if types.is_empty() && !object.contains_key("enum") && !object.contains_key("const") {
        return Err(format!("{path}: needs a \"type\" (or an \"enum\")"));
    }
    if let Some(pattern) = object.get("pattern") {
        let raw = pattern
            .as_str()
            .ok_or_else(|| format!("{path}.pattern: must be a string"))?;
        Regex::new(raw)
            .map_err(|e| format!("{path}.pattern: not a valid regular expression ({e})"))?;
    }
    if let Some(format) = object.get("format") {
        let raw = format
            .as_str()
            .ok_or_else(|| format!("{path}.format: must be a string"))?;
        if !FORMATS.contains(&raw) {
            return Err(format!(
                "{path}.format: '{raw}' is not supported (use one of {})",
                FORMATS.join(", ")
            ));
        }
    }
    if let Some(values) = object.get("enum") {
        match values.as_array() {
            Some(list) if !list.is_empty() => {}
            _ => return Err(format!("{path}.enum: must be a non-empty array")),
        }
    }
    for key in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
        if let Some(v) = object.get(key) {
            if !v.is_number() {
                return Err(format!("{path}.{key}: must be a number"));
            }
        }
    }
    for key in ["minLength", "maxLength", "minItems", "maxItems"] {
        if let Some(v) = object.get(key) {
            if v.as_u64().is_none() {
                return Err(format!("{path}.{key}: must be a non-negative integer"));
            }
        }
    }
    let num = |k: &str| object.get(k).and_then(Value::as_f64);
    if let (Some(min), Some(max)) = (num("minimum"), num("maximum")) {
        if min > max {
            return Err(format!("{path}: minimum is greater than maximum"));
        }
    }
    if let (Some(min), Some(max)) = (num("minLength"), num("maxLength")) {
        if min > max {
            return Err(format!("{path}: minLength is greater than maxLength"));
        }
    }
    if let Some(extra) = object.get("additionalProperties") {
        if !extra.is_boolean() {
            return Err(format!(
                "{path}.additionalProperties: only true or false is supported"
            ));
        }
    }
    let properties = match object.get("properties") {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => return Err(format!("{path}.properties: must be an object")),
    };
    if let Some(properties) = properties {
        for (name, child) in properties {
            check_node(child, &format!("{path}.{name}"), depth + 1)?;
        }
    }
    if let Some(required) = object.get("required") {
        let list = required
            .as_array()
            .ok_or_else(|| format!("{path}.required: must be an array of property names"))?;
        for name in list {
            let name = name
                .as_str()
                .ok_or_else(|| format!("{path}.required: must be an array of property names"))?;
            if !properties.is_some_and(|p| p.contains_key(name)) {
                return Err(format!(
                    "{path}.required: '{name}' is not one of the properties"
                ));
            }
        }
    }
    if let Some(items) = object.get("items") {
        check_node(items, &format!("{path}.items"), depth + 1)?;
    }
    Ok(())
}

fn types_of(object: &Map<String, Value>) -> Result<Vec<&str>, String> {
    let list: Vec<&str> = match object.get("type") {
        None => Vec::new(),
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err("\"type\" must be a string or an array of strings".into()),
    };
    for t in &list {
        if !TYPES.contains(t) {
            return Err(format!("unknown type '{t}'"));
        }
    }
    Ok(list)
}

/// Validates `value` against `schema` (already accepted by [`check_schema`]); returns every
/// problem found, in property order.
pub fn validate(schema: &Value, value: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    validate_node(schema, value, "", &mut out);
    out
}

fn push(out: &mut Vec<Violation>, field: &str, reason: impl Into<String>) {
    out.push(Violation {
        field: field.to_string(),
        reason: reason.into(),
        missing: false,
    });
}

fn validate_node(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(rules) = schema.as_object() else {
        return;
    };
    let types = types_of(rules).unwrap_or_default();
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        push(out, path, format!("must be {}", types.join(" or ")));
        return;
    }
    if let Some(Value::Array(allowed)) = rules.get("enum") {
        if !allowed.iter().any(|a| equal(a, value)) {
            let names: Vec<String> = allowed.iter().map(short).collect();
            push(out, path, format!("must be one of {}", names.join(", ")));
            return;
        }
    }
    if let Some(expected) = rules.get("const") {
        if !equal(expected, value) {
            push(out, path, format!("must be {}", short(expected)));
            return;
        }
    }
    match value {
        Value::String(s) => validate_string(rules, s, path, out),
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                validate_number(rules, x, path, out);
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = rules.get("minItems").and_then(Value::as_u64) {
                if len < min {
                    push(out, path, format!("must have at least {min} items"));
                }
            }
            if let Some(max) = rules.get("maxItems").and_then(Value::as_u64) {
                if len > max {
                    push(out, path, format!("must have at most {max} items"));
                }
            }
            if let Some(item_schema) = rules.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_node(item_schema, item, &join(path, &i.to_string()), out);
                }
            }
        }
        Value::Object(fields) => validate_object(rules, fields, path, out),
        _ => {}
    }
}

fn validate_object(
    rules: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let properties = rules.get("properties").and_then(Value::as_object);
    if let Some(required) = rules.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if fields.get(name).is_none_or(Value::is_null) {
                out.push(Violation {
                    field: join(path, name),
                    reason: "is required".into(),
                    missing: true,
                });
            }
        }
    }
    if let Some(properties) = properties {
        for (name, child) in properties {
            if let Some(v) = fields.get(name).filter(|v| !v.is_null()) {
                validate_node(child, v, &join(path, name), out);
            }
        }
    }
    if rules.get("additionalProperties") == Some(&Value::Bool(false)) {
        for name in fields.keys() {
            if !properties.is_some_and(|p| p.contains_key(name)) {
                push(out, &join(path, name), "is not an accepted parameter");
            }
        }
    }
}

fn validate_string(rules: &Map<String, Value>, s: &str, path: &str, out: &mut Vec<Violation>) {
    let len = s.chars().count() as u64;
    if let Some(min) = rules.get("minLength").and_then(Value::as_u64) {
        if len < min {
            push(out, path, format!("must be at least {min} characters"));
        }
    }
    if let Some(max) = rules.get("maxLength").and_then(Value::as_u64) {
        if len > max {
            push(out, path, format!("must be at most {max} characters"));
        }
    }
    if let Some(pattern) = rules.get("pattern").and_then(Value::as_str) {
        // JSON Schema patterns are unanchored searches, like `Regex::is_match`.
        if Regex::new(pattern).is_ok_and(|re| !re.is_match(s)) {
            push(
                out,
                path,
                format!("does not have the expected form ({pattern})"),
            );
        }
    }
    if let Some(format) = rules.get("format").and_then(Value::as_str) {
        if let Err(reason) = check_format(format, s) {
            push(out, path, reason);
        }
    }
}

fn validate_number(rules: &Map<String, Value>, x: f64, path: &str, out: &mut Vec<Violation>) {
    let bound = |k: &str| rules.get(k).and_then(Value::as_f64);
    if let Some(min) = bound("minimum") {
        if x < min {
            push(out, path, format!("must be at least {}", trim_number(min)));
        }
    }
    if let Some(max) = bound("maximum") {
        if x > max {
            push(out, path, format!("must be at most {}", trim_number(max)));
        }
    }
    if let Some(min) = bound("exclusiveMinimum") {
        if x <= min {
            push(out, path, format!("must be more than {}", trim_number(min)));
        }
    }
    if let Some(max) = bound("exclusiveMaximum") {
        if x >= max {
            push(out, path, format!("must be less than {}", trim_number(max)));
        }
    }
}

/// Checks a string against a supported `format`.
pub fn check_format(format: &str, s: &str) -> Result<(), String> {
    let ok = match format {
        "date" => parse_date(s).is_some(),
        "date-time" => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }
        "time" => {
            let fmt = time::macros::format_description!("[hour]:[minute]");
            let fmt_s = time::macros::format_description!("[hour]:[minute]:[second]");
            time::Time::parse(s, &fmt).is_ok() || time::Time::parse(s, &fmt_s).is_ok()
        }
        "email" => is_email(s),
        "uri" => url::Url::parse(s).is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match format {
            "date" => "must be a date like 2026-12-24".into(),
            "date-time" => "must be a date and time like 2026-12-24T15:00:00Z".into(),
            "time" => "must be a time like 15:30".into(),
            "email" => "must be an e-mail address".into(),
            _ => format!("must be a valid {format}"),
        })
    }
}

/// Parses an ISO 8601 calendar date (`YYYY-MM-DD`).
pub fn parse_date(s: &str) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).ok()
}

/// Tells whether `s` has the e-mail shape accepted by `format: email`.
pub fn is_email(s: &str) -> bool {
    static RE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(EMAIL).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

/// The e-mail shape, unanchored (wrap it in `^...$` to match a whole string).
pub const EMAIL_BODY: &str =
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}";
const EMAIL: &str = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$";

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn trim_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refund() -> Value {
        json!({
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "pattern": "^[A-Z][0-9]{4}$"},
                "amount": {"type": "number", "minimum": 0.01, "maximum": 10000},
                "reason": {"type": "string", "enum": ["damaged", "late", "other"]},
                "email": {"type": "string", "format": "email"},
                "date": {"type": "string", "format": "date"}
            },
            "required": ["order_id", "amount"],
            "additionalProperties": false
        })
    }

    #[test]
    fn a_well_formed_schema_is_accepted() {
        assert_eq!(check_schema(&refund()), Ok(()));
    }

    #[test]
    fn bad_schemas_are_refused_with_the_reason() {
        let not_object = json!({"type": "string"});
        assert!(check_schema(&not_object)
            .unwrap_err()
            .contains("\"type\": \"object\""));
        let bad_pattern =
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}});
        assert!(check_schema(&bad_pattern)
            .unwrap_err()
            .contains("parameters.a.pattern"));
        let unknown_required = json!({"type": "object", "properties": {}, "required": ["x"]});
        assert!(check_schema(&unknown_required).unwrap_err().contains("'x'"));
        let reference = json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}});
        assert!(check_schema(&reference).unwrap_err().contains("$ref"));
        let format =
            json!({"type": "object", "properties": {"a": {"type": "string", "format": "ipv4"}}});
        assert!(check_schema(&format).unwrap_err().contains("ipv4"));
        let bounds = json!({"type": "object", "properties": {"a": {"type": "number", "minimum": 5, "maximum": 1}}});
        assert!(check_schema(&bounds).unwrap_err().contains("minimum"));
    }

    #[test]
    fn valid_parameters_pass_and_each_problem_is_named() {
        let schema = refund();
        let ok = json!({"order_id": "A1234", "amount": 25, "reason": "late", "email": "a@b.co", "date": "2026-12-24"});
        assert_eq!(validate(&schema, &ok), vec![]);
        let bad = json!({"order_id": "1234", "reason": "bored", "email": "nope", "date": "2026-13-40", "x": 1});
        let problems = validate(&schema, &bad);
        let fields: Vec<&str> = problems.iter().map(|v| v.field.as_str()).collect();
        // serde_json keeps insertion order here (its `preserve_order` feature is on in this
        // workspace): required first, then the properties in schema order.
        assert_eq!(
            fields,
            vec!["amount", "order_id", "reason", "email", "date", "x"]
        );
        assert!(problems[0].missing);
        assert!(problems[4].reason.contains("date"));
        assert!(!problems[1].missing);
    }

    #[test]
    fn numeric_bounds_and_integer_types_are_enforced() {
        let schema = json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 9}}});
        assert!(validate(&schema, &json!({"n": 3})).is_empty());
        assert_eq!(
            validate(&schema, &json!({"n": 3.5}))[0].reason,
            "must be integer"
        );
        assert_eq!(
            validate(&schema, &json!({"n": 10}))[0].reason,
            "must be at most 9"
        );
        assert_eq!(
            validate(&schema, &json!({"n": "3"}))[0].reason,
            "must be integer"
        );
    }
}
