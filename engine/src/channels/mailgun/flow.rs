//! Mailgun in the provider-neutral channel flow: a received e-mail becomes an
//! [`crate::channels::InboundMessage`] (threaded by its root `Message-Id`), and
//! [`MailgunSender`] delivers queued replies through the messages API.
//!
//! Channel settings used: `account_id` is the sending domain (`mg.shop.example`),
//! `from_name` the sender's display name, `api_base_url` replaces the public API host (the EU
//! region, staging, tests). Credentials: `api_key` (sends), `signing_key` (inbound
//! signatures).
//!
//! What a reply needs from the customer's mail travels in the message's thread headers:
//! `Message-Id` (the reply's `In-Reply-To`), `References`, and `From` and `Date` for the
//! attribution line above the quoted text.

use futures::future::BoxFuture;

use super::inbound::{message_ids, InboundEmail};
use super::outbound::{message_form, parse_error, sent_id, Quote, Reply};
use crate::channel::Channel;
use crate::channels::{
    ChannelSender, InboundMessage, LoadedChannel, Lookup, OutboundMessage, SendContext,
    SendFailure, Sent,
};

/// Mailgun's public API (US region; EU accounts set `api_base_url`).
pub const DEFAULT_API_BASE: &str = "https://api.mailgun.net";

/// Thread header names, as stored with the thread.
const MESSAGE_ID: &str = "Message-Id";
const REFERENCES: &str = "References";
const FROM: &str = "From";
const DATE: &str = "Date";

/// Converts a received e-mail.
pub fn to_inbound(email: InboundEmail) -> InboundMessage {
    let author = match &email.from_name {
        Some(name) => format!("{name} <{}>", email.from),
        None => email.from.clone(),
    };
    let text = email.text_for_agent();
    InboundMessage {
        provider_message_id: email.message_id.clone(),
        channel: Channel::Email,
        thread_key: email.thread_key().to_string(),
        to: email.recipient.clone(),
        text,
        media: Vec::new(),
        subject: Some(email.subject.clone()),
        thread_headers: vec![
            (MESSAGE_ID.into(), email.message_id.clone()),
            (REFERENCES.into(), email.references.join(" ")),
            (FROM.into(), author),
            (DATE.into(), email.timestamp.clone()),
        ],
        display_name: email.from_name.clone(),
        from: email.from,
    }
}

fn header<'a>(message: &'a OutboundMessage, name: &str) -> Option<&'a str> {
    message
        .thread_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// The form of the messages API call for `message` on `channel`.
pub fn form_for(channel: &LoadedChannel, message: &OutboundMessage) -> Vec<(String, String)> {
    let from = match channel.config.settings.from_name.as_deref() {
        Some(name) => format!("{name} <{}>", message.from),
        None => message.from.clone(),
    };
    let quote = message
        .quoted_text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|text| Quote {
            author: header(message, FROM).unwrap_or(&message.to).to_string(),
            sent_at_secs: header(message, DATE)
                .and_then(|d| d.parse().ok())
                .unwrap_or(0),
            text: text.to_string(),
        });
    message_form(&Reply {
        from,
        to: message.to.clone(),
        subject: message.subject.clone().unwrap_or_default(),
        text: message.text.clone(),
        quote,
        in_reply_to: header(message, MESSAGE_ID).map(str::to_string),
        references: header(message, REFERENCES)
            .map(message_ids)
            .unwrap_or_default(),
    })
}

/// Sends e-mail replies through Mailgun's messages API.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailgunSender;

impl ChannelSender for MailgunSender {
    fn send<'a>(
        &'a self,
        ctx: &'a SendContext<'a>,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>> {
        Box::pin(send_message(ctx, message))
    }

    fn find_sent<'a>(
        &'a self,
        ctx: &'a SendContext<'a>,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<Lookup, SendFailure>> {
        Box::pin(super::lookup::find_sent(ctx, message))
    }
}

/// The domain, API key and API base URL of the channel.
pub(crate) fn account<'a>(
    ctx: &'a SendContext<'a>,
) -> Result<(&'a str, &'a str, &'a str), SendFailure> {
    let config = &ctx.channel.config;
    let domain = config.settings.account_id.as_deref().ok_or_else(|| {
        SendFailure::permanent("the channel has no settings.account_id (Mailgun domain)")
    })?;
    let key = ctx
        .channel
        .secrets
        .api_key
        .as_deref()
        .ok_or_else(|| SendFailure::permanent("the channel has no credentials.api_key"))?;
    let base = config
        .settings
        .api_base_url
        .as_deref()
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    Ok((domain, key, base))
}

