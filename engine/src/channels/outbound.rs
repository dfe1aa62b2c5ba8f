//! The outbound queue's dispatcher: a background task that claims due sends, hands each to
//! its provider's [`super::ChannelSender`], and records the outcome on the queue row and on
//! the message's metadata (`delivery`: status, provider message id, provider error code).
//!
//! The queue is the webhook outbox's design again: rows claimed with a lease (taken over when
//! a dispatcher dies), failures retried on a jittered ladder
//! ([`super::settings::DEFAULT_DELAYS`]), sends of one conversation in order. A transient
//! failure (5xx, 429, timeout) is retried; a permanent one (an invalid number, bad
//! credentials) or an exhausted ladder makes the send `dead`.
//!
//! **Sends in doubt.** None of the providers takes an idempotency key, so an attempt that may
//! have reached the provider without its answer reaching us (the process died mid-send and
//! its claim ran out, or the provider answered after the timeout) is not simply repeated: the
//! provider is first asked whether it has the message ([`super::ChannelSender::find_sent`]:
//! Twilio's message list, Mailgun's event log). Found, the send is recorded `sent` with the
//! provider's id; not found, it is sent; when the provider cannot be asked (Meta's Graph API
//! has no search), the send ends `unconfirmed` rather than risk a second copy to the
//! customer, and the message's `delivery` metadata says so for the inbox.
//!
//! Each pass also picks up human replies written in the inbox to conversations a channel
//! carries ([`Store::pending_human_replies`]) and queues them: the inbox needs to know
//! nothing about channels, and a reply written while the server restarts is still sent.
//! A human reply to a voice call goes to the caller by SMS from the channel's number.

use std::time::Duration;

use super::inbound::{queue, thread_state};
use super::{Channels, Lookup, OutboundMessage, SendContext, SendFailure};
use crate::channel::Channel;
use crate::error::Result;
use crate::ids::{ChannelId, ConversationId, MessageId};
use crate::store::channels::{ClaimedSend, SendOutcome};
use crate::store::{now_ms, Store};

/// Most sends claimed by one pass.
const CLAIM_BATCH: i64 = 32;
/// How far back human replies are looked for.
const HUMAN_REPLY_HORIZON: Duration = Duration::from_secs(24 * 60 * 60);

/// Starts the dispatcher on the runtime; aborting the handle stops it (claims in flight are
/// taken over once their lease runs out).
pub fn spawn_dispatcher(channels: Channels) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(channels))
}

#[tracing::instrument(name = "channel_dispatcher", skip_all)]
async fn run(channels: Channels) {
    tracing::info!("channel dispatcher started");
    loop {
        if let Err(err) = pass(&channels).await {
            tracing::warn!(error = %err.chain(), "a channel dispatch pass failed");
        }
        tokio::select! {
            () = channels.queued() => {}
            () = tokio::time::sleep(channels.settings().poll_interval) => {}
        }
    }
}

/// One pass: queue new human replies, then send everything due. Returns how many sends ran.
pub async fn pass(channels: &Channels) -> Result<usize> {
    queue_human_replies(channels).await?;
    let lease = channels.settings().timeout * 3;
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut total = 0;
    loop {
        let claimed = channels
            .store()
            .claim_outbound(CLAIM_BATCH, lease_ms)
            .await?;
        if claimed.is_empty() {
            return Ok(total);
        }
        total += claimed.len();
        let outcomes =
            futures::future::join_all(claimed.iter().map(|send| deliver(channels, send))).await;
        for (send, outcome) in claimed.iter().zip(outcomes) {
            channels.store().complete_outbound(send, &outcome).await?;
        }
    }
}

