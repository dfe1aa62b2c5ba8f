//! Mailgun inbound routes: the fields of a forwarded e-mail, read into one [`InboundEmail`].
//!
//! A route whose action is `forward("https://.../inbound/mailgun/{channel}")` POSTs the
//! parsed message as `multipart/form-data` (or url-encoded when there are no attachments):
//! `sender` (the envelope sender), `from` (the `From:` header, with a display name),
//! `recipient`, `subject`, `body-plain`, `stripped-text` (the new text without the quoted
//! reply and signature), `Message-Id`, `In-Reply-To`, `References`, `attachment-count` and the
//! attachments as files, and the `timestamp`/`token`/`signature` trio (see
//! [`super::signature`]).
//!
//! The thread of a message is its root: the first id of `References`, else `In-Reply-To`,
//! else its own `Message-Id`. Replies to our replies carry the root in `References`, so the
//! whole exchange stays one conversation.

use crate::error::{Error, Result};

/// An attachment the customer sent (kept as a name; the file is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: Option<String>,
}

/// One received e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEmail {
    /// The customer's address, lowercase, without display name.
    pub from: String,
    /// The display name of the `From:` header, if any.
    pub from_name: Option<String>,
    /// The organization's address it was sent to, lowercase.
    pub recipient: String,
    pub subject: String,
    /// The customer's new text (`stripped-text`, else `body-plain`).
    pub text: String,
    /// `Message-Id` with its angle brackets (`<abc@mail.example>`).
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// The ids of `References`, oldest first.
    pub references: Vec<String>,
    pub attachments: Vec<Attachment>,
    /// The signature trio, checked by the route before anything else.
    pub timestamp: String,
    pub token: String,
    pub signature: String,
}

impl InboundEmail {
    /// The thread root (see the module documentation).
    pub fn thread_key(&self) -> &str {
        self.references
            .first()
            .or(self.in_reply_to.as_ref())
            .unwrap_or(&self.message_id)
    }

    /// The text the agent answers: the new text, with a note of each attachment.
    pub fn text_for_agent(&self) -> String {
        let mut text = self.text.trim().to_string();
        for a in &self.attachments {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("[attachment: {}]", a.filename));
        }
        if text.is_empty() {
            // An e-mail with only a subject: the subject is the question.
            text = self.subject.trim().to_string();
        }
        text
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// Splits `Dana Smith <dana@example.com>` into the lowercase address and the display name.
pub fn parse_mailbox(raw: &str) -> Option<(String, Option<String>)> {
    let raw = raw.trim();
    let (name, address) = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let name = raw[..open].trim().trim_matches('"').trim();
            (
                (!name.is_empty()).then(|| name.to_string()),
                &raw[open + 1..close],
            )
        }
        _ => (None, raw),
    };
    let address = address.trim().to_ascii_lowercase();
    let valid = address
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !address.contains(char::is_whitespace);
    valid.then_some((address, name))
}

/// Splits a `References`/`In-Reply-To` value into its `<id>` tokens.
pub fn message_ids(raw: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        let Some(len) = rest[open..].find('>') else {
            break;
        };
        let id = &rest[open..open + len + 1];
        if id.len() > 2 {
            ids.push(id.to_string());
        }
        rest = &rest[open + len + 1..];
    }
    ids
}

