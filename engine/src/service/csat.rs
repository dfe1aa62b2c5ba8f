//! Customer satisfaction (CSAT): one rating from 1 to 5 per conversation, with an optional
//! comment. A second submission replaces the first and says so (`replaced: true`); each
//! submission emits `csat.submitted` in the same transaction.

use serde_json::json;

use super::lifecycle::{event, event_base, not_found, with};
use crate::error::{Error, Result};
use crate::events::EventType;
use crate::ids::OrganizationId;
use crate::store::lifecycle::{CsatOutcome, NewCsat};
use crate::store::{now_ms, Store};

/// Longest comment accepted, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// Stores the rating of the organization's conversation `id` (404 when it has none).
#[tracing::instrument(skip_all, fields(org = %org, conversation = id))]
pub async fn submit_csat(
    store: &Store,
    org: &OrganizationId,
    id: &str,
    rating: i64,
    comment: Option<String>,
) -> Result<CsatOutcome> {
    if !(1..=5).contains(&rating) {
        return Err(Error::unprocessable(
            "rating: must be a whole number from 1 to 5",
        ));
    }
    let comment = comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(Error::unprocessable(format!(
            "comment: must be at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    let id = super::conversations::parse_conversation_id(id)?;
    let csat = NewCsat {
        rating,
        comment: comment.clone(),
        at: now_ms(),
    };
    store
        .submit_csat(org, &id, &csat, |state, replaced| {
            let data = with(
                &event_base(state),
                &[
                    ("rating", json!(rating)),
                    ("comment", json!(comment)),
                    ("replaced", json!(replaced)),
                    ("status", json!(state.status.as_str())),
                    ("resolved_by", json!(state.resolved_by)),
                ],
            );
            event(EventType::CsatSubmitted, data, state)
        })
        .await?
        .ok_or_else(|| not_found(&id))
}
