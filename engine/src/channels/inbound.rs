//! The inbound path every provider shares, after its route verified the signature and its
//! parser produced an [`InboundMessage`]:
//!
//! 1. dedupe: the (channel, provider message id) pair is claimed; a retried delivery gets the
//!    answer stored for the first one and nothing runs again;
//! 2. identity -> customer ([`super::identity`]) -> the thread's open conversation;
//! 3. the turn, through the same chat service as the HTTP API;
//! 4. the reply shaped for the channel, then queued for sending ([`ReplyMode::Queue`]) or
//!    left to the caller to answer inline ([`ReplyMode::Inline`], voice TwiML).
//!
//! A turn that fails releases its dedupe claim, so the provider's retry runs it again.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use super::identity::{resolve_customer, Identity};
use super::{Channels, InboundMessage, LoadedChannel, OutboundMessage};
use crate::agent::Reply;
use crate::channel::Channel;
use crate::error::{Error, Result, ResultExt};
use crate::ids::{ConversationId, MessageId};
use crate::respond::channel::{shape, Frame};
use crate::service::chat::{self, ChatCaller, ChatInput, TurnHandler, MAX_MESSAGE_CHARS};
use crate::store::channels::{NewOutbound, ThreadRow};

/// How the reply reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Through the durable outbound queue (messaging, e-mail).
    Queue,
    /// In the webhook's own response (voice); nothing is queued.
    Inline,
}

/// A finished turn.
#[derive(Debug, Clone)]
pub struct TurnResult {
    pub conversation_id: ConversationId,
    pub reply: Reply,
    /// The reply fitted to the channel.
    pub shaped: String,
    /// The agent's stored message.
    pub message_id: MessageId,
    pub new_conversation: bool,
}

/// What the route answers the provider.
#[derive(Debug, Clone)]
pub struct InboundResponse {
    /// The body to answer with (stored for retries).
    pub body: String,
    /// True when this delivery was seen before and nothing ran.
    pub duplicate: bool,
    pub turn: Option<TurnResult>,
}

/// What a thread remembers for replies sent later (human replies, e-mail threading).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThreadState {
    pub channel: Channel,
    /// The organization's address the customer wrote to (the reply's sender).
    pub local_address: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// Runs one inbound message. `render` builds the provider's HTTP answer from the turn
/// (`None`: a retry arrived while the first delivery is still running).
#[tracing::instrument(skip_all, fields(org = %channel.config.organization_id, channel = %channel.config.id, provider = %channel.config.provider))]
pub async fn process(
    channels: &Channels,
    turns: &dyn TurnHandler,
    channel: &LoadedChannel,
    message: InboundMessage,
    mode: ReplyMode,
    render: &(dyn Fn(Option<&TurnResult>) -> String + Send + Sync),
) -> Result<InboundResponse> {
    let store = channels.store();
    let config = &channel.config;
    if message.provider_message_id.trim().is_empty() {
        return Err(Error::unprocessable("the provider message id is missing"));
    }
    if !store
        .claim_inbound(
            &config.organization_id,
            &config.id,
            &message.provider_message_id,
        )
        .await?
    {
        tracing::info!("duplicate inbound delivery: answered from the first one");
        let stored = store
            .inbound_response(&config.id, &message.provider_message_id)
            .await?;
        return Ok(InboundResponse {
            body: stored.unwrap_or_else(|| render(None)),
            duplicate: true,
            turn: None,
        });
    }
    let provider_message_id = message.provider_message_id.clone();
    match run_turn(channels, turns, channel, message, mode).await {
        Ok(turn) => {
            let body = render(Some(&turn));
            store
                .finish_inbound(
                    &config.id,
                    &provider_message_id,
                    Some(&turn.conversation_id),
                    &body,
                )
                .await?;
            Ok(InboundResponse {
                body,
                duplicate: false,
                turn: Some(turn),
            })
        }
        Err(err) => {
            if let Err(release) = store
                .release_inbound(&config.id, &provider_message_id)
                .await
            {
                tracing::warn!(error = %release.chain(), "releasing a failed inbound delivery failed");
            }
            Err(err)
        }
    }
}

