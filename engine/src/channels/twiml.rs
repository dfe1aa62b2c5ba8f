//! TwiML, the XML Twilio expects in answer to its webhooks, built from typed verbs with every
//! text and attribute escaped (a customer's words or an agent's answer can hold `<`, `&` or
//! quotes).

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Speaks `text` with a voice and language (`en-US`).
    Say {
        text: String,
        voice: Option<String>,
        language: Option<String>,
    },
    /// Listens for speech and posts the transcript (`SpeechResult`) to `action`; the nested
    /// verbs play while it listens.
    Gather {
        action: String,
        language: Option<String>,
        nested: Vec<Verb>,
    },
    /// Connects the caller to a phone number.
    Dial {
        number: String,
    },
    /// Sends a message in reply (messaging webhooks).
    Message {
        text: String,
    },
    Hangup,
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids are dropped rather than sent.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn attr(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&escape(value));
        out.push('"');
    }
}

fn write_verb(out: &mut String, verb: &Verb) {
    match verb {
        Verb::Say {
            text,
            voice,
            language,
        } => {
            out.push_str("<Say");
            attr(out, "voice", voice.as_deref());
            attr(out, "language", language.as_deref());
            out.push('>');
            out.push_str(&escape(text));
            out.push_str("</Say>");
        }
        Verb::Gather {
            action,
            language,
            nested,
        } => {
            out.push_str("<Gather input=\"speech\" method=\"POST\" speechTimeout=\"auto\"");
            attr(out, "action", Some(action));
            attr(out, "language", language.as_deref());
            out.push('>');
            for inner in nested {
                write_verb(out, inner);
            }
            out.push_str("</Gather>");
        }
        Verb::Dial { number } => {
            out.push_str("<Dial>");
            out.push_str(&escape(number));
            out.push_str("</Dial>");
        }
        Verb::Message { text } => {
            out.push_str("<Message>");
            out.push_str(&escape(text));
            out.push_str("</Message>");
        }
        Verb::Hangup => out.push_str("<Hangup/>"),
    }
}

/// A complete TwiML document.
pub fn response(verbs: &[Verb]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    for verb in verbs {
        write_verb(&mut out, verb);
    }
    out.push_str("</Response>");
    out
}

/// The empty answer: "received, nothing to do now" (replies go by the REST API).
pub fn empty() -> String {
    response(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let xml = response(&[Verb::Gather {
            action: "https://x.example/g?a=1&b=2".into(),
            language: Some("en-US".into()),
            nested: vec![Verb::Say {
                text: "Tom & Jerry <say> \"hi\"".into(),
                voice: None,
                language: None,
            }],
        }]);
        assert!(
            xml.contains("action=\"https://x.example/g?a=1&amp;b=2\""),
            "{xml}"
        );
        assert!(
            xml.contains("Tom &amp; Jerry &lt;say&gt; &quot;hi&quot;"),
            "{xml}"
        );
        assert!(xml.ends_with("</Gather></Response>"), "{xml}");
    }

    #[test]
    fn the_empty_answer_is_a_bare_response() {
        assert_eq!(
            empty(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
        );
    }
}
