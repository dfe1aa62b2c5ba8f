//! Whether Mailgun already accepted a message an unanswered attempt may have sent. Every send
//! carries the outbox row's id as a custom variable (`v:blaigent-send-id`), which Mailgun keeps
//! with the message's events; the lookup reads the domain's `accepted` events for the
//! recipient since the send was queued (`GET /v3/{domain}/events`) and looks for that id.
//! Unlike a match on text, this cannot mistake an earlier identical reply for this one.

use serde::Deserialize;
use serde_json::Value;

use super::flow::{account, refusal};
use crate::channels::{Lookup, OutboundMessage, SendContext, SendFailure};

/// The custom variable holding the outbox row's id.
pub const SEND_ID_VARIABLE: &str = "blaigent-send-id";
/// How far Mailgun's clock may be behind ours, in seconds.
const CLOCK_SKEW_SECS: i64 = 60;
/// Events read (Mailgun's maximum page).
const PAGE_LIMIT: &str = "300";

#[derive(Debug, Deserialize)]
struct EventPage {
    #[serde(default)]
    items: Vec<Value>,
}

/// Looks the send of `ctx` up in the channel's domain.
#[tracing::instrument(skip_all, fields(channel = %ctx.channel.config.id, send = ctx.send_id))]
pub(crate) async fn find_sent(
    ctx: &SendContext<'_>,
    message: &OutboundMessage,
) -> Result<Lookup, SendFailure> {
    let (domain, key, base) = account(ctx)?;
    let begin = (ctx.queued_at.div_euclid(1_000) - CLOCK_SKEW_SECS).to_string();
    let response = ctx
        .http
        .get(format!("{base}/v3/{domain}/events"))
        .basic_auth("api", Some(key))
        .query(&[
            ("event", "accepted"),
            ("recipient", message.to.as_str()),
            ("begin", begin.as_str()),
            ("ascending", "yes"),
            ("limit", PAGE_LIMIT),
        ])
        .send()
        .await
        .map_err(|err| SendFailure::unreachable("Mailgun", &err))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        // The send stays in doubt: the dispatcher keeps the flag until a lookup answers.
        return Err(refusal(status, &body));
    }
    let page: EventPage = serde_json::from_slice(&body).map_err(|_| SendFailure {
        transient: true,
        status_code: Some(status),
        error_code: None,
        detail: "Mailgun's event log could not be read".to_owned(),
        in_doubt: true,
    })?;
    Ok(match_in(&page.items, ctx.send_id))
}

/// The event of `items` carrying `send_id`, as a lookup result with the message's id in the
/// form the messages API returns it (`<...>`).
fn match_in(items: &[Value], send_id: &str) -> Lookup {
    let found = items
        .iter()
        .find(|event| event["user-variables"][SEND_ID_VARIABLE].as_str() == Some(send_id));
    match found {
        Some(event) => Lookup::Delivered {
            provider_message_id: event["message"]["headers"]["message-id"]
                .as_str()
                .map(|id| format!("<{}>", id.trim_matches(['<', '>']))),
        },
        None => Lookup::NotDelivered,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_event_carrying_the_send_id_is_the_send() {
        let items = vec![
            json!({"event": "accepted", "user-variables": {SEND_ID_VARIABLE: "out_other"},
                   "message": {"headers": {"message-id": "1@mg.shop.example"}}}),
            json!({"event": "accepted", "user-variables": {SEND_ID_VARIABLE: "out_this"},
                   "message": {"headers": {"message-id": "2@mg.shop.example"}}}),
        ];
        assert_eq!(
            match_in(&items, "out_this"),
            Lookup::Delivered {
                provider_message_id: Some("<2@mg.shop.example>".into())
            }
        );
        assert_eq!(match_in(&items, "out_missing"), Lookup::NotDelivered);
        assert_eq!(
            match_in(&[json!({"event": "accepted"})], "out_this"),
            Lookup::NotDelivered
        );
    }
}
