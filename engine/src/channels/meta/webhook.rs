//! Parsing of Meta webhook deliveries into provider-neutral inbound messages.
//!
//! Two shapes arrive at the same kind of endpoint:
//! - WhatsApp Cloud API (`"object": "whatsapp_business_account"`): `entry[].changes[].value`
//!   holds `metadata.phone_number_id` (the business number that was written to), `contacts`
//!   (the sender's profile name) and `messages` (text, image/audio/video/document/sticker with a
//!   media id, interactive `button_reply`/`list_reply`, template `button`, location). Delivery
//!   receipts arrive in the same envelope as `statuses` and are not messages: they are ignored.
//! - Instagram messaging (`"object": "instagram"`): `entry[].messaging[]` with `sender.id` (the
//!   Instagram-scoped id of the customer), `recipient.id` (the business account) and `message`
//!   (text, `attachments[]` with a URL, `reply_to.story` for story replies, `quick_reply`);
//!   `is_echo` marks the business's own messages coming back, which are ignored, as are reads,
//!   reactions and anything else without a message. Postbacks (a tapped button) become text.
//!   Some apps receive the same event as `entry[].changes[]` with `field: "messages"`; both are
//!   read.
//!
//! One delivery may batch several messages; each carries the provider's message id, used
//! downstream to answer a retried delivery only once.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Which Meta product a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Whatsapp,
    Instagram,
}

/// What kind of message the customer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    Text,
    /// An image, audio, video, document or sticker (see [`InboundMessage::media`]).
    Media,
    /// A tapped reply button or list row; `id` is the id the agent gave the choice.
    Choice {
        id: String,
    },
    /// A reply to one of the business's Instagram stories.
    StoryReply {
        story_url: Option<String>,
    },
    /// A shared location, rendered as text.
    Location,
}

/// A media item attached to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `image`, `audio`, `video`, `document`, `sticker`, `file`, `story_mention`, ...
    pub kind: String,
    /// WhatsApp media id (the URL is fetched from the Graph API with it).
    pub id: Option<String>,
    /// Instagram attachments carry a (temporary) URL directly.
    pub url: Option<String>,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
}

/// One customer message, provider-neutral enough for the channel flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub platform: Platform,
    /// `wamid....` on WhatsApp, `mid` on Instagram: the key for duplicate detection.
    pub provider_message_id: String,
    /// The customer: a WhatsApp id (international number without `+`) or an Instagram-scoped id.
    pub from: String,
    /// The customer's profile name, when the provider sends one.
    pub from_name: Option<String>,
    /// The business: the WhatsApp phone number id or the Instagram account id.
    pub to: String,
    /// When the customer sent it, epoch milliseconds (0 when the provider gave none).
    pub sent_at_ms: i64,
    /// The text the agent answers: the message, a caption, a tapped choice's title, ...
    pub text: String,
    pub kind: MessageKind,
    pub media: Vec<Media>,
    /// The provider id of the business message this one replies to, if any.
    pub reply_to: Option<String>,
}

/// What one delivery contained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub messages: Vec<InboundMessage>,
    /// Events that are not customer messages (statuses, echoes, reads, reactions, unsupported
    /// types), counted for the logs.
    pub ignored: usize,
}

/// Parses a webhook body (already signature-checked). A body that is not a JSON object is
/// `Invalid`; an object of another product is an empty delivery.
pub fn parse(body: &[u8]) -> Result<Delivery> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("the webhook body is not a Meta event").with_source(e))?;
    let mut delivery = Delivery::default();
    match envelope.object.as_str() {
        "whatsapp_business_account" => {
            for change in envelope.entry.iter().flat_map(|e| &e.changes) {
                whatsapp_change(change, &mut delivery);
            }
        }
        "instagram" | "page" => {
            for entry in &envelope.entry {
                for event in &entry.messaging {
                    instagram_event(event, &mut delivery);
                }
                for change in entry.changes.iter().filter(|c| c.field == "messages") {
                    match serde_json::from_value::<MessagingEvent>(change.value.clone()) {
                        Ok(event) => instagram_event(&event, &mut delivery),
                        Err(_) => delivery.ignored += 1,
                    }
                }
            }
        }
        _ => delivery.ignored += envelope.entry.len().max(1),
    }
    Ok(delivery)
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
    #[serde(default)]
    messaging: Vec<MessagingEvent>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn whatsapp_change(change: &Change, delivery: &mut Delivery) {
    let value = &change.value;
    delivery.ignored += value
        .get("statuses")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let Some(messages) = value.get("messages").and_then(Value::as_array) else {
        return;
    };
    let business = str_at(value, &["metadata", "phone_number_id"]).unwrap_or_default();
    let contacts = value.get("contacts").and_then(Value::as_array);
    for message in messages {
        match whatsapp_message(message, business, contacts) {
            Some(parsed) => delivery.messages.push(parsed),
            None => delivery.ignored += 1,
        }
    }
}

