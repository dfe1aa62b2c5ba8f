//! Mailgun messages API: the form of a threaded reply, and the errors it answers with.
//!
//! `POST {base}/v3/{domain}/messages` with HTTP basic auth `api:<api key>` and form fields
//! `from`, `to`, `subject`, `text`, `h:In-Reply-To` and `h:References`. The reply keeps the
//! customer's thread in every mail client: the subject gets one `Re: ` (never `Re: Re: `),
//! `In-Reply-To` is the customer's `Message-Id`, and `References` is theirs with that id
//! appended. The text is the agent's answer (already shaped for e-mail: greeting, full
//! sentences, sign-off) followed by the customer's message quoted below it, as people reply.
//!
//! Mailgun answers `200 {"id": "<...>", "message": "Queued. Thank you."}`; failures carry
//! `{"message": "..."}`. 429 and 5xx are worth retrying; other 4xx (a bad key, an unverified
//! domain, a malformed address) are not.

use serde_json::Value;
use time::macros::format_description;
use time::OffsetDateTime;

/// The customer's message, quoted below the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// `Dana Smith <dana@customer.example>` or the bare address.
    pub author: String,
    /// When they sent it, unix seconds (0: unknown, the date is left out).
    pub sent_at_secs: i64,
    pub text: String,
}

/// A reply to one customer e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub from: String,
    pub to: String,
    /// The subject of the customer's mail.
    pub subject: String,
    /// The shaped answer.
    pub text: String,
    pub quote: Option<Quote>,
    /// The customer's `Message-Id`.
    pub in_reply_to: Option<String>,
    /// The customer's `References`, oldest first.
    pub references: Vec<String>,
}

/// Returns `Re: <subject>`, adding the prefix only once.
pub fn reply_subject(subject: &str) -> String {
    let subject = subject.trim();
    let has_prefix = subject
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    match (subject.is_empty(), has_prefix) {
        (true, _) => "Re: your message".to_string(),
        (false, true) => subject.to_string(),
        (false, false) => format!("Re: {subject}"),
    }
}

