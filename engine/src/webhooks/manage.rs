//! The plain async functions behind the subscription API: each validates its input, calls the
//! store and returns what the client sees. The HTTP handlers, the tests and the benchmark call
//! these.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::signing::generate_secret;
use super::WebhookSettings;
use crate::error::{Error, Result};
use crate::events::EventType;
use crate::ids::{EventId, OrganizationId, WebhookId};
use crate::store::events::StoredEvent;
use crate::store::webhooks::{Attempt, NewWebhook, Webhook, WebhookPatch};
use crate::store::{now_ms, Store};

/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Default and largest page sizes of the delivery log and the event list.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;
/// Longest time range one replay may cover.
pub const MAX_REPLAY_RANGE_MS: i64 = 31 * 24 * 60 * 60 * 1000;

/// A new endpoint as the client describes it.
#[derive(Debug, Clone, Default)]
pub struct CreateWebhook {
    pub url: String,
    /// Event types, or `["*"]`; `None` means all.
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// A page of the delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptPage {
    pub data: Vec<Attempt>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of events.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub data: Vec<StoredEvent>,
    pub next_cursor: Option<String>,
}

/// Creates an endpoint; returns it with its signing secret, which is never shown again.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create_webhook(
    store: &Store,
    settings: &WebhookSettings,
    org: &OrganizationId,
    input: CreateWebhook,
) -> Result<(Webhook, String)> {
    let url = check_url(settings, &input.url).await?;
    let events = normalize_events(input.events.unwrap_or_else(|| vec!["*".into()]))?;
    let description = check_description(input.description.unwrap_or_default())?;
    let secret = generate_secret();
    let new = NewWebhook {
        url,
        description,
        events,
        enabled: input.enabled.unwrap_or(true),
        secret: secret.clone(),
    };
    let webhook = store.insert_webhook(org, &new).await?;
    Ok((webhook, secret))
}

/// Returns the organization's endpoint or a 404.
pub async fn get_webhook(store: &Store, org: &OrganizationId, id: &WebhookId) -> Result<Webhook> {
    store.webhook(org, id).await?.ok_or_else(|| not_found(id))
}

