//! Whether Twilio already has a message an unanswered attempt may have sent: one read of the
//! account's Messages list (`GET /2010-04-01/Accounts/{AccountSid}/Messages.json?To=&From=`,
//! newest first), looking for an outbound message with the same body created since the send
//! was queued.
//!
//! Twilio's list has no filter on custom data, so the match is on recipient, sender, body and
//! time: the same text sent to the same customer from the same number more than
//! [`CLOCK_SKEW_SECS`] before this send was queued is never mistaken for it. The `DateSent`
//! filter is not used: a message Twilio has accepted but not yet handed to the carrier has no
//! send date.

use serde::Deserialize;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use super::twilio::{messages_endpoint, refusal};
use super::{Lookup, OutboundMessage, SendContext, SendFailure};

/// How far Twilio's clock may be behind ours.
const CLOCK_SKEW_SECS: i64 = 10;
/// Messages read: the newest page is enough, the send was queued moments ago.
const PAGE_SIZE: &str = "50";

#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(Debug, Deserialize)]
struct ListedMessage {
    sid: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    /// RFC 2822, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`.
    #[serde(default)]
    date_created: Option<String>,
}

/// Looks `message` up in the channel's account.
#[tracing::instrument(skip_all, fields(channel = %ctx.channel.config.id, send = ctx.send_id))]
pub(crate) async fn find_sent(
    ctx: &SendContext<'_>,
    message: &OutboundMessage,
) -> std::result::Result<Lookup, SendFailure> {
    let (account, token, url) = messages_endpoint(ctx)?;
    let response = ctx
        .http
        .get(&url)
        .basic_auth(account, Some(token))
        .query(&[
            ("To", message.to.as_str()),
            ("From", message.from.as_str()),
            ("PageSize", PAGE_SIZE),
        ])
        .send()
        .await
        .map_err(|err| SendFailure::unreachable("the provider", &err))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(refusal(status, &body));
    }
    let page: MessagePage = serde_json::from_str(&body).map_err(|_| SendFailure {
        transient: true,
        status_code: Some(status.as_u16()),
        error_code: None,
        detail: "Twilio's message list could not be read".to_owned(),
        in_doubt: true,
    })?;
    let since = ctx.queued_at.div_euclid(1_000) - CLOCK_SKEW_SECS;
    Ok(match_in(&page.messages, message, since))
}

/// The outbound message of `listed` that is `message`, created at or after `since` (Unix
/// seconds).
fn match_in(listed: &[ListedMessage], message: &OutboundMessage, since: i64) -> Lookup {
    let found = listed.iter().find(|m| {
        m.direction
            .as_deref()
            .is_some_and(|d| d.starts_with("outbound"))
            && m.body.as_deref().map(str::trim) == Some(message.text.trim())
            && m.date_created
                .as_deref()
                .and_then(|d| OffsetDateTime::parse(d, &Rfc2822).ok())
                .is_some_and(|created| created.unix_timestamp() >= since)
    });
    match found {
        Some(m) => Lookup::Delivered {
            provider_message_id: m.sid.clone(),
        },
        None => Lookup::NotDelivered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(body: &str, direction: &str, date: &str) -> ListedMessage {
        ListedMessage {
            sid: Some(format!("SM-{body}-{date}")),
            body: Some(body.to_owned()),
            direction: Some(direction.to_owned()),
            date_created: Some(date.to_owned()),
        }
    }

    fn outbound(text: &str) -> OutboundMessage {
        OutboundMessage {
            to: "+15551230001".into(),
            from: "+15550000000".into(),
            text: text.into(),
            ..OutboundMessage::default()
        }
    }

    /// 2026-11-29 12:00:00 UTC.
    const QUEUED: i64 = 1_795_953_600;

    #[test]
    fn the_same_text_sent_since_the_send_was_queued_is_found() {
        let page = [
            listed(
                "Other text",
                "outbound-api",
                "Sun, 29 Nov 2026 12:00:03 +0000",
            ),
            listed(
                "Your parcel left today.",
                "outbound-api",
                "Sun, 29 Nov 2026 12:00:02 +0000",
            ),
        ];
        assert_eq!(
            match_in(&page, &outbound("Your parcel left today."), QUEUED),
            Lookup::Delivered {
                provider_message_id: Some(
                    "SM-Your parcel left today.-Sun, 29 Nov 2026 12:00:02 +0000".into()
                )
            }
        );
    }

    #[test]
    fn older_copies_inbound_messages_and_other_texts_are_not_it() {
        let page = [
            // The same words, sent an hour earlier: an earlier answer, not this one.
            listed(
                "Hi! How can I help?",
                "outbound-api",
                "Sun, 29 Nov 2026 11:00:00 +0000",
            ),
            // The customer typing the same words.
            listed(
                "Hi! How can I help?",
                "inbound",
                "Sun, 29 Nov 2026 12:00:05 +0000",
            ),
            listed(
                "Something else",
                "outbound-reply",
                "Sun, 29 Nov 2026 12:00:05 +0000",
            ),
            listed("Hi! How can I help?", "outbound-api", "not a date"),
        ];
        assert_eq!(
            match_in(&page, &outbound("Hi! How can I help?"), QUEUED),
            Lookup::NotDelivered
        );
    }

    #[test]
    fn twilio_list_pages_parse() {
        let page: MessagePage = serde_json::from_str(
            r#"{"first_page_uri": "/x", "messages": [{"sid": "SM1", "body": "Hi", "direction": "outbound-api",
                "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "status": "queued", "date_sent": null}],
                "page": 0, "page_size": 50}"#,
        )
        .expect("a page");
        assert_eq!(page.messages.len(), 1);
        assert_eq!(page.messages[0].sid.as_deref(), Some("SM1"));
    }
}
