//! Channel storage (migration 0008): provider accounts, channel identities, the threads that
//! tie conversations to a channel, inbound deduplication and the outbound queue.

use super::{now_ms, Dialect, Store};
use crate::error::{Result, ResultExt};
use crate::ids::{
    fresh_suffix, ChannelId, ConversationId, CustomerRecordId, MessageId, OrganizationId,
};

/// A channel row as stored (settings and sealed secrets still encoded).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: String,
    pub organization_id: String,
    pub provider: String,
    pub name: String,
    pub address: String,
    pub settings: String,
    pub secrets: String,
    pub enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const CHANNEL_COLUMNS: &str =
    "id, organization_id, provider, name, address, settings, secrets, enabled, created_at, updated_at";

/// A channel identity linked to a customer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdentityRow {
    pub id: String,
    pub customer_id: String,
    pub kind: String,
    pub value: String,
    pub created_at: i64,
}

/// The channel carrying a conversation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThreadRow {
    pub conversation_id: String,
    pub channel_id: String,
    pub thread_key: String,
    pub remote_address: String,
    pub thread_state: String,
}

/// A send to make, queued with the message it carries.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub organization_id: OrganizationId,
    pub channel_id: ChannelId,
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    /// The encoded [`crate::channels::OutboundMessage`].
    pub payload: String,
}

/// A send claimed by one dispatcher.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedSend {
    pub id: String,
    pub organization_id: String,
    pub channel_id: String,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub lock_token: String,
    /// 1 or 0; see [`ClaimedSend::in_doubt`].
    pub in_doubt: i64,
    /// When the send was queued: the provider is searched from then on.
    pub created_at: i64,
}

impl ClaimedSend {
    /// Whether an earlier attempt may have reached the provider without its answer reaching
    /// us (the claim ran out while the send was in flight, or the provider answered too late).
    pub fn in_doubt(&self) -> bool {
        self.in_doubt != 0
    }
}

/// The outcome of one send attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOutcome {
    /// `sent`, `failed` (retry at `next_attempt_at`), `dead`, or `unconfirmed` (an earlier
    /// attempt may have been delivered and the provider cannot be asked: not sent again).
    pub status: &'static str,
    pub next_attempt_at: Option<i64>,
    pub provider_message_id: Option<String>,
    pub status_code: Option<u16>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    /// Whether this attempt may have reached the provider without us learning the outcome.
    pub in_doubt: bool,
}

/// A queued send as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub channel_id: String,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub provider_message_id: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error_code: Option<String>,
    pub last_error: Option<String>,
    /// 1 when an attempt may have reached the provider unseen (see [`ClaimedSend::in_doubt`]).
    pub in_doubt: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A human's inbox reply to a channel conversation, not yet queued.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingHumanReply {
    pub message_id: String,
    pub conversation_id: String,
    pub organization_id: String,
    pub text: String,
    pub channel_id: String,
}

