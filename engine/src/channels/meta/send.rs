//! Graph API send requests: the JSON bodies for WhatsApp's `messages` endpoint and the
//! Instagram Send API, built from the agent's (already channel-shaped) reply.
//!
//! - WhatsApp: `POST {base}/{version}/{phone_number_id}/messages`. Plain text is a `text`
//!   message (at most 4096 characters). When the reply ends with a short list of choices (two
//!   or three items, each fitting WhatsApp's 20-character button title), the list becomes an
//!   `interactive` message with reply buttons and the text before it becomes the body (at most
//!   1024 characters); the customer taps a button instead of typing. Media links go out as
//!   `image`/`document`/... messages with a `link`.
//! - Instagram: `POST {base}/{version}/me/messages` with `recipient.id` (the Instagram-scoped
//!   id) and `message.text` (at most 1000 bytes); choices become `quick_replies` (at most 13,
//!   20-character titles); media go out as `attachment` messages with a URL.
//!
//! Every call returns the requests in the order they must be sent: one message, or a text then
//! one message per media link.

use serde_json::{json, Value};

use crate::text::sentences;

/// WhatsApp allows at most three reply buttons on an interactive message.
pub const WHATSAPP_MAX_BUTTONS: usize = 3;
/// A reply button's title is at most 20 characters (WhatsApp and Instagram quick replies).
pub const BUTTON_TITLE_MAX: usize = 20;
/// Body limit of a WhatsApp interactive message.
pub const WHATSAPP_INTERACTIVE_BODY_MAX: usize = 1024;
/// Body limit of a WhatsApp text message.
pub const WHATSAPP_TEXT_MAX: usize = 4096;
/// Instagram rejects text messages of 1000 UTF-8 bytes or more.
pub const INSTAGRAM_TEXT_MAX_BYTES: usize = 1000;
/// Instagram accepts at most 13 quick replies.
pub const INSTAGRAM_MAX_QUICK_REPLIES: usize = 13;

/// A file the reply links to (a label, an invoice, a product picture).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLink {
    /// `image`, `video`, `audio` or `document` (WhatsApp); Instagram also takes `file`.
    pub kind: String,
    pub url: String,
    pub caption: Option<String>,
}

/// What to send to one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outgoing {
    /// The customer's WhatsApp id or Instagram-scoped id.
    pub to: String,
    /// The shaped reply text.
    pub text: String,
    pub media: Vec<MediaLink>,
    /// The provider message id being answered (WhatsApp shows the reply as a quote).
    pub reply_to: Option<String>,
}

/// One Graph API call: a path below `{base}/{version}/` and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphRequest {
    pub path: String,
    pub body: Value,
}

/// Splits a trailing list of choices off `text`: returns the text before the list and the
/// items, or `None` when the text does not end with a list of at least two items. List items
/// are lines starting with `-`, `*`, `•` or a number followed by `.` or `)`.
pub fn split_choices(text: &str) -> Option<(String, Vec<String>)> {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut items = Vec::new();
    let mut first_item = lines.len();
    for (i, line) in lines.iter().enumerate().rev() {
        match list_item(line) {
            Some(item) => {
                items.push(item.to_string());
                first_item = i;
            }
            None if line.trim().is_empty() && items.is_empty() => {}
            None => break,
        }
    }
    if items.len() < 2 {
        return None;
    }
    items.reverse();
    let intro = lines[..first_item].join("\n").trim().to_string();
    Some((intro, items))
}

fn list_item(line: &str) -> Option<&str> {
    let line = line.trim();
    let rest = line
        .strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.strip_prefix("• "))
        .or_else(|| {
            let digits = line.find(|c: char| !c.is_ascii_digit())?;
            if digits == 0 || digits > 2 {
                return None;
            }
            line[digits..]
                .strip_prefix(". ")
                .or_else(|| line[digits..].strip_prefix(") "))
        })?;
    let item = rest.trim();
    (!item.is_empty()).then_some(item)
}

/// Returns the choices of `text` that fit as buttons (at most `max`, each title within
/// [`BUTTON_TITLE_MAX`] characters), with the intro text; `None` when they do not all fit or
/// there is no intro to show above them.
fn button_choices(text: &str, max: usize) -> Option<(String, Vec<String>)> {
    let (intro, items) = split_choices(text)?;
    let fits = items.len() <= max
        && items
            .iter()
            .all(|item| item.chars().count() <= BUTTON_TITLE_MAX);
    (fits && !intro.is_empty()).then_some((intro, items))
}

/// Cuts `text` to at most `max` characters, at a sentence boundary when one fits.
fn cut_chars(text: &str, max: usize) -> String {
    cut_by(text, max, |t| t.chars().count())
}