/// Returns the attribution line and the quoted text, each line prefixed with `> `.
pub fn quote_block(quote: &Quote) -> String {
    let date = OffsetDateTime::from_unix_timestamp(quote.sent_at_secs)
        .ok()
        .filter(|_| quote.sent_at_secs > 0)
        .and_then(|at| {
            at.format(format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] at [hour]:[minute] UTC"
            ))
            .ok()
        });
    let mut out = match date {
        Some(date) => format!("On {date}, {} wrote:\n", quote.author),
        None => format!("{} wrote:\n", quote.author),
    };
    for line in quote.text.trim().lines() {
        if line.is_empty() {
            out.push_str(">\n");
        } else {
            out.push_str("> ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

/// Returns the reply's text: the answer, a blank line, then the quoted customer message.
pub fn reply_text(answer: &str, quote: Option<&Quote>) -> String {
    match quote {
        Some(quote) if !quote.text.trim().is_empty() => {
            format!("{}\n\n{}", answer.trim_end(), quote_block(quote))
        }
        _ => answer.trim_end().to_string(),
    }
}

/// Returns the `References` value of a reply: the customer's references, then their message.
pub fn references_header(references: &[String], in_reply_to: Option<&str>) -> String {
    let mut ids: Vec<&str> = references.iter().map(String::as_str).collect();
    if let Some(id) = in_reply_to {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.join(" ")
}

/// Returns the form fields of the messages API call for `reply`.
pub fn message_form(reply: &Reply) -> Vec<(String, String)> {
    let mut form = vec![
        ("from".to_string(), reply.from.clone()),
        ("to".to_string(), reply.to.clone()),
        ("subject".to_string(), reply_subject(&reply.subject)),
        (
            "text".to_string(),
            reply_text(&reply.text, reply.quote.as_ref()),
        ),
    ];
    if let Some(id) = &reply.in_reply_to {
        form.push(("h:In-Reply-To".to_string(), id.clone()));
    }
    let references = references_header(&reply.references, reply.in_reply_to.as_deref());
    if !references.is_empty() {
        form.push(("h:References".to_string(), references));
    }
    form
}

/// Reads the queued message's id from a successful response (`<...@domain>`).
pub fn sent_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

/// A refused send: whether retrying helps, and Mailgun's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailgunError {
    pub transient: bool,
    pub message: String,
}

/// Reads a failed messages API response.
pub fn parse_error(status: u16, body: &[u8]) -> MailgunError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| format!("HTTP {status}"));
    MailgunError {
        transient: status == 429 || status >= 500,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> Reply {
        Reply {
            from: "Ava <support@shop.example>".into(),
            to: "dana@customer.example".into(),
            subject: "Where is my order?".into(),
            text: "Hello Dana,\n\nOrder 1042 shipped on Monday.\n\nBest regards,\nAva".into(),
            quote: Some(Quote {
                author: "Dana Smith <dana@customer.example>".into(),
                sent_at_secs: 1_770_920_772,
                text: "Hi,\nwhere is order 1042?".into(),
            }),
            in_reply_to: Some("<CAF=abc123@mail.customer.example>".into()),
            references: Vec::new(),
        }
    }

    fn get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
        form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_reply_is_threaded_and_quotes_the_customer_below_the_answer() {
        let form = message_form(&reply());
        assert_eq!(get(&form, "from"), Some("Ava <support@shop.example>"));
        assert_eq!(get(&form, "to"), Some("dana@customer.example"));
        assert_eq!(get(&form, "subject"), Some("Re: Where is my order?"));
        assert_eq!(
            get(&form, "h:In-Reply-To"),
            Some("<CAF=abc123@mail.customer.example>")
        );
        assert_eq!(
            get(&form, "h:References"),
            Some("<CAF=abc123@mail.customer.example>")
        );
        assert_eq!(
            get(&form, "text"),
            Some(
                "Hello Dana,\n\nOrder 1042 shipped on Monday.\n\nBest regards,\nAva\n\n\
                 On Thu, 12 Feb 2026 at 18:26 UTC, Dana Smith <dana@customer.example> wrote:\n\
                 > Hi,\n> where is order 1042?"
            )
        );
    }

    #[test]
    fn a_later_reply_extends_the_references_and_keeps_one_re() {
        let mut r = reply();
        r.subject = "RE: Where is my order?".into();
        r.references = vec![
            "<CAF=abc123@mail.customer.example>".into(),
            "<reply1@shop.example>".into(),
        ];
        r.in_reply_to = Some("<second@mail.customer.example>".into());
        let form = message_form(&r);
        assert_eq!(get(&form, "subject"), Some("RE: Where is my order?"));
        assert_eq!(
            get(&form, "h:References"),
            Some("<CAF=abc123@mail.customer.example> <reply1@shop.example> <second@mail.customer.example>")
        );
    }

    #[test]
    fn without_a_quote_or_thread_the_form_is_plain() {
        let mut r = reply();
        r.quote = None;
        r.in_reply_to = None;
        r.subject = String::new();
        let form = message_form(&r);
        assert_eq!(get(&form, "subject"), Some("Re: your message"));
        assert!(get(&form, "text").unwrap().ends_with("Ava"));
        assert_eq!(get(&form, "h:In-Reply-To"), None);
        assert_eq!(get(&form, "h:References"), None);
    }

    #[test]
    fn blank_quoted_lines_keep_the_quote_marker() {
        let q = Quote {
            author: "dana@customer.example".into(),
            sent_at_secs: 0,
            text: "First.\n\nSecond.".into(),
        };
        assert_eq!(
            quote_block(&q),
            "dana@customer.example wrote:\n> First.\n>\n> Second."
        );
    }

    #[test]
    fn responses_give_the_id_or_a_classified_error() {
        assert_eq!(
            sent_id(br#"{"id":"<20260212.1@shop.example>","message":"Queued. Thank you."}"#)
                .as_deref(),
            Some("<20260212.1@shop.example>")
        );
        let forbidden = parse_error(401, b"Forbidden");
        assert_eq!(
            (forbidden.transient, forbidden.message.as_str()),
            (false, "HTTP 401")
        );
        let bad = parse_error(400, br#"{"message":"to parameter is not a valid address"}"#);
        assert_eq!(bad.message, "to parameter is not a valid address");
        assert!(parse_error(503, b"").transient && parse_error(429, b"{}").transient);
    }
}
