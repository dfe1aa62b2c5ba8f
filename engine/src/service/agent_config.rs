//! Reading and patching an organization's agent configuration. A patch is a JSON merge patch
//! (RFC 7396) over the current configuration: fields it names are replaced, nested objects are
//! merged, `null` resets a field to its default. The result must deserialize into
//! [`AgentConfig`] (unknown fields are refused) and pass [`validate`].

use serde_json::Value;

use crate::config::AgentConfig;
use crate::error::{Error, Result, ResultExt};
use crate::ids::OrganizationId;
use crate::store::Store;

const MAX_NAME: usize = 80;
const MAX_GOAL: usize = 2_000;
const MAX_GREETING: usize = 500;
const MAX_INSTRUCTIONS: usize = 4_000;
const MAX_LIST_ITEMS: usize = 100;
const MAX_LIST_ITEM: usize = 200;
const MAX_URL: usize = 2_000;
const MAX_FAILED_TURNS: u32 = 20;
const PII_KINDS: [&str; 5] = ["card", "iban", "email", "phone", "national_id"];

/// Returns the organization's configuration, or the defaults when it never saved one.
pub async fn get_agent_config(store: &Store, org: &OrganizationId) -> Result<AgentConfig> {
    Ok(store.agent_config(org).await?.unwrap_or_default())
}

/// Applies a merge patch to the organization's configuration, validates and stores it.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn patch_agent_config(
    store: &Store,
    org: &OrganizationId,
    patch: Value,
) -> Result<AgentConfig> {
    if !patch.is_object() {
        return Err(Error::invalid("the body must be a JSON object"));
    }
    let current = get_agent_config(store, org).await?;
    let mut merged = serde_json::to_value(&current).or_internal("encoding the configuration")?;
    merge_patch(&mut merged, patch);
    let config: AgentConfig = serde_path_to_error::deserialize(merged).map_err(|e| {
        let path = e.path().to_string();
        Error::unprocessable(format!("{path}: {}", e.into_inner()))
    })?;
    validate(&config)?;
    store.put_agent_config(org, &config).await?;
    Ok(config)
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge_patch(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

/// Checks lengths, formats and enumerations of a configuration, naming the first bad field.
pub fn validate(config: &AgentConfig) -> Result<()> {
    text("name", &config.name, 1, MAX_NAME)?;
    text("goal", &config.goal, 0, MAX_GOAL)?;
    text("greeting", &config.greeting, 1, MAX_GREETING)?;
    let g = &config.guardrails;
    text(
        "guardrails.instructions",
        &g.instructions,
        0,
        MAX_INSTRUCTIONS,
    )?;
    list("guardrails.blocked_topics", &g.blocked_topics)?;
    list("guardrails.escalation_keywords", &g.escalation_keywords)?;
    for kind in &g.redact_pii {
        if !PII_KINDS.contains(&kind.as_str()) {
            return Err(bad(
                "guardrails.redact_pii",
                &format!("unknown kind '{kind}' (known: {})", PII_KINDS.join(", ")),
            ));
        }
    }
    if g.max_failed_turns > MAX_FAILED_TURNS {
        return Err(bad(
            "guardrails.max_failed_turns",
            &format!("must be at most {MAX_FAILED_TURNS}"),
        ));
    }
    if !is_hex_colour(&config.brand.accent_color) {
        return Err(bad("brand.accent_color", "must be a colour like #6366f1"));
    }
    if let Some(url) = &config.brand.avatar_url {
        web_url("brand.avatar_url", url, false)?;
    }
    if !(config.default_language.len() == 2
        && config
            .default_language
            .bytes()
            .all(|b| b.is_ascii_lowercase()))
    {
        return Err(bad(
            "default_language",
            "must be a two-letter ISO 639-1 code like 'en'",
        ));
    }
    if config.allowed_origins.len() > MAX_LIST_ITEMS {
        return Err(bad(
            "allowed_origins",
            &format!("must have at most {MAX_LIST_ITEMS} entries"),
        ));
    }
    for origin in &config.allowed_origins {
        web_url("allowed_origins", origin, true)?;
    }
    Ok(())
}

fn bad(field: &str, why: &str) -> Error {
    Error::unprocessable(format!("{field}: {why}"))
}

fn text(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.trim().chars().count();
    if n < min {
        return Err(bad(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(bad(field, &format!("must be at most {max} characters")));
    }
    Ok(())
}

fn list(field: &str, items: &[String]) -> Result<()> {
    if items.len() > MAX_LIST_ITEMS {
        return Err(bad(
            field,
            &format!("must have at most {MAX_LIST_ITEMS} entries"),
        ));
    }
    for item in items {
        text(field, item, 1, MAX_LIST_ITEM)?;
    }
    Ok(())
}

fn is_hex_colour(raw: &str) -> bool {
    raw.len() == 7 && raw.starts_with('#') && raw[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Accepts `http`/`https` URLs only; an origin must not carry a path.
fn web_url(field: &str, raw: &str, origin_only: bool) -> Result<()> {
    if raw.chars().count() > MAX_URL {
        return Err(bad(field, &format!("must be at most {MAX_URL} characters")));
    }
    let url = url::Url::parse(raw).map_err(|_| bad(field, "must be an absolute http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(field, "must be an absolute http(s) URL"));
    }
    if origin_only && (url.path() != "/" || url.query().is_some() || raw.ends_with('/')) {
        return Err(bad(
            field,
            "must be an origin like https://shop.example (no path)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_merge_patch_replaces_named_fields_and_keeps_the_rest() {
        let mut target =
            json!({"name": "A", "brand": {"accent_color": "#000000", "avatar_url": null}});
        merge_patch(&mut target, json!({"brand": {"accent_color": "#ffffff"}}));
        assert_eq!(
            target,
            json!({"name": "A", "brand": {"accent_color": "#ffffff", "avatar_url": null}})
        );
    }

    #[test]
    fn the_defaults_are_valid() {
        validate(&AgentConfig::default()).unwrap();
    }

    #[test]
    fn bad_colours_urls_and_languages_name_their_field() {
        let mut config = AgentConfig::default();
        config.brand.accent_color = "red".into();
        assert!(validate(&config)
            .unwrap_err()
            .message()
            .starts_with("brand.accent_color"));
        let mut config = AgentConfig::default();
        config.brand.avatar_url = Some("javascript:alert(1)".into());
        assert!(validate(&config)
            .unwrap_err()
            .message()
            .starts_with("brand.avatar_url"));
        let config = AgentConfig {
            default_language: "english".into(),
            ..AgentConfig::default()
        };
        assert!(validate(&config)
            .unwrap_err()
            .message()
            .starts_with("default_language"));
        let config = AgentConfig {
            allowed_origins: vec!["https://shop.example/path".into()],
            ..AgentConfig::default()
        };
        assert!(validate(&config)
            .unwrap_err()
            .message()
            .starts_with("allowed_origins"));
    }
}
