//! Managing an organization's intents (the dashboard's `/api/v1/dashboard/intents`): list the
//! effective set, create or replace an intent with its examples, delete one, reset to the
//! shipped defaults. Plain functions over the [`Store`]; the [`IntentService`] notices every
//! change on the next message (it compares the stored version), on every replica.
//!
//! [`IntentService`]: super::IntentService

use super::defaults::default_labels;
use super::service::{effective_intents, IntentDefinition};
use crate::error::{Error, Result};
use crate::ids::OrganizationId;
use crate::store::Store;

/// Longest label accepted.
pub const MAX_LABEL_CHARS: usize = 64;
/// Examples per intent: at least one to learn from, at most enough for any real intent.
pub const MAX_EXAMPLES: usize = 500;
/// Longest example accepted (characters).
pub const MAX_EXAMPLE_CHARS: usize = 500;
/// Intents per organization.
pub const MAX_INTENTS: usize = 300;

/// Labels are `snake_case`: a lowercase letter, then lowercase letters, digits or `_`.
pub fn validate_label(label: &str) -> Result<()> {
    let mut chars = label.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || label.len() > MAX_LABEL_CHARS {
        return Err(Error::unprocessable(format!(
            "label must be snake_case (a-z, 0-9, _), start with a letter and have at most \
             {MAX_LABEL_CHARS} characters; got '{label}'"
        )));
    }
    Ok(())
}

/// Trims examples, drops blank and duplicate ones, and checks the limits.
pub fn clean_examples(examples: &[String]) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for example in examples {
        let example = example.trim();
        if example.is_empty() || clean.iter().any(|e| e == example) {
            continue;
        }
        if example.chars().count() > MAX_EXAMPLE_CHARS {
            return Err(Error::unprocessable(format!(
                "an example is longer than {MAX_EXAMPLE_CHARS} characters"
            )));
        }
        clean.push(example.to_string());
    }
    if clean.is_empty() {
        return Err(Error::unprocessable(
            "an intent needs at least one non-empty example",
        ));
    }
    if clean.len() > MAX_EXAMPLES {
        return Err(Error::unprocessable(format!(
            "an intent takes at most {MAX_EXAMPLES} examples; got {}",
            clean.len()
        )));
    }
    Ok(clean)
}

/// The organization's effective intent set.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn list_intents(store: &Store, org: &OrganizationId) -> Result<Vec<IntentDefinition>> {
    Ok(effective_intents(&store.intent_rows(org).await?))
}

/// Creates an intent, or replaces the examples of an existing one (default or custom).
/// Returns the intent as it now stands.
#[tracing::instrument(skip_all, fields(org = %org, label))]
pub async fn put_intent(
    store: &Store,
    org: &OrganizationId,
    label: &str,
    description: &str,
    examples: &[String],
) -> Result<IntentDefinition> {
    validate_label(label)?;
    let examples = clean_examples(examples)?;
    let current = list_intents(store, org).await?;
    if current.len() >= MAX_INTENTS && !current.iter().any(|d| d.label == label) {
        return Err(Error::unprocessable(format!(
            "an organization can have at most {MAX_INTENTS} intents"
        )));
    }
    store
        .put_intent(org, label, description.trim(), &examples)
        .await?;
    list_intents(store, org)
        .await?
        .into_iter()
        .find(|d| d.label == label)
        .ok_or_else(|| Error::internal("a stored intent is missing from the effective set"))
}

/// Removes an intent from the organization's set: a custom one is deleted, a default one is
/// hidden. `NotFound` when the set has no such intent.
#[tracing::instrument(skip_all, fields(org = %org, label))]
pub async fn delete_intent(store: &Store, org: &OrganizationId, label: &str) -> Result<()> {
    let current = list_intents(store, org).await?;
    if !current.iter().any(|d| d.label == label) {
        return Err(Error::not_found(format!("no intent '{label}'")));
    }
    if default_labels().iter().any(|l| l == label) {
        store.disable_intent(org, label).await
    } else {
        store.delete_intent_row(org, label).await.map(|_| ())
    }
}

/// Discards every change: the organization is back on the shipped defaults. Returns how many
/// changes were discarded.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn reset_intents(store: &Store, org: &OrganizationId) -> Result<u64> {
    store.reset_intents(org).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_must_be_snake_case() {
        assert!(validate_label("loyalty_points2").is_ok());
        for bad in ["", "Loyalty", "2fa", "has space", "dash-ed"] {
            assert!(validate_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn examples_are_trimmed_and_deduplicated() {
        let examples = vec![
            " hi ".to_string(),
            "hi".to_string(),
            "  ".to_string(),
            "hello".to_string(),
        ];
        assert_eq!(clean_examples(&examples).unwrap(), ["hi", "hello"]);
        assert!(clean_examples(&[" ".to_string()]).is_err());
    }
}