/// Reads the form fields of an inbound route request. `attachments` are the files the form
/// carried (name, content type). Missing `sender`/`recipient`/`Message-Id` is `Invalid`.
pub fn parse(fields: &[(String, String)], attachments: Vec<Attachment>) -> Result<InboundEmail> {
    let sender = field(fields, "sender")
        .or_else(|| field(fields, "from"))
        .and_then(parse_mailbox)
        .ok_or_else(|| Error::invalid("sender: a valid e-mail address is required"))?;
    let from_name = field(fields, "from")
        .and_then(parse_mailbox)
        .and_then(|(_, name)| name);
    let recipient = field(fields, "recipient")
        .and_then(|r| r.split(',').find_map(parse_mailbox))
        .map(|(address, _)| address)
        .ok_or_else(|| Error::invalid("recipient: a valid e-mail address is required"))?;
    let message_id = field(fields, "Message-Id")
        .and_then(|raw| message_ids(raw).into_iter().next())
        .ok_or_else(|| Error::invalid("Message-Id: required"))?;
    let text = field(fields, "stripped-text")
        .or_else(|| field(fields, "body-plain"))
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(InboundEmail {
        from: sender.0,
        from_name,
        recipient,
        subject: field(fields, "subject")
            .unwrap_or_default()
            .trim()
            .to_string(),
        text,
        message_id,
        in_reply_to: field(fields, "In-Reply-To").and_then(|r| message_ids(r).into_iter().next()),
        references: field(fields, "References")
            .map(message_ids)
            .unwrap_or_default(),
        attachments,
        timestamp: field(fields, "timestamp").unwrap_or_default().to_string(),
        token: field(fields, "token").unwrap_or_default().to_string(),
        signature: field(fields, "signature").unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The fields of Mailgun's documented inbound-route POST, abridged.
    fn first_mail() -> Vec<(String, String)> {
        fields(&[
            ("recipient", "support@shop.example"),
            ("sender", "Dana@Customer.example"),
            ("from", "Dana Smith <dana@customer.example>"),
            ("subject", "Where is my order?"),
            (
                "body-plain",
                "Hi,\nwhere is order 1042?\n\nDana\n-- \nSent from my phone",
            ),
            ("stripped-text", "Hi,\nwhere is order 1042?"),
            ("stripped-signature", "Sent from my phone"),
            ("Message-Id", "<CAF=abc123@mail.customer.example>"),
            ("timestamp", "1770920772"),
            (
                "token",
                "e0b5477167110d68991efc6b9f89f0a11066af27834600e123",
            ),
            ("signature", "00"),
        ])
    }

    #[test]
    fn a_first_mail_is_read_and_is_its_own_thread() {
        let mail = parse(&first_mail(), Vec::new()).unwrap();
        assert_eq!(mail.from, "dana@customer.example");
        assert_eq!(mail.from_name.as_deref(), Some("Dana Smith"));
        assert_eq!(mail.recipient, "support@shop.example");
        assert_eq!(mail.subject, "Where is my order?");
        assert_eq!(mail.text, "Hi,\nwhere is order 1042?");
        assert_eq!(mail.message_id, "<CAF=abc123@mail.customer.example>");
        assert_eq!(mail.thread_key(), "<CAF=abc123@mail.customer.example>");
        assert_eq!(mail.token.len(), 50);
    }

    #[test]
    fn a_follow_up_is_threaded_by_its_references_root() {
        let mut f = first_mail();
        f.retain(|(k, _)| k != "Message-Id");
        f.extend(fields(&[
            ("Message-Id", "<second@mail.customer.example>"),
            ("In-Reply-To", "<reply1@shop.example>"),
            (
                "References",
                "<CAF=abc123@mail.customer.example>\r\n <reply1@shop.example>",
            ),
        ]));
        let mail = parse(&f, Vec::new()).unwrap();
        assert_eq!(
            mail.references,
            vec![
                "<CAF=abc123@mail.customer.example>".to_string(),
                "<reply1@shop.example>".to_string()
            ]
        );
        assert_eq!(mail.in_reply_to.as_deref(), Some("<reply1@shop.example>"));
        assert_eq!(mail.thread_key(), "<CAF=abc123@mail.customer.example>");
    }

    #[test]
    fn body_plain_is_used_without_stripped_text_and_attachments_are_noted() {
        let mut f = first_mail();
        f.retain(|(k, _)| k != "stripped-text");
        let mail = parse(
            &f,
            vec![Attachment {
                filename: "receipt.pdf".into(),
                content_type: Some("application/pdf".into()),
            }],
        )
        .unwrap();
        assert!(mail.text.starts_with("Hi,\nwhere is order 1042?\n\nDana"));
        assert!(mail
            .text_for_agent()
            .ends_with("Sent from my phone\n[attachment: receipt.pdf]"));
    }

    #[test]
    fn missing_sender_or_message_id_is_invalid() {
        let mut f = first_mail();
        f.retain(|(k, _)| k != "sender" && k != "from");
        assert!(parse(&f, Vec::new())
            .unwrap_err()
            .message()
            .starts_with("sender"));
        let mut f = first_mail();
        f.retain(|(k, _)| k != "Message-Id");
        assert!(parse(&f, Vec::new())
            .unwrap_err()
            .message()
            .starts_with("Message-Id"));
    }

    #[test]
    fn mailboxes_parse_with_and_without_names() {
        assert_eq!(
            parse_mailbox("\"Smith, Dana\" <Dana@X.example>"),
            Some(("dana@x.example".into(), Some("Smith, Dana".into())))
        );
        assert_eq!(
            parse_mailbox("dana@x.example"),
            Some(("dana@x.example".into(), None))
        );
        assert_eq!(parse_mailbox("not an address"), None);
        assert_eq!(parse_mailbox("dana@localhost"), None);
    }
}
