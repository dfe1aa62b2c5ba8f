//! Meta in the provider-neutral channel flow: webhook messages become
//! [`crate::channels::InboundMessage`]s, and [`MetaSender`] delivers queued replies through
//! the Graph API.
//!
//! Channel settings used: `account_id` is the WhatsApp phone number id (or the Instagram
//! account id); `api_base_url` replaces the public Graph host (staging, tests). Credentials:
//! `access_token` (sends), `app_secret` (webhook signatures), `verify_token` (handshake).
//!
//! One Meta app's webhook can carry several business numbers or accounts; a message addressed
//! to another account than the channel's `account_id` is not this channel's and is skipped,
//! so one organization never sees another's customers.

use futures::future::BoxFuture;
use serde_json::Value;

use super::graph_error::parse_error;
use super::send::{instagram_requests, whatsapp_requests, GraphRequest, Outgoing};
use super::webhook::{InboundMessage as MetaMessage, Platform};
use crate::channel::Channel;
use crate::channels::{
    ChannelSender, InboundMessage, LoadedChannel, Media, OutboundMessage, Provider, SendContext,
    SendFailure, Sent,
};

/// The public Graph API host (used when a channel sets no `api_base_url`).
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com";
/// The Graph API version the request bodies follow.
pub const GRAPH_VERSION: &str = "v21.0";

/// The platform a channel of `provider` receives, if it is a Meta provider.
pub fn platform_of(provider: Provider) -> Option<Platform> {
    match provider {
        Provider::MetaWhatsapp => Some(Platform::Whatsapp),
        Provider::MetaInstagram => Some(Platform::Instagram),
        Provider::Twilio | Provider::Mailgun => None,
    }
}

/// Converts the messages of a delivery that belong to `channel` (its platform, and its
/// `account_id` when one is set).
pub fn inbound_for(channel: &LoadedChannel, messages: Vec<MetaMessage>) -> Vec<InboundMessage> {
    let platform = platform_of(channel.config.provider);
    let account = channel.config.settings.account_id.as_deref();
    messages
        .into_iter()
        .filter(|m| Some(m.platform) == platform)
        .filter(|m| account.is_none_or(|a| a == m.to))
        .map(to_inbound)
        .collect()
}

fn to_inbound(m: MetaMessage) -> InboundMessage {
    let media = m
        .media
        .iter()
        .map(|item| Media {
            // WhatsApp sends a media id, not a link: it is kept as `meta-media:<id>` (the
            // file is fetched from the Graph API by id, with the channel's token).
            url: item
                .url
                .clone()
                .or_else(|| item.id.as_ref().map(|id| format!("meta-media:{id}")))
                .unwrap_or_default(),
            content_type: item.mime_type.clone().or_else(|| Some(item.kind.clone())),
        })
        .filter(|item| !item.url.is_empty())
        .collect();
    InboundMessage {
        provider_message_id: m.provider_message_id,
        channel: match m.platform {
            Platform::Whatsapp => Channel::Whatsapp,
            Platform::Instagram => Channel::Instagram,
        },
        from: m.from,
        to: m.to,
        thread_key: String::new(),
        text: m.text,
        media,
        subject: None,
        thread_headers: Vec::new(),
        display_name: m.from_name,
    }
}

/// Sends WhatsApp and Instagram replies through the Graph API.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetaSender;

impl ChannelSender for MetaSender {
    fn send<'a>(
        &'a self,
        ctx: &'a SendContext<'a>,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>> {
        Box::pin(send_message(ctx, message))
    }
}

/// The requests that deliver `message` on `channel`.
pub fn requests_for(
    channel: &LoadedChannel,
    message: &OutboundMessage,
) -> Result<Vec<GraphRequest>, SendFailure> {
    let mut text = message.text.clone();
    // Choices given explicitly are offered as a trailing list, which the request builders
    // turn into buttons or quick replies when they fit.
    for choice in &message.choices {
        text.push_str("\n- ");
        text.push_str(choice);
    }
    let out = Outgoing {
        to: message.to.trim_start_matches('+').to_string(),
        text,
        media: message
            .media_urls
            .iter()
            .map(|url| super::send::MediaLink {
                kind: "image".into(),
                url: url.clone(),
                caption: None,
            })
            .collect(),
        reply_to: None,
    };
    match channel.config.provider {
        Provider::MetaWhatsapp => {
            let number = channel
                .config
                .settings
                .account_id
                .as_deref()
                .ok_or_else(|| {
                    SendFailure::permanent(
                        "the channel has no settings.account_id (WhatsApp phone number id)",
                    )
                })?;
            Ok(whatsapp_requests(number, &out))
        }
        Provider::MetaInstagram => Ok(instagram_requests(&out)),
        other => Err(SendFailure::permanent(format!(
            "{other} is not a Meta provider"
        ))),
    }
}

#[tracing::instrument(skip_all, fields(channel = %ctx.channel.config.id, provider = %ctx.channel.config.provider))]
async fn send_message(
    ctx: &SendContext<'_>,
    message: &OutboundMessage,
) -> Result<Sent, SendFailure> {
    let token = ctx
        .channel
        .secrets
        .access_token
        .as_deref()
        .ok_or_else(|| SendFailure::permanent("the channel has no credentials.access_token"))?;
    let base = ctx
        .channel
        .config
        .settings
        .api_base_url
        .as_deref()
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    let mut sent_id = None;
    for request in requests_for(ctx.channel, message)? {
        let url = format!("{base}/{GRAPH_VERSION}/{}", request.path);
        let response = ctx
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&request.body)
            .send()
            .await
            .map_err(|err| {
                let failure = SendFailure::unreachable("the Graph API", &err);
                SendFailure {
                    in_doubt: failure.in_doubt || sent_id.is_some(),
                    ..failure
                }
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let error = parse_error(status, &body);
            return Err(SendFailure {
                transient: error.transient,
                status_code: Some(status),
                error_code: Some(error.code),
                detail: error.message.chars().take(300).collect(),
                // An earlier part of this message (its text, before a media follow-up) went
                // out: repeating the whole message would send that part twice.
                in_doubt: sent_id.is_some(),
            });
        }
        // The first message's id identifies the reply (media follow-ups add nothing).
        if sent_id.is_none() {
            sent_id = sent_message_id(&body);
        }
    }
    Ok(Sent {
        provider_message_id: sent_id,
    })
}

/// Reads the sent message's id: WhatsApp `messages[0].id`, Instagram `message_id`.
fn sent_message_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/messages/0/id")
        .or_else(|| value.get("message_id"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_ids_are_read_from_both_apis() {
        let wa = br#"{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.OUT1"}]}"#;
        assert_eq!(sent_message_id(wa).as_deref(), Some("wamid.OUT1"));
        let ig = br#"{"recipient_id":"1254459154682919","message_id":"aWdfZAG1faXRlbTox"}"#;
        assert_eq!(sent_message_id(ig).as_deref(), Some("aWdfZAG1faXRlbTox"));
        assert_eq!(sent_message_id(b"{}"), None);
    }
}