/// Cuts `text` to fewer than `max` UTF-8 bytes, at a sentence boundary when one fits.
fn cut_bytes(text: &str, max: usize) -> String {
    cut_by(text, max.saturating_sub(1), str::len)
}

fn cut_by(text: &str, max: usize, measure: fn(&str) -> usize) -> String {
    if measure(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for sentence in sentences(text) {
        let candidate = if out.is_empty() {
            sentence.clone()
        } else {
            format!("{out} {sentence}")
        };
        if measure(&candidate) > max {
            break;
        }
        out = candidate;
    }
    if out.is_empty() {
        // One sentence longer than the limit: cut on a character boundary and mark the cut.
        for c in text.chars() {
            let mut next = out.clone();
            next.push(c);
            if measure(&next) + measure("...") > max {
                break;
            }
            out = next;
        }
        out.push_str("...");
    }
    out
}

/// Returns the WhatsApp Cloud API requests that deliver `out` from `phone_number_id`.
pub fn whatsapp_requests(phone_number_id: &str, out: &Outgoing) -> Vec<GraphRequest> {
    let path = format!("{phone_number_id}/messages");
    let mut bodies = Vec::new();
    if !out.text.trim().is_empty() {
        let body = match button_choices(&out.text, WHATSAPP_MAX_BUTTONS) {
            Some((intro, items)) => {
                let buttons: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .map(|(i, title)| {
                        json!({"type": "reply", "reply": {"id": format!("choice-{}", i + 1), "title": title}})
                    })
                    .collect();
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": out.to,
                    "type": "interactive",
                    "interactive": {
                        "type": "button",
                        "body": {"text": cut_chars(&intro, WHATSAPP_INTERACTIVE_BODY_MAX)},
                        "action": {"buttons": buttons}
                    }
                })
            }
            None => json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": out.to,
                "type": "text",
                "text": {
                    "preview_url": out.text.contains("https://"),
                    "body": cut_chars(&out.text, WHATSAPP_TEXT_MAX)
                }
            }),
        };
        bodies.push(body);
    }
    for media in &out.media {
        let kind = match media.kind.as_str() {
            "image" | "video" | "audio" | "document" | "sticker" => media.kind.as_str(),
            _ => "document",
        };
        let mut item = json!({"link": media.url});
        // Audio and stickers take no caption.
        if let (Some(caption), "image" | "video" | "document") = (&media.caption, kind) {
            item["caption"] = json!(caption);
        }
        bodies.push(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": out.to,
            "type": kind,
            kind: item
        }));
    }
    if let (Some(reply_to), Some(first)) = (&out.reply_to, bodies.first_mut()) {
        first["context"] = json!({"message_id": reply_to});
    }
    bodies
        .into_iter()
        .map(|body| GraphRequest {
            path: path.clone(),
            body,
        })
        .collect()
}