fn whatsapp_message(
    message: &Value,
    business: &str,
    contacts: Option<&Vec<Value>>,
) -> Option<InboundMessage> {
    let id = str_at(message, &["id"])?;
    let from = str_at(message, &["from"])?;
    let from_name = contacts
        .into_iter()
        .flatten()
        .find(|c| str_at(c, &["wa_id"]) == Some(from))
        .and_then(|c| str_at(c, &["profile", "name"]))
        .map(str::to_string);
    let sent_at_ms = str_at(message, &["timestamp"])
        .and_then(|t| t.parse::<i64>().ok())
        .map_or(0, |secs| secs.saturating_mul(1000));
    let kind_name = str_at(message, &["type"]).unwrap_or_default();
    let mut media = Vec::new();
    let (text, kind) = match kind_name {
        "text" => (
            str_at(message, &["text", "body"])?.to_string(),
            MessageKind::Text,
        ),
        "image" | "audio" | "video" | "document" | "sticker" => {
            let item = message.get(kind_name)?;
            let caption = str_at(item, &["caption"]).map(str::to_string);
            media.push(Media {
                kind: kind_name.to_string(),
                id: str_at(item, &["id"]).map(str::to_string),
                url: None,
                mime_type: str_at(item, &["mime_type"]).map(str::to_string),
                caption: caption.clone(),
            });
            let text = caption.unwrap_or_else(|| format!("[{kind_name}]"));
            (text, MessageKind::Media)
        }
        "interactive" => {
            let reply = message
                .get("interactive")
                .and_then(|i| i.get("button_reply").or_else(|| i.get("list_reply")))?;
            let title = str_at(reply, &["title"])?.to_string();
            let id = str_at(reply, &["id"]).unwrap_or(&title).to_string();
            (title, MessageKind::Choice { id })
        }
        // A quick-reply button of a template message.
        "button" => {
            let title = str_at(message, &["button", "text"])?.to_string();
            let id = str_at(message, &["button", "payload"])
                .unwrap_or(&title)
                .to_string();
            (title, MessageKind::Choice { id })
        }
        "location" => {
            let loc = message.get("location")?;
            let lat = loc.get("latitude").and_then(Value::as_f64)?;
            let lon = loc.get("longitude").and_then(Value::as_f64)?;
            let place = [str_at(loc, &["name"]), str_at(loc, &["address"])]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let text = if place.is_empty() {
                format!("[location {lat}, {lon}]")
            } else {
                format!("[location {place} ({lat}, {lon})]")
            };
            (text, MessageKind::Location)
        }
        // reaction, unsupported, system, ...: nothing for the agent to answer.
        _ => return None,
    };
    Some(InboundMessage {
        platform: Platform::Whatsapp,
        provider_message_id: id.to_string(),
        from: from.to_string(),
        from_name,
        to: business.to_string(),
        sent_at_ms,
        text,
        kind,
        media,
        reply_to: str_at(message, &["context", "id"]).map(str::to_string),
    })
}