impl Store {
    /// Stores a new channel.
    pub async fn insert_channel(&self, row: &ChannelRow) -> Result<()> {
        sqlx::query(&format!(
            "insert into channels ({CHANNEL_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.provider)
        .bind(&row.name)
        .bind(&row.address)
        .bind(&row.settings)
        .bind(&row.secrets)
        .bind(row.enabled)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The organization's channel `id`, or `None` (also when it is another organization's).
    pub async fn channel(
        &self,
        org: &OrganizationId,
        id: &ChannelId,
    ) -> Result<Option<ChannelRow>> {
        Ok(sqlx::query_as(&format!(
            "select {CHANNEL_COLUMNS} from channels where organization_id = $1 and id = $2"
        ))
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Channel `id` of any organization (inbound webhooks name the channel in their URL).
    pub async fn channel_by_id(&self, id: &ChannelId) -> Result<Option<ChannelRow>> {
        Ok(sqlx::query_as(&format!(
            "select {CHANNEL_COLUMNS} from channels where id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    /// The organization's channels, oldest first.
    pub async fn channels(&self, org: &OrganizationId) -> Result<Vec<ChannelRow>> {
        Ok(sqlx::query_as(&format!(
            "select {CHANNEL_COLUMNS} from channels where organization_id = $1 order by created_at, id"
        ))
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    /// Replaces a channel's editable columns; false when the organization has no such channel.
    pub async fn update_channel(&self, row: &ChannelRow) -> Result<bool> {
        let done = sqlx::query(
            "update channels set name = $1, address = $2, settings = $3, secrets = $4, \
             enabled = $5, updated_at = $6 where organization_id = $7 and id = $8",
        )
        .bind(&row.name)
        .bind(&row.address)
        .bind(&row.settings)
        .bind(&row.secrets)
        .bind(row.enabled)
        .bind(row.updated_at)
        .bind(&row.organization_id)
        .bind(&row.id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a channel (its threads, dedupe rows and queued sends go with it).
    pub async fn delete_channel(&self, org: &OrganizationId, id: &ChannelId) -> Result<bool> {
        let done = sqlx::query("delete from channels where organization_id = $1 and id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The customer (record id, external id) an identity is linked to.
    pub async fn identity_customer(
        &self,
        org: &OrganizationId,
        kind: &str,
        value: &str,
    ) -> Result<Option<(CustomerRecordId, String)>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "select cu.id, cu.external_id from channel_identities i \
             join customers cu on cu.id = i.customer_id \
             where i.organization_id = $1 and i.kind = $2 and i.value = $3",
        )
        .bind(org.as_str())
        .bind(kind)
        .bind(value)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id, external)| (CustomerRecordId::from_trusted(id), external)))
    }

    /// Links an identity to a customer, moving it when it was linked to another one; returns
    /// the identity's row.
    pub async fn link_identity(
        &self,
        org: &OrganizationId,
        kind: &str,
        value: &str,
        customer: &CustomerRecordId,
    ) -> Result<IdentityRow> {
        let now = now_ms();
        sqlx::query(
            "insert into channel_identities (id, organization_id, customer_id, kind, value, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $6) \
             on conflict (organization_id, kind, value) do update \
             set customer_id = excluded.customer_id, updated_at = excluded.updated_at",
        )
        .bind(format!("ident_{}", fresh_suffix()))
        .bind(org.as_str())
        .bind(customer.as_str())
        .bind(kind)
        .bind(value)
        .bind(now)
        .execute(self.pool())
        .await?;
        sqlx::query_as(
            "select id, customer_id, kind, value, created_at from channel_identities \
             where organization_id = $1 and kind = $2 and value = $3",
        )
        .bind(org.as_str())
        .bind(kind)
        .bind(value)
        .fetch_one(self.pool())
        .await
        .or_internal("reading back a linked identity")
    }

    /// The identities linked to a customer, oldest first.
    pub async fn identities_of(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
    ) -> Result<Vec<IdentityRow>> {
        Ok(sqlx::query_as(
            "select id, customer_id, kind, value, created_at from channel_identities \
             where organization_id = $1 and customer_id = $2 order by created_at, id",
        )
        .bind(org.as_str())
        .bind(customer.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    /// The newest conversation of a thread that is still open (with the agent or a human).
    pub async fn open_thread_conversation(
        &self,
        channel: &ChannelId,
        thread_key: &str,
        customer: &CustomerRecordId,
    ) -> Result<Option<ConversationId>> {
        let row: Option<(String,)> = sqlx::query_as(
            "select t.conversation_id from channel_threads t \
             join conversations c on c.id = t.conversation_id \
             where t.channel_id = $1 and t.thread_key = $2 and c.customer_id = $3 \
             and c.status in ('open', 'pending_human', 'human') \
             order by c.created_at desc limit 1",
        )
        .bind(channel.as_str())
        .bind(thread_key)
        .bind(customer.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id,)| ConversationId::from_trusted(id)))
    }

    /// Records that `thread` carries a conversation (first turn only; later calls keep it).
    pub async fn insert_thread(&self, org: &OrganizationId, thread: &ThreadRow) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "insert into channel_threads (conversation_id, organization_id, channel_id, \
             thread_key, remote_address, thread_state, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $7) on conflict (conversation_id) do nothing",
        )
        .bind(&thread.conversation_id)
        .bind(org.as_str())
        .bind(&thread.channel_id)
        .bind(&thread.thread_key)
        .bind(&thread.remote_address)
        .bind(&thread.thread_state)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The channel thread of a conversation, if a channel carries it.
    pub async fn thread_of(&self, conversation: &ConversationId) -> Result<Option<ThreadRow>> {
        Ok(sqlx::query_as(
            "select conversation_id, channel_id, thread_key, remote_address, thread_state \
             from channel_threads where conversation_id = $1",
        )
        .bind(conversation.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Claims an inbound delivery; false when it was seen before (a provider retry).
    pub async fn claim_inbound(
        &self,
        org: &OrganizationId,
        channel: &ChannelId,
        provider_message_id: &str,
    ) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "insert into channel_inbound (channel_id, provider_message_id, organization_id, \
             created_at, updated_at) values ($1, $2, $3, $4, $4) \
             on conflict (channel_id, provider_message_id) do nothing",
        )
        .bind(channel.as_str())
        .bind(provider_message_id)
        .bind(org.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The answer stored for a delivery seen before (`None` while the first is in flight).
    pub async fn inbound_response(
        &self,
        channel: &ChannelId,
        provider_message_id: &str,
    ) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "select response from channel_inbound where channel_id = $1 and provider_message_id = $2",
        )
        .bind(channel.as_str())
        .bind(provider_message_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|(r,)| r))
    }

    /// Stores the answer of a handled delivery, for its retries.
    pub async fn finish_inbound(
        &self,
        channel: &ChannelId,
        provider_message_id: &str,
        conversation: Option<&ConversationId>,
        response: &str,
    ) -> Result<()> {
        sqlx::query(
            "update channel_inbound set conversation_id = $1, response = $2, updated_at = $3 \
             where channel_id = $4 and provider_message_id = $5",
        )
        .bind(conversation.map(ConversationId::as_str))
        .bind(response)
        .bind(now_ms())
        .bind(channel.as_str())
        .bind(provider_message_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets a delivery whose handling failed, so the provider's retry runs it again.
    pub async fn release_inbound(
        &self,
        channel: &ChannelId,
        provider_message_id: &str,
    ) -> Result<()> {
        sqlx::query(
            "delete from channel_inbound where channel_id = $1 and provider_message_id = $2",
        )
        .bind(channel.as_str())
        .bind(provider_message_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Queues a send; a message already queued is not queued twice. Returns the row id, or
    /// `None` when it was already there.
    pub async fn enqueue_outbound(&self, new: &NewOutbound) -> Result<Option<String>> {
        let now = now_ms();
        let id = format!("out_{}", fresh_suffix());
        let done = sqlx::query(
            "insert into channel_outbox (id, organization_id, channel_id, conversation_id, \
             message_id, payload, status, attempts, next_attempt_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) \
             on conflict (message_id) do nothing",
        )
        .bind(&id)
        .bind(new.organization_id.as_str())
        .bind(new.channel_id.as_str())
        .bind(new.conversation_id.as_ref().map(ConversationId::as_str))
        .bind(new.message_id.as_ref().map(MessageId::as_str))
        .bind(&new.payload)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok((done.rows_affected() > 0).then_some(id))
    }

    /// Claims up to `limit` due sends for `lease_ms`. Sends of one conversation go in order:
    /// one waits while an earlier one of its conversation is still unsent.
    pub async fn claim_outbound(&self, limit: i64, lease_ms: i64) -> Result<Vec<ClaimedSend>> {
        let now = now_ms();
        let token = format!("lock_{}", fresh_suffix());
        let lock = match self.dialect() {
            Dialect::Postgres => "for update of o skip locked",
            Dialect::Sqlite => "",
        };
        let claim = format!(
            // A row still `sending` after its lease ran out was claimed by a dispatcher that
            // died: its send may have reached the provider.
            "update channel_outbox set status = 'sending', attempts = attempts + 1, \
             in_doubt = case when status = 'sending' then 1 else in_doubt end, \
             lock_token = $1, locked_until = $2, updated_at = $3 \
             where id in (select o.id from channel_outbox o \
               where ((o.status in ('pending', 'failed') and o.next_attempt_at <= $3) \
                   or (o.status = 'sending' and o.locked_until < $3)) \
               and (o.conversation_id is null or not exists (select 1 from channel_outbox e \
                   where e.conversation_id = o.conversation_id \
                   and e.status in ('pending', 'failed', 'sending') \
                   and (e.created_at < o.created_at or (e.created_at = o.created_at and e.id < o.id)))) \
               order by o.next_attempt_at, o.created_at, o.id limit $4 {lock})"
        );
        let claimed = sqlx::query(&claim)
            .bind(&token)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .execute(self.writer())
            .await?
            .rows_affected();
        if claimed == 0 {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "select id, organization_id, channel_id, conversation_id, message_id, payload, \
             attempts, lock_token, in_doubt, created_at from channel_outbox \
             where lock_token = $1 and status = 'sending'",
        )
        .bind(&token)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a send attempt (only while the claim is still this dispatcher's) and notes the
    /// delivery on the message's metadata (`delivery`: status, provider id, error code).
    pub async fn complete_outbound(&self, send: &ClaimedSend, outcome: &SendOutcome) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update channel_outbox set status = $1, next_attempt_at = $2, locked_until = null, \
             lock_token = null, provider_message_id = coalesce($3, provider_message_id), \
             last_status_code = $4, last_error_code = $5, last_error = $6, updated_at = $7, \
             in_doubt = $10 \
             where id = $8 and lock_token = $9",
        )
        .bind(outcome.status)
        .bind(outcome.next_attempt_at.unwrap_or(now))
        .bind(outcome.provider_message_id.as_deref())
        .bind(outcome.status_code.map(i64::from))
        .bind(outcome.error_code.as_deref())
        .bind(outcome.error.as_deref())
        .bind(now)
        .bind(&send.id)
        .bind(&send.lock_token)
        .bind(i64::from(outcome.in_doubt))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            if let Some(message) = &send.message_id {
                let current: Option<(String,)> =
                    sqlx::query_as("select metadata from messages where id = $1")
                        .bind(message)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some((raw,)) = current {
                    let mut metadata: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(&raw).unwrap_or_default();
                    metadata.insert(
                        "delivery".to_owned(),
                        serde_json::json!({
                            "status": outcome.status,
                            "attempts": send.attempts,
                            "provider_message_id": outcome.provider_message_id,
                            "error_code": outcome.error_code,
                            "status_code": outcome.status_code,
                            "error": outcome.error,
                        }),
                    );
                    let encoded = serde_json::to_string(&metadata)
                        .or_internal("encoding message metadata")?;
                    sqlx::query("update messages set metadata = $1, updated_at = $2 where id = $3")
                        .bind(encoded)
                        .bind(now)
                        .bind(message)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The sends of a channel, newest first.
    pub async fn outbox_of(
        &self,
        org: &OrganizationId,
        channel: &ChannelId,
        limit: i64,
    ) -> Result<Vec<OutboxRow>> {
        Ok(sqlx::query_as(
            "select id, channel_id, conversation_id, message_id, status, attempts, \
             next_attempt_at, provider_message_id, last_status_code, last_error_code, \
             last_error, in_doubt, created_at, updated_at from channel_outbox \
             where organization_id = $1 and channel_id = $2 \
             order by created_at desc, id desc limit $3",
        )
        .bind(org.as_str())
        .bind(channel.as_str())
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Human replies written since `since` to conversations a channel carries and not queued
    /// yet (the inbox writes them; the dispatcher sends them).
    pub async fn pending_human_replies(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<PendingHumanReply>> {
        Ok(sqlx::query_as(
            "select m.id as message_id, m.conversation_id, m.organization_id, m.text, t.channel_id \
             from messages m join channel_threads t on t.conversation_id = m.conversation_id \
             where m.role = 'human' and m.created_at > $1 and m.created_at >= t.created_at \
             and not exists (select 1 from channel_outbox o where o.message_id = m.id) \
             order by m.created_at, m.id limit $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The organization's own id of a customer record.
    pub async fn customer_external_id(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
    ) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "select external_id from customers where organization_id = $1 and id = $2",
        )
        .bind(org.as_str())
        .bind(customer.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(e,)| e))
    }
}