#[tracing::instrument(skip_all, fields(send = %send.id, channel = %send.channel_id, attempt = send.attempts))]
async fn deliver(channels: &Channels, send: &ClaimedSend) -> SendOutcome {
    let dead = |why: &str| SendOutcome {
        status: "dead",
        next_attempt_at: None,
        provider_message_id: None,
        status_code: None,
        error_code: None,
        error: Some(why.to_owned()),
        in_doubt: send.in_doubt(),
    };
    let message: OutboundMessage = match serde_json::from_str(&send.payload) {
        Ok(message) => message,
        Err(_) => return dead("the queued message is unreadable"),
    };
    let channel = match channels
        .load_any(&ChannelId::from_trusted(send.channel_id.clone()))
        .await
    {
        Ok(Some(channel)) if channel.config.enabled => channel,
        Ok(Some(_)) => return dead("the channel is disabled"),
        Ok(None) => return dead("the channel was deleted"),
        Err(err) => {
            return failed(
                channels,
                send,
                &SendFailure {
                    transient: true,
                    status_code: None,
                    error_code: None,
                    detail: err.message().to_owned(),
                    in_doubt: false,
                },
            )
        }
    };
    let Some(sender) = channels.sender(channel.config.provider) else {
        return dead("no sender is available for this provider");
    };
    if let Some(base) = &channel.config.settings.api_base_url {
        if let Err(err) = channels.guard().check_url(base) {
            return dead(&format!("blocked: {}", err.message()));
        }
    }
    let ctx = SendContext {
        channel: &channel,
        http: channels.http(),
        send_id: &send.id,
        queued_at: send.created_at,
    };
    if send.in_doubt() {
        match sender.find_sent(&ctx, &message).await {
            Ok(Lookup::NotDelivered) => {
                tracing::info!("an unanswered earlier attempt never reached the provider: sending");
            }
            Ok(Lookup::Delivered {
                provider_message_id,
            }) => {
                tracing::info!(provider_message_id = ?provider_message_id, "the provider already has this message: not sent again");
                return sent(provider_message_id);
            }
            Ok(Lookup::CannotTell) => {
                tracing::warn!("an earlier attempt may have been delivered and the provider cannot be asked: not sent again");
                return unconfirmed();
            }
            Err(failure) => {
                tracing::info!(status = ?failure.status_code, "asking the provider about an earlier attempt failed");
                return failed(channels, send, &failure);
            }
        }
    }
    match sender.send(&ctx, &message).await {
        Ok(accepted) => {
            tracing::debug!("sent");
            sent(accepted.provider_message_id)
        }
        Err(failure) => {
            tracing::info!(status = ?failure.status_code, code = ?failure.error_code, transient = failure.transient, "send failed");
            failed(channels, send, &failure)
        }
    }
}

/// The provider accepted the message (now, or on an attempt it has just confirmed).
fn sent(provider_message_id: Option<String>) -> SendOutcome {
    SendOutcome {
        status: "sent",
        next_attempt_at: None,
        provider_message_id,
        status_code: None,
        error_code: None,
        error: None,
        in_doubt: false,
    }
}

/// An earlier attempt may have been delivered and the provider cannot say: the send ends
/// here, visible to the inbox, rather than risk a second copy.
fn unconfirmed() -> SendOutcome {
    SendOutcome {
        status: "unconfirmed",
        next_attempt_at: None,
        provider_message_id: None,
        status_code: None,
        error_code: None,
        error: Some(
            "an earlier attempt got no answer and may have been delivered; the provider offers \
             no way to check, so it was not sent again (resend it by hand if the customer did \
             not get it)"
                .to_owned(),
        ),
        in_doubt: true,
    }
}

fn failed(channels: &Channels, send: &ClaimedSend, failure: &SendFailure) -> SendOutcome {
    let retry_at = failure
        .transient
        .then(|| channels.settings().schedule.delay_after(send.attempts))
        .flatten()
        .map(|delay| now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 4));
    SendOutcome {
        status: if retry_at.is_some() { "failed" } else { "dead" },
        next_attempt_at: retry_at,
        provider_message_id: None,
        status_code: failure.status_code,
        error_code: failure.error_code.clone(),
        error: Some(failure.detail.clone()),
        // Once in doubt, a send stays so until the provider has been asked (a failed question
        // keeps it in doubt: asking again is safe).
        in_doubt: send.in_doubt() || failure.in_doubt,
    }
}

/// Queues the human replies not queued yet.
async fn queue_human_replies(channels: &Channels) -> Result<()> {
    let horizon = i64::try_from(HUMAN_REPLY_HORIZON.as_millis()).unwrap_or(0);
    let store: &Store = channels.store();
    let pending = store.pending_human_replies(now_ms() - horizon, 100).await?;
    for reply in pending {
        let conversation = ConversationId::from_trusted(reply.conversation_id.clone());
        let Some(thread) = store.thread_of(&conversation).await? else {
            continue;
        };
        let Some(channel) = channels
            .load_any(&ChannelId::from_trusted(reply.channel_id.clone()))
            .await?
        else {
            continue;
        };
        let state = thread_state(&thread.thread_state);
        let (kind, to) = match state.channel {
            // A call is over by the time a human answers: the caller gets a text instead.
            Channel::Voice => (Channel::Sms, thread.remote_address.clone()),
            other => (other, thread.remote_address.clone()),
        };
        let from = if state.channel == Channel::Voice || state.local_address.is_empty() {
            channel.config.address.clone()
        } else {
            state.local_address.clone()
        };
        let message = OutboundMessage {
            channel: kind,
            to,
            from,
            text: reply.text.trim().to_owned(),
            subject: state.subject.clone(),
            thread_headers: state.headers.clone(),
            ..OutboundMessage::default()
        };
        queue(
            channels,
            &channel,
            Some(&conversation),
            Some(&MessageId::from_trusted(reply.message_id.clone())),
            &message,
        )
        .await?;
        tracing::info!(conversation = %conversation, "queued a human reply for its channel");
    }
    Ok(())
}