#[derive(Deserialize)]
struct MessagingEvent {
    #[serde(default)]
    sender: Party,
    #[serde(default)]
    recipient: Party,
    #[serde(default)]
    timestamp: Value,
    message: Option<Value>,
    postback: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Party {
    #[serde(default)]
    id: String,
}

fn instagram_event(event: &MessagingEvent, delivery: &mut Delivery) {
    match instagram_message(event) {
        Some(parsed) => delivery.messages.push(parsed),
        None => delivery.ignored += 1,
    }
}

fn instagram_message(event: &MessagingEvent) -> Option<InboundMessage> {
    if event.sender.id.is_empty() {
        return None;
    }
    // Milliseconds on the messaging array; some test tools send a string.
    let sent_at_ms = match &event.timestamp {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let base = |id: &str, text: String, kind: MessageKind| InboundMessage {
        platform: Platform::Instagram,
        provider_message_id: id.to_string(),
        from: event.sender.id.clone(),
        from_name: None,
        to: event.recipient.id.clone(),
        sent_at_ms,
        text,
        kind,
        media: Vec::new(),
        reply_to: None,
    };
    if let Some(postback) = &event.postback {
        let id = str_at(postback, &["mid"])?;
        let title = str_at(postback, &["title"])?.to_string();
        let payload = str_at(postback, &["payload"]).unwrap_or(&title).to_string();
        return Some(base(id, title, MessageKind::Choice { id: payload }));
    }
    let message = event.message.as_ref()?;
    let echo = message.get("is_echo").and_then(Value::as_bool) == Some(true);
    let deleted = message.get("is_deleted").and_then(Value::as_bool) == Some(true);
    if echo || deleted {
        return None;
    }
    let id = str_at(message, &["mid"])?;
    let text = str_at(message, &["text"]).map(str::to_string);
    let media: Vec<Media> = message
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| Media {
            kind: str_at(a, &["type"]).unwrap_or("file").to_string(),
            id: None,
            url: str_at(a, &["payload", "url"]).map(str::to_string),
            mime_type: None,
            caption: None,
        })
        .collect();
    let kind = if let Some(story) = message.get("reply_to").and_then(|r| r.get("story")) {
        MessageKind::StoryReply {
            story_url: str_at(story, &["url"]).map(str::to_string),
        }
    } else if let Some(payload) = str_at(message, &["quick_reply", "payload"]) {
        MessageKind::Choice {
            id: payload.to_string(),
        }
    } else if media.is_empty() {
        MessageKind::Text
    } else {
        MessageKind::Media
    };
    let text = match text {
        Some(text) => text,
        None => {
            let first = media.first()?;
            format!("[{}]", first.kind)
        }
    };
    let mut parsed = base(id, text, kind);
    parsed.media = media;
    parsed.reply_to = str_at(message, &["reply_to", "mid"]).map(str::to_string);
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the text-message example in the WhatsApp Cloud API webhook reference.
    const WA_TEXT: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{
        "id": "102290129340398",
        "changes": [{
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{
              "from": "16505551234",
              "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
              "timestamp": "1749416383",
              "type": "text",
              "text": {"body": "Does it come in another color?"}
            }]
          },
          "field": "messages"
        }]
      }]
    }"#;

    #[test]
    fn a_whatsapp_text_message_is_read_with_its_sender_and_business_number() {
        let delivery = parse(WA_TEXT.as_bytes()).unwrap();
        assert_eq!(delivery.ignored, 0);
        let m = &delivery.messages[0];
        assert_eq!(m.platform, Platform::Whatsapp);
        assert_eq!(m.from, "16505551234");
        assert_eq!(m.from_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(m.to, "106540352242922");
        assert_eq!(m.text, "Does it come in another color?");
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.sent_at_ms, 1_749_416_383_000);
        assert!(m.provider_message_id.starts_with("wamid."));
    }

    #[test]
    fn a_whatsapp_image_keeps_its_media_id_and_caption() {
        let body = WA_TEXT.replace(
            r#""type": "text",
              "text": {"body": "Does it come in another color?"}"#,
            r#""type": "image",
              "image": {"caption": "The box arrived broken", "mime_type": "image/jpeg",
                        "sha256": "Ez9o2s+bcBvIoAvsP2yEsDV5VFQ9nUOcRuC0eYSQ1Ls=", "id": "1003383421387256"}"#,
        );
        let m = &parse(body.as_bytes()).unwrap().messages[0];
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.text, "The box arrived broken");
        assert_eq!(m.media[0].kind, "image");
        assert_eq!(m.media[0].id.as_deref(), Some("1003383421387256"));
        assert_eq!(m.media[0].mime_type.as_deref(), Some("image/jpeg"));
    }

    #[test]
    fn a_whatsapp_media_message_without_caption_still_has_text() {
        let body = WA_TEXT.replace(
            r#""type": "text",
              "text": {"body": "Does it come in another color?"}"#,
            r#""type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "42"}"#,
        );
        let m = &parse(body.as_bytes()).unwrap().messages[0];
        assert_eq!(m.text, "[audio]");
    }

    #[test]
    fn whatsapp_button_and_list_replies_carry_the_choice_id() {
        let button = WA_TEXT.replace(
            r#""type": "text",
              "text": {"body": "Does it come in another color?"}"#,
            r#""type": "interactive", "context": {"from": "15550783881", "id": "wamid.OUT1"},
               "interactive": {"type": "button_reply", "button_reply": {"id": "choice-2", "title": "Exchange"}}"#,
        );
        let m = &parse(button.as_bytes()).unwrap().messages[0];
        assert_eq!(m.text, "Exchange");
        assert_eq!(
            m.kind,
            MessageKind::Choice {
                id: "choice-2".into()
            }
        );
        assert_eq!(m.reply_to.as_deref(), Some("wamid.OUT1"));
        let list = button.replace(
            r#""type": "button_reply", "button_reply": {"id": "choice-2", "title": "Exchange"}"#,
            r#""type": "list_reply", "list_reply": {"id": "row-1", "title": "Refund", "description": "Money back"}"#,
        );
        let m = &parse(list.as_bytes()).unwrap().messages[0];
        assert_eq!(
            (m.text.as_str(), &m.kind),
            ("Refund", &MessageKind::Choice { id: "row-1".into() })
        );
    }

    #[test]
    fn whatsapp_status_updates_are_not_messages() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages",
          "value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"106540352242922"},
          "statuses":[{"id":"wamid.OUT1","status":"delivered","timestamp":"1749416400","recipient_id":"16505551234"},
                      {"id":"wamid.OUT1","status":"read","timestamp":"1749416401","recipient_id":"16505551234"}]}}]}]}"#;
        let delivery = parse(body.as_bytes()).unwrap();
        assert!(delivery.messages.is_empty());
        assert_eq!(delivery.ignored, 2);
    }

    /// The shape of an Instagram messaging webhook (a DM with text).
    const IG_TEXT: &str = r#"{
      "object": "instagram",
      "entry": [{
        "id": "17841405822304914",
        "time": 1569262486134,
        "messaging": [{
          "sender": {"id": "1254459154682919"},
          "recipient": {"id": "17841405822304914"},
          "timestamp": 1569262485349,
          "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0", "text": "Is my order shipped?"}
        }]
      }]
    }"#;

    #[test]
    fn an_instagram_dm_is_read_with_the_scoped_sender_id() {
        let m = &parse(IG_TEXT.as_bytes()).unwrap().messages[0];
        assert_eq!(m.platform, Platform::Instagram);
        assert_eq!(m.from, "1254459154682919");
        assert_eq!(m.to, "17841405822304914");
        assert_eq!(m.text, "Is my order shipped?");
        assert_eq!(m.sent_at_ms, 1_569_262_485_349);
        assert_eq!(m.kind, MessageKind::Text);
    }

    #[test]
    fn an_instagram_story_reply_is_marked_with_the_story() {
        let body = IG_TEXT.replace(
            r#""text": "Is my order shipped?""#,
            r#""text": "Love this one, is it in stock?",
               "reply_to": {"story": {"url": "https://lookaside.example/story.jpg", "id": "17920124953034287"}}"#,
        );
        let m = &parse(body.as_bytes()).unwrap().messages[0];
        assert_eq!(m.text, "Love this one, is it in stock?");
        assert_eq!(
            m.kind,
            MessageKind::StoryReply {
                story_url: Some("https://lookaside.example/story.jpg".into())
            }
        );
    }

    #[test]
    fn an_instagram_image_attachment_keeps_its_url() {
        let body = IG_TEXT.replace(
            r#""text": "Is my order shipped?""#,
            r#""attachments": [{"type": "image", "payload": {"url": "https://lookaside.example/img.jpg"}}]"#,
        );
        let m = &parse(body.as_bytes()).unwrap().messages[0];
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.text, "[image]");
        assert_eq!(
            m.media[0].url.as_deref(),
            Some("https://lookaside.example/img.jpg")
        );
    }

    #[test]
    fn instagram_echoes_and_reads_are_ignored() {
        let echo = IG_TEXT.replace(
            r#""text": "Is my order shipped?""#,
            r#""text": "Yes, it shipped", "is_echo": true"#,
        );
        let delivery = parse(echo.as_bytes()).unwrap();
        assert!(delivery.messages.is_empty());
        assert_eq!(delivery.ignored, 1);
        let read = r#"{"object":"instagram","entry":[{"id":"1","time":1,"messaging":[
            {"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"read":{"mid":"m1"}}]}]}"#;
        assert!(parse(read.as_bytes()).unwrap().messages.is_empty());
    }

    #[test]
    fn instagram_events_in_the_changes_form_are_read_too() {
        let body = r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1,"changes":[{"field":"messages",
          "value":{"sender":{"id":"12334"},"recipient":{"id":"23245"},"timestamp":"1527459824",
          "message":{"mid":"random_mid","text":"random_text"}}}]}]}"#;
        let m = &parse(body.as_bytes()).unwrap().messages[0];
        assert_eq!((m.from.as_str(), m.text.as_str()), ("12334", "random_text"));
    }

    #[test]
    fn a_body_that_is_not_json_is_invalid_and_other_products_are_ignored() {
        assert_eq!(
            parse(b"hub.mode=subscribe").unwrap_err().kind(),
            crate::ErrorKind::Invalid
        );
        let other = parse(br#"{"object":"user","entry":[{"id":"1","changes":[]}]}"#).unwrap();
        assert!(other.messages.is_empty());
    }
}