#[tracing::instrument(skip_all, fields(channel = %ctx.channel.config.id))]
async fn send_message(
    ctx: &SendContext<'_>,
    message: &OutboundMessage,
) -> Result<Sent, SendFailure> {
    let (domain, key, base) = account(ctx)?;
    let url = format!("{base}/v3/{domain}/messages");
    let mut form = form_for(ctx.channel, message);
    // Kept by Mailgun with the message's events: how an unanswered attempt is found again.
    form.push((
        format!("v:{}", super::lookup::SEND_ID_VARIABLE),
        ctx.send_id.to_owned(),
    ));
    let response = ctx
        .http
        .post(&url)
        .basic_auth("api", Some(key))
        .form(&form)
        .send()
        .await
        .map_err(|err| SendFailure::unreachable("Mailgun", &err))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(Sent {
            provider_message_id: sent_id(&body),
        });
    }
    Err(refusal(status, &body))
}

/// Mailgun's answer to a request it refused.
pub(crate) fn refusal(status: u16, body: &[u8]) -> SendFailure {
    let error = parse_error(status, body);
    SendFailure {
        transient: error.transient,
        status_code: Some(status),
        // Mailgun has no error codes of its own: the HTTP status is the code.
        error_code: Some(status.to_string()),
        detail: error.message.chars().take(300).collect(),
        in_doubt: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::mailgun::inbound::parse;

    fn email() -> InboundEmail {
        let fields: Vec<(String, String)> = [
            ("recipient", "support@shop.example"),
            ("sender", "dana@customer.example"),
            ("from", "Dana Smith <dana@customer.example>"),
            ("subject", "Where is my order?"),
            ("stripped-text", "Where is order 1042?"),
            ("Message-Id", "<second@mail.customer.example>"),
            (
                "References",
                "<root@mail.customer.example> <reply1@shop.example>",
            ),
            ("timestamp", "1770920772"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        parse(&fields, Vec::new()).unwrap()
    }

    #[test]
    fn an_email_becomes_an_inbound_message_threaded_by_its_root() {
        let m = to_inbound(email());
        assert_eq!(m.channel, Channel::Email);
        assert_eq!(m.provider_message_id, "<second@mail.customer.example>");
        assert_eq!(m.thread_key, "<root@mail.customer.example>");
        assert_eq!(m.from, "dana@customer.example");
        assert_eq!(m.to, "support@shop.example");
        assert_eq!(m.display_name.as_deref(), Some("Dana Smith"));
    }

    fn channel() -> LoadedChannel {
        use crate::channels::config::{ChannelConfig, PublicSettings};
        use crate::channels::{ChannelSecrets, Provider};
        use crate::ids::{ChannelId, OrganizationId};
        LoadedChannel {
            config: ChannelConfig {
                id: ChannelId::new(),
                organization_id: OrganizationId::new(),
                provider: Provider::Mailgun,
                name: "mail".into(),
                address: "support@shop.example".into(),
                settings: PublicSettings {
                    account_id: Some("mg.shop.example".into()),
                    from_name: Some("Ava from Shop".into()),
                    ..PublicSettings::default()
                },
                credentials_set: Vec::new(),
                enabled: true,
                created_at: 0,
                updated_at: 0,
            },
            secrets: ChannelSecrets::default(),
        }
    }

    #[test]
    fn the_queued_reply_is_threaded_and_quotes_the_customer() {
        let m = to_inbound(email());
        let out = OutboundMessage {
            channel: Channel::Email,
            to: m.from.clone(),
            from: m.to.clone(),
            text: "Hello Dana Smith,\n\nIt shipped.\n\nBest regards,\nAva".into(),
            subject: m.subject.clone(),
            thread_headers: m.thread_headers.clone(),
            quoted_text: Some(m.text.clone()),
            ..OutboundMessage::default()
        };
        let form = form_for(&channel(), &out);
        let get = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("from"), Some("Ava from Shop <support@shop.example>"));
        assert_eq!(get("to"), Some("dana@customer.example"));
        assert_eq!(get("subject"), Some("Re: Where is my order?"));
        assert_eq!(get("h:In-Reply-To"), Some("<second@mail.customer.example>"));
        assert_eq!(
            get("h:References"),
            Some(
                "<root@mail.customer.example> <reply1@shop.example> <second@mail.customer.example>"
            )
        );
        assert_eq!(
            get("text"),
            Some(
                "Hello Dana Smith,\n\nIt shipped.\n\nBest regards,\nAva\n\n\
                 On Thu, 12 Feb 2026 at 18:26 UTC, Dana Smith <dana@customer.example> wrote:\n\
                 > Where is order 1042?"
            )
        );
    }

    #[test]
    fn a_human_reply_without_quote_is_still_threaded() {
        let m = to_inbound(email());
        let out = OutboundMessage {
            channel: Channel::Email,
            to: m.from.clone(),
            from: m.to.clone(),
            text: "A person here: it shipped.".into(),
            subject: m.subject.clone(),
            thread_headers: m.thread_headers.clone(),
            ..OutboundMessage::default()
        };
        let form = form_for(&channel(), &out);
        let text = form
            .iter()
            .find(|(k, _)| k == "text")
            .map(|(_, v)| v.as_str());
        assert_eq!(text, Some("A person here: it shipped."));
        assert!(form.iter().any(|(k, _)| k == "h:In-Reply-To"));
    }
}