/// The text the agent reads: the message, with attachments named when there are any.
fn turn_text(message: &InboundMessage) -> String {
    let mut text = message.text.trim().to_owned();
    if text.is_empty() && !message.media.is_empty() {
        let kinds: Vec<&str> = message
            .media
            .iter()
            .map(|m| m.content_type.as_deref().unwrap_or("file"))
            .collect();
        text = format!(
            "[sent {}: {}]",
            if kinds.len() == 1 {
                "an attachment"
            } else {
                "attachments"
            },
            kinds.join(", ")
        );
    }
    if text.is_empty() {
        text = "[empty message]".to_owned();
    }
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

async fn run_turn(
    channels: &Channels,
    turns: &dyn TurnHandler,
    channel: &LoadedChannel,
    message: InboundMessage,
    mode: ReplyMode,
) -> Result<TurnResult> {
    let store = channels.store();
    let config = &channel.config;
    let org = &config.organization_id;
    let identity = Identity::of_sender(message.channel, &message.from)?;
    let (record, customer_id) = resolve_customer(store, org, &identity).await?;
    let thread_key = if message.thread_key.is_empty() {
        format!("{}:{}", message.channel.as_str(), identity.value)
    } else {
        message.thread_key.clone()
    };
    let session = store
        .open_thread_conversation(&config.id, &thread_key, &record)
        .await?;
    let organization = store
        .organization(org)
        .await?
        .ok_or_else(|| Error::not_found("the channel's organization no longer exists"))?;
    let caller = ChatCaller {
        organization_id: org.clone(),
        plan: organization.plan,
        monthly_conversation_quota: organization.monthly_conversation_quota,
    };
    let mut metadata = Map::new();
    metadata.insert("provider".into(), json!(config.provider.as_str()));
    metadata.insert("channel_id".into(), json!(config.id.as_str()));
    metadata.insert(
        "provider_message_id".into(),
        json!(message.provider_message_id),
    );
    if !message.media.is_empty() {
        metadata.insert(
            "media".into(),
            serde_json::to_value(&message.media).or_internal("encoding media")?,
        );
    }
    let input = ChatInput {
        organization_id: org.as_str().to_owned(),
        customer_id,
        message: turn_text(&message),
        channel: message.channel,
        session_id: session.map(ConversationId::into_string),
        language: None,
        metadata,
    };
    let outcome = chat::chat(store, turns, &caller, input).await?;
    let local_address = if message.to.is_empty() {
        config.address.clone()
    } else {
        message.to.clone()
    };
    let state = ThreadState {
        channel: message.channel,
        local_address: local_address.clone(),
        subject: message.subject.clone(),
        headers: message.thread_headers.clone(),
    };
    store
        .insert_thread(
            org,
            &ThreadRow {
                conversation_id: outcome.conversation_id.as_str().to_owned(),
                channel_id: config.id.as_str().to_owned(),
                thread_key,
                remote_address: message.from.clone(),
                thread_state: serde_json::to_string(&state).or_internal("encoding thread state")?,
            },
        )
        .await?;
    let agent = store.agent_config(org).await?.unwrap_or_default();
    let shaped = shape(
        &outcome.reply.response,
        message.channel,
        Frame {
            agent_name: &agent.name,
            customer_name: message.display_name.as_deref(),
            language: &outcome.reply.language,
        },
    );
    if mode == ReplyMode::Queue {
        let outbound = OutboundMessage {
            channel: message.channel,
            to: message.from.clone(),
            from: local_address,
            text: shaped.clone(),
            media_urls: Vec::new(),
            subject: message.subject.clone(),
            thread_headers: message.thread_headers.clone(),
            choices: Vec::new(),
            quoted_text: Some(message.text.clone()),
        };
        queue(
            channels,
            channel,
            Some(&outcome.conversation_id),
            Some(&outcome.message_id),
            &outbound,
        )
        .await?;
    }
    Ok(TurnResult {
        conversation_id: outcome.conversation_id,
        reply: outcome.reply,
        shaped,
        message_id: outcome.message_id,
        new_conversation: outcome.new_conversation,
    })
}

/// Queues `message` for sending on `channel` and wakes the dispatcher.
pub async fn queue(
    channels: &Channels,
    channel: &LoadedChannel,
    conversation: Option<&ConversationId>,
    message_id: Option<&MessageId>,
    message: &OutboundMessage,
) -> Result<()> {
    let payload = serde_json::to_string(message).or_internal("encoding an outbound message")?;
    channels
        .store()
        .enqueue_outbound(&NewOutbound {
            organization_id: channel.config.organization_id.clone(),
            channel_id: channel.config.id.clone(),
            conversation_id: conversation.cloned(),
            message_id: message_id.cloned(),
            payload,
        })
        .await?;
    channels.notify_queued();
    Ok(())
}

/// Extra metadata for a thread's later replies, as JSON (tests and the dashboard read it).
pub fn thread_state(raw: &str) -> ThreadState {
    serde_json::from_str::<ThreadState>(raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::Media;

    #[test]
    fn attachments_without_text_are_named_for_the_agent() {
        let message = InboundMessage {
            media: vec![Media {
                url: "https://m.example/1".into(),
                content_type: Some("image/jpeg".into()),
            }],
            ..InboundMessage::default()
        };
        assert_eq!(turn_text(&message), "[sent an attachment: image/jpeg]");
        let long = InboundMessage {
            text: "a".repeat(MAX_MESSAGE_CHARS + 50),
            ..InboundMessage::default()
        };
        assert_eq!(turn_text(&long).chars().count(), MAX_MESSAGE_CHARS);
    }
}
