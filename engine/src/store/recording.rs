//! Turn recording (issue 9): the per-organization switch and the recorded turns
//! (`recording_settings`, `turn_recordings`, migration 0009).
//!
//! The chat turn asks [`Store::recording_enabled`] once per turn; the answer is cached in the
//! process for [`super::cache::RECORDING_SWITCH_TTL`], so an organization that does not record
//! costs no query on most turns. [`Store::set_recording`] updates the cache of its own
//! process at once; other replicas see the change within that time.

use serde::Serialize;

use super::orgs::Organization;
use super::{now_ms, Store};
use crate::agent::trace::TurnTrace;
use crate::error::{Error, Result, ResultExt};
use crate::ids::{ConversationId, MessageId, OrganizationId, RecordingId};

/// An organization's recording switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecordingSettings {
    pub enabled: bool,
    /// When it was last changed (unix ms); `None` when it never was.
    pub updated_at: Option<i64>,
}

/// A turn to store.
#[derive(Debug, Clone)]
pub struct NewTurnRecording<'a> {
    pub organization_id: &'a OrganizationId,
    pub conversation_id: &'a ConversationId,
    pub customer_message_id: &'a MessageId,
    pub message_id: &'a MessageId,
    pub trace: &'a TurnTrace,
}

/// One recorded turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnRecording {
    pub id: String,
    pub conversation_id: String,
    pub customer_message_id: String,
    pub message_id: String,
    pub created_at: i64,
    pub trace: TurnTrace,
}

#[derive(sqlx::FromRow)]
struct RecordingRow {
    id: String,
    conversation_id: String,
    customer_message_id: String,
    message_id: String,
    trace: String,
    created_at: i64,
}

impl TryFrom<RecordingRow> for TurnRecording {
    type Error = Error;
    fn try_from(row: RecordingRow) -> Result<Self> {
        Ok(TurnRecording {
            trace: serde_json::from_str(&row.trace)
                .or_internal("a stored turn trace is unreadable")?,
            id: row.id,
            conversation_id: row.conversation_id,
            customer_message_id: row.customer_message_id,
            message_id: row.message_id,
            created_at: row.created_at,
        })
    }
}

impl Store {
    /// Whether the organization records its turns (cached, see the module's doc).
    pub async fn recording_enabled(&self, org: &OrganizationId) -> Result<bool> {
        let cache = &self.caches().recording_switches;
        if let Some(enabled) = cache.get(org.as_str()) {
            return Ok(enabled);
        }
        let read_from = cache.generation();
        let enabled = self.recording_settings(org).await?.enabled;
        cache.insert_since(read_from, org.as_str().to_owned(), enabled);
        Ok(enabled)
    }

    /// The organization's recording switch as stored (off when never set).
    pub async fn recording_settings(&self, org: &OrganizationId) -> Result<RecordingSettings> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "select enabled, updated_at from recording_settings where organization_id = $1",
        )
        .bind(org.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((enabled, updated_at)) => RecordingSettings {
                enabled: enabled != 0,
                updated_at: Some(updated_at),
            },
            None => RecordingSettings {
                enabled: false,
                updated_at: None,
            },
        })
    }

    /// Turns recording on or off for the organization.
    #[tracing::instrument(skip_all, fields(org = %org, enabled))]
    pub async fn set_recording(
        &self,
        org: &OrganizationId,
        enabled: bool,
    ) -> Result<RecordingSettings> {
        let now = now_ms();
        sqlx::query(
            "insert into recording_settings (organization_id, enabled, created_at, updated_at) \
             values ($1, $2, $3, $3) \
             on conflict (organization_id) do update set enabled = $2, updated_at = $3",
        )
        .bind(org.as_str())
        .bind(i64::from(enabled))
        .bind(now)
        .execute(self.writer())
        .await?;
        self.caches().recording_switches.remove(org.as_str());
        Ok(RecordingSettings {
            enabled,
            updated_at: Some(now),
        })
    }

    /// Stores one recorded turn. Its `created_at` is kept strictly after the conversation's
    /// previous recording, so the turns read back in order even within one millisecond.
    #[tracing::instrument(skip_all, fields(org = %new.organization_id))]
    pub async fn insert_turn_recording(&self, new: &NewTurnRecording<'_>) -> Result<RecordingId> {
        let trace = serde_json::to_string(new.trace).or_internal("encoding a turn trace")?;
        let (last,): (Option<i64>,) = sqlx::query_as(
            "select max(created_at) from turn_recordings \
             where organization_id = $1 and conversation_id = $2",
        )
        .bind(new.organization_id.as_str())
        .bind(new.conversation_id.as_str())
        .fetch_one(self.pool())
        .await?;
        let now = now_ms().max(last.map_or(0, |l| l + 1));
        let id = RecordingId::new();
        sqlx::query(
            "insert into turn_recordings (id, organization_id, conversation_id, \
             customer_message_id, message_id, trace, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id.as_str())
        .bind(new.organization_id.as_str())
        .bind(new.conversation_id.as_str())
        .bind(new.customer_message_id.as_str())
        .bind(new.message_id.as_str())
        .bind(trace)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(id)
    }

    /// The recorded turns of a conversation of the organization, oldest first (empty when
    /// nothing was recorded).
    pub async fn turn_recordings(
        &self,
        org: &OrganizationId,
        conversation: &ConversationId,
    ) -> Result<Vec<TurnRecording>> {
        let rows: Vec<RecordingRow> = sqlx::query_as(
            "select id, conversation_id, customer_message_id, message_id, trace, created_at \
             from turn_recordings where organization_id = $1 and conversation_id = $2 \
             order by created_at, id",
        )
        .bind(org.as_str())
        .bind(conversation.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TurnRecording::try_from).collect()
    }

    /// The recorded turns of conversation `raw_id` (`conv_...`); not found when the
    /// conversation is not the organization's.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn conversation_recording(
        &self,
        org: &OrganizationId,
        raw_id: &str,
    ) -> Result<Vec<TurnRecording>> {
        let not_found = || {
            Error::not_found(format!(
                "no conversation '{}' in this organization",
                raw_id.chars().take(40).collect::<String>()
            ))
        };
        let id = ConversationId::parse(raw_id).map_err(|_| not_found())?;
        if self.conversation(org, &id).await?.is_none() {
            return Err(not_found());
        }
        self.turn_recordings(org, &id).await
    }

    /// The organization a recorded conversation belongs to, when it has recordings.
    pub async fn recorded_conversation_org(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<OrganizationId>> {
        let row: Option<(String,)> = sqlx::query_as(
            "select organization_id from turn_recordings where conversation_id = $1 limit 1",
        )
        .bind(conversation.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id,)| OrganizationId::from_trusted(id)))
    }

    /// Inserts `org` as it is, id included: replay copies an organization into a scratch
    /// database so the conversation state it builds never touches the recorded one.
    pub async fn insert_organization_copy(&self, org: &Organization) -> Result<()> {
        sqlx::query(
            "insert into organizations (id, name, plan, rate_limit_per_min, \
             monthly_conversation_quota, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org.id.as_str())
        .bind(&org.name)
        .bind(org.plan.as_str())
        .bind(org.rate_limit_per_min)
        .bind(org.monthly_conversation_quota)
        .bind(org.created_at)
        .bind(org.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