/// Applies a partial update, validating what it changes.
#[tracing::instrument(skip_all, fields(org = %org, webhook = %id))]
pub async fn update_webhook(
    store: &Store,
    settings: &WebhookSettings,
    org: &OrganizationId,
    id: &WebhookId,
    mut patch: WebhookPatch,
) -> Result<Webhook> {
    if let Some(url) = &patch.url {
        patch.url = Some(check_url(settings, url).await?);
    }
    patch.events = patch.events.map(normalize_events).transpose()?;
    patch.description = patch.description.map(check_description).transpose()?;
    store
        .update_webhook(org, id, &patch)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Deletes an endpoint with its deliveries and log.
pub async fn delete_webhook(store: &Store, org: &OrganizationId, id: &WebhookId) -> Result<()> {
    if store.delete_webhook(org, id).await? {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// Issues a new signing secret, returned once; the old one keeps signing for the settings'
/// grace period, so receivers can switch without dropping a delivery.
#[tracing::instrument(skip_all, fields(org = %org, webhook = %id))]
pub async fn rotate_secret(
    store: &Store,
    settings: &WebhookSettings,
    org: &OrganizationId,
    id: &WebhookId,
) -> Result<(Webhook, String)> {
    let secret = generate_secret();
    let grace_ms = i64::try_from(settings.rotation_grace.as_millis()).unwrap_or(i64::MAX / 2);
    let webhook = store
        .rotate_webhook_secret(org, id, &secret, now_ms() + grace_ms)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok((webhook, secret))
}

/// Queues a `ping` event for this endpoint only.
pub async fn send_test(store: &Store, org: &OrganizationId, id: &WebhookId) -> Result<EventId> {
    get_webhook(store, org, id).await?;
    store.record_ping(org, id).await
}

/// Returns a page of the endpoint's delivery log, newest first.
pub async fn attempts(
    store: &Store,
    org: &OrganizationId,
    id: &WebhookId,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<AttemptPage> {
    get_webhook(store, org, id).await?;
    let limit = page_size(limit)?;
    let before = cursor.map(decode_cursor).transpose()?;
    let mut data = store
        .webhook_attempts(
            org,
            id,
            before.as_ref().map(|(at, id)| (*at, id.as_str())),
            limit + 1,
        )
        .await?;
    let next_cursor = next_cursor(&mut data, limit, |a| (a.created_at, a.id.as_str()));
    Ok(AttemptPage { data, next_cursor })
}

/// Returns a page of the organization's events, newest first, optionally of one type.
pub async fn events(
    store: &Store,
    org: &OrganizationId,
    event_type: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<EventPage> {
    let event_type = event_type.map(EventType::parse).transpose()?;
    let limit = page_size(limit)?;
    let before = cursor.map(decode_cursor).transpose()?;
    let mut data = store
        .events(
            org,
            event_type,
            before.as_ref().map(|(at, id)| (*at, id.as_str())),
            limit + 1,
        )
        .await?;
    let next_cursor = next_cursor(&mut data, limit, |e| (e.created_at, e.id.as_str()));
    Ok(EventPage { data, next_cursor })
}

/// Sends event `id` again to its endpoints, or to `webhook` only.
pub async fn replay_event(
    store: &Store,
    org: &OrganizationId,
    id: &EventId,
    webhook: Option<&WebhookId>,
) -> Result<u64> {
    if let Some(webhook) = webhook {
        get_webhook(store, org, webhook).await?;
    }
    store.replay_event(org, id, webhook).await
}

/// Sends every event recorded between `from` and `to` (RFC 3339, `to` excluded) that the
/// endpoint subscribes to again.
pub async fn replay_range(
    store: &Store,
    org: &OrganizationId,
    id: &WebhookId,
    from: &str,
    to: &str,
) -> Result<u64> {
    let from_ms = parse_time("from", from)?;
    let to_ms = parse_time("to", to)?;
    if to_ms <= from_ms {
        return Err(Error::unprocessable("to: must be later than from"));
    }
    if to_ms - from_ms > MAX_REPLAY_RANGE_MS {
        return Err(Error::unprocessable(
            "to: a replay may cover at most 31 days; split the range",
        ));
    }
    store.replay_range(org, id, from_ms, to_ms).await
}

async fn check_url(settings: &WebhookSettings, raw: &str) -> Result<String> {
    let guard = settings.guard();
    let url = guard.check_url(raw)?;
    guard.check_resolved(&url).await?;
    Ok(url.to_string())
}

/// Checks the subscribed event types: known names or `*` (which then stands alone), without
/// duplicates, at least one.
pub fn normalize_events(events: Vec<String>) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(Error::unprocessable(
            "events: list at least one event type, or \"*\" for all",
        ));
    }
    if events.iter().any(|e| e == "*") {
        return Ok(vec!["*".into()]);
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for event in events {
        let parsed = EventType::parse(&event)
            .map_err(|e| Error::unprocessable(format!("events: {}", e.message())))?;
        if !out.iter().any(|e| e == parsed.as_str()) {
            out.push(parsed.as_str().to_owned());
        }
    }
    Ok(out)
}

fn check_description(description: String) -> Result<String> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::unprocessable(format!(
            "description: must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(description)
}

fn parse_time(field: &str, raw: &str) -> Result<i64> {
    let at = OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
        Error::unprocessable(format!(
            "{field}: must be an RFC 3339 time like 2026-03-11T14:22:00Z"
        ))
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| Error::unprocessable(format!("{field}: out of range")))
}

fn page_size(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(format!(
            "limit: must be between 1 and {MAX_PAGE}"
        ))),
    }
}

/// Trims a page fetched with one extra row and returns the cursor of its last row when more
/// follow.
fn next_cursor<T>(
    rows: &mut Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> (i64, &str),
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|row| {
        let (at, id) = key(row);
        URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
    })
}

fn decode_cursor(raw: &str) -> Result<(i64, String)> {
    let invalid = || Error::invalid("cursor: not a cursor returned by this endpoint");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once(':').ok_or_else(invalid)?;
    let at = at.parse().map_err(|_| invalid())?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(invalid());
    }
    Ok((at, id.to_owned()))
}

fn not_found(id: &WebhookId) -> Error {
    Error::not_found(format!("no webhook '{id}' in this organization"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_subscription_stands_alone_and_names_are_checked() {
        let all = normalize_events(vec!["message.sent".into(), "*".into()]).unwrap();
        assert_eq!(all, ["*"]);
        let some = normalize_events(vec!["message.sent".into(), "message.sent".into()]).unwrap();
        assert_eq!(some, ["message.sent"]);
        let err = normalize_events(vec!["message.deleted".into()]).unwrap_err();
        assert!(err.message().starts_with("events:"), "{err}");
        assert!(normalize_events(Vec::new()).is_err());
    }

    #[test]
    fn replay_times_must_be_rfc3339() {
        assert_eq!(parse_time("from", "1970-01-01T00:00:01Z").unwrap(), 1000);
        let err = parse_time("from", "yesterday").unwrap_err();
        assert!(err.message().starts_with("from:"), "{err}");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let mut rows = vec![
            (3, "att_c".to_owned()),
            (2, "att_b".to_owned()),
            (1, "att_a".into()),
        ];
        let cursor = next_cursor(&mut rows, 2, |r| (r.0, r.1.as_str())).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(decode_cursor(&cursor).unwrap(), (2, "att_b".to_owned()));
        assert!(decode_cursor("garbage!").is_err());
    }
}
