//! The body of an event as every endpoint receives it. It is built once, when the event is
//! recorded, and stored as text: retries and replays send exactly the same bytes, and the
//! signature covers those bytes.

use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::EventType;
use crate::error::{Result, ResultExt};
use crate::ids::{EventId, OrganizationId};

/// The wire shape: the product brief's `event`, `timestamp`, `organization_id`, `data`, plus
/// the event's unique `id` (stable across retries, for de-duplication).
#[derive(Debug, Serialize)]
struct Body<'a> {
    id: &'a str,
    event: &'a str,
    timestamp: String,
    organization_id: &'a str,
    data: &'a Value,
}

/// Returns the compact JSON body of an event created at `created_at_ms` (unix milliseconds).
pub fn build(
    id: &EventId,
    event: EventType,
    created_at_ms: i64,
    organization_id: &OrganizationId,
    data: &Value,
) -> Result<String> {
    let body = Body {
        id: id.as_str(),
        event: event.as_str(),
        timestamp: rfc3339(created_at_ms)?,
        organization_id: organization_id.as_str(),
        data,
    };
    serde_json::to_string(&body).or_internal("encoding an event payload")
}

/// Formats unix milliseconds as RFC 3339 in UTC (`2026-03-11T14:22:00.123Z`).
pub fn rfc3339(ms: i64) -> Result<String> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .or_internal("an event timestamp is out of range")?;
    at.format(&Rfc3339)
        .or_internal("formatting an event timestamp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_brief_shape_with_a_stable_id() {
        let id = EventId::new();
        let org = OrganizationId::new();
        let data = serde_json::json!({"conversation_id": "conv_abc", "message": "Hi"});
        let raw = build(
            &id,
            EventType::MessageReceived,
            1_773_238_920_000,
            &org,
            &data,
        )
        .unwrap();
        let body: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["event"], "message.received");
        assert_eq!(body["timestamp"], "2026-03-11T14:22:00Z");
        assert_eq!(body["organization_id"], org.as_str());
        assert_eq!(body["data"]["message"], "Hi");
        assert!(raw.starts_with("{\"id\":"), "{raw}");
    }
}