/// Returns the Instagram Send API requests that deliver `out`.
pub fn instagram_requests(out: &Outgoing) -> Vec<GraphRequest> {
    let path = "me/messages".to_string();
    let recipient = json!({"id": out.to});
    let mut bodies = Vec::new();
    if !out.text.trim().is_empty() {
        let message = match button_choices(&out.text, INSTAGRAM_MAX_QUICK_REPLIES) {
            Some((intro, items)) => {
                let replies: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .map(|(i, title)| {
                        json!({"content_type": "text", "title": title, "payload": format!("choice-{}", i + 1)})
                    })
                    .collect();
                json!({"text": cut_bytes(&intro, INSTAGRAM_TEXT_MAX_BYTES), "quick_replies": replies})
            }
            None => json!({"text": cut_bytes(&out.text, INSTAGRAM_TEXT_MAX_BYTES)}),
        };
        bodies.push(json!({"recipient": recipient, "message": message}));
    }
    for media in &out.media {
        let kind = match media.kind.as_str() {
            "image" | "video" | "audio" | "file" => media.kind.as_str(),
            _ => "file",
        };
        bodies.push(json!({
            "recipient": recipient,
            "message": {"attachment": {"type": kind, "payload": {"url": media.url}}}
        }));
    }
    bodies
        .into_iter()
        .map(|body| GraphRequest {
            path: path.clone(),
            body,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(text: &str) -> Outgoing {
        Outgoing {
            to: "16505551234".into(),
            text: text.into(),
            ..Outgoing::default()
        }
    }

    #[test]
    fn a_plain_reply_is_a_whatsapp_text_message() {
        let requests = whatsapp_requests("106540352242922", &outgoing("Your order shipped."));
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, "106540352242922/messages");
        assert_eq!(
            requests[0].body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": {"preview_url": false, "body": "Your order shipped."}
            })
        );
    }

    #[test]
    fn offered_choices_become_whatsapp_reply_buttons() {
        let text = "Would you like a refund or an exchange?\n- Refund\n- Exchange\n- Store credit";
        let body = &whatsapp_requests("1", &outgoing(text))[0].body;
        assert_eq!(body["type"], "interactive");
        assert_eq!(body["interactive"]["type"], "button");
        assert_eq!(
            body["interactive"]["body"]["text"],
            "Would you like a refund or an exchange?"
        );
        let buttons = body["interactive"]["action"]["buttons"].as_array().unwrap();
        assert_eq!(buttons.len(), 3);
        assert_eq!(
            buttons[2],
            json!({"type": "reply", "reply": {"id": "choice-3", "title": "Store credit"}})
        );
    }

    #[test]
    fn more_than_three_choices_or_long_titles_stay_text() {
        let four = "Pick one:\n1. Refund\n2. Exchange\n3. Store credit\n4. Repair";
        assert_eq!(
            whatsapp_requests("1", &outgoing(four))[0].body["type"],
            "text"
        );
        let long = "Pick one:\n- Refund to the original card\n- Exchange";
        assert_eq!(
            whatsapp_requests("1", &outgoing(long))[0].body["type"],
            "text"
        );
        // A list with no question above it is information, not a choice.
        assert_eq!(
            whatsapp_requests("1", &outgoing("- Refund\n- Exchange"))[0].body["type"],
            "text"
        );
    }

    #[test]
    fn media_links_follow_the_text_and_the_first_message_quotes_the_customer() {
        let mut out = outgoing("Here is your label.");
        out.reply_to = Some("wamid.IN1".into());
        out.media = vec![MediaLink {
            kind: "document".into(),
            url: "https://shop.example/label.pdf".into(),
            caption: Some("Return label".into()),
        }];
        let requests = whatsapp_requests("1", &out);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].body["context"]["message_id"], "wamid.IN1");
        assert_eq!(
            requests[1].body["document"],
            json!({"link": "https://shop.example/label.pdf", "caption": "Return label"})
        );
        assert!(requests[1].body.get("context").is_none());
    }

    #[test]
    fn a_long_whatsapp_text_is_cut_at_a_sentence() {
        let long = "Refunds take five days. ".repeat(300);
        let body = &whatsapp_requests("1", &outgoing(&long))[0].body;
        let sent = body["text"]["body"].as_str().unwrap();
        assert!(sent.chars().count() <= WHATSAPP_TEXT_MAX);
        assert!(sent.ends_with("days."), "{}", &sent[sent.len() - 20..]);
    }

    #[test]
    fn an_instagram_reply_goes_to_the_scoped_id_with_quick_replies() {
        let mut out = outgoing("Which size?\n- Small\n- Medium\n- Large");
        out.to = "1254459154682919".into();
        let requests = instagram_requests(&out);
        assert_eq!(requests[0].path, "me/messages");
        assert_eq!(
            requests[0].body,
            json!({
                "recipient": {"id": "1254459154682919"},
                "message": {
                    "text": "Which size?",
                    "quick_replies": [
                        {"content_type": "text", "title": "Small", "payload": "choice-1"},
                        {"content_type": "text", "title": "Medium", "payload": "choice-2"},
                        {"content_type": "text", "title": "Large", "payload": "choice-3"}
                    ]
                }
            })
        );
    }

    #[test]
    fn an_instagram_text_stays_under_1000_bytes_and_media_are_attachments() {
        let mut out = outgoing(&"Größe passt gut. ".repeat(100));
        out.media = vec![MediaLink {
            kind: "image".into(),
            url: "https://shop.example/p.jpg".into(),
            caption: None,
        }];
        let requests = instagram_requests(&out);
        let text = requests[0].body["message"]["text"].as_str().unwrap();
        assert!(text.len() < INSTAGRAM_TEXT_MAX_BYTES, "{}", text.len());
        assert!(text.ends_with("gut."));
        assert_eq!(
            requests[1].body["message"],
            json!({"attachment": {"type": "image", "payload": {"url": "https://shop.example/p.jpg"}}})
        );
    }

    #[test]
    fn split_choices_reads_bullets_and_numbers_only_at_the_end() {
        assert_eq!(
            split_choices("Pick:\n1) Yes\n2) No\n"),
            Some(("Pick:".into(), vec!["Yes".into(), "No".into()]))
        );
        assert_eq!(split_choices("- a\n- b\nThat is all."), None);
        assert_eq!(split_choices("Only one:\n- a"), None);
        assert_eq!(split_choices("In 2024. we shipped"), None);
    }
}
