//! Channel shaping: the same answer, fitted to where it goes.
//!
//! - SMS: plain text (no markdown, no citation markers), at most two concatenated segments:
//!   306 GSM-7 characters, or 134 when the text needs UCS-2 (any character outside GSM-7).
//!   Cut at a sentence boundary where possible.
//! - Voice: no markdown, no URLs, no citation markers; dates, amounts and long numbers said as
//!   people say them, long sentences split ([`super::spoken`]).
//! - E-mail: full sentences with a salutation and a sign-off by the agent.
//! - Web: light markdown allowed (kept as is).
//! - WhatsApp, Instagram: no markdown links or headings (their clients do not render them);
//!   paragraphs and list items keep their lines, so offered choices can become buttons.
//!   Instagram is also kept short: under its 1000-byte message limit, cut at a sentence.

use std::sync::LazyLock;

use regex::Regex;

use crate::channel::Channel;
use crate::text::{literal_regex, sentences};

use super::templates::phrases;

/// Two concatenated SMS segments of GSM-7 (153 characters each after the UDH header).
pub const SMS_GSM_LIMIT: usize = 306;
/// Two concatenated SMS segments of UCS-2 (67 characters each).
pub const SMS_UCS2_LIMIT: usize = 134;

static MD_LINK: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\[([^\]]+)\]\(([^)]+)\)"));
static URL: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"\(?\bhttps?://[^\s)]*[^\s).,!?;:]\)?"));
static CITATION_MARK: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\s*\[\d+(?:,\s*\d+)*\]"));
static EMPHASIS: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"\*\*|__|`|~~|(?m)^#{1,6}\s*|(?m)^\s*[-*•]\s+"));

/// Who is writing and to whom, for channels that frame the text (e-mail).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub agent_name: &'a str,
    pub customer_name: Option<&'a str>,
    pub language: &'a str,
}

fn strip_markdown(text: &str, keep_link_targets: bool) -> String {
    let linked = MD_LINK.replace_all(text, |c: &regex::Captures<'_>| {
        if keep_link_targets {
            format!("{} ({})", &c[1], &c[2])
        } else {
            c[1].to_string()
        }
    });
    let plain = EMPHASIS.replace_all(&linked, "");
    let unmarked = CITATION_MARK.replace_all(&plain, "");
    unmarked.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Tells whether every character is in the GSM 03.38 basic set (or its extension table).
pub fn is_gsm7(text: &str) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENDED: &str = "^{}\\[~]|€";
    text.chars()
        .all(|c| BASIC.contains(c) || EXTENDED.contains(c))
}

/// Length in GSM-7 septets (extension characters count twice).
fn gsm_len(text: &str) -> usize {
    text.chars()
        .map(|c| if "^{}\\[~]|€".contains(c) { 2 } else { 1 })
        .sum()
}

fn fit_sms(text: &str) -> String {
    let (limit, measure): (usize, fn(&str) -> usize) = if is_gsm7(text) {
        (SMS_GSM_LIMIT, gsm_len)
    } else {
        (SMS_UCS2_LIMIT, |t: &str| t.chars().count())
    };
    if measure(text) <= limit {
        return text.to_string();
    }
    let mut out = String::new();
    for sentence in sentences(text) {
        let candidate = if out.is_empty() {
            sentence.clone()
        } else {
            format!("{out} {sentence}")
        };
        if measure(&candidate) > limit {
            break;
        }
        out = candidate;
    }
    if out.is_empty() {
        // One sentence longer than the limit: cut at a word boundary.
        for word in text.split_whitespace() {
            let candidate = if out.is_empty() {
                word.to_string()
            } else {
                format!("{out} {word}")
            };
            if measure(&candidate) + 3 > limit {
                break;
            }
            out = candidate;
        }
        out.push_str("...");
    }
    out
}

/// Instagram refuses a text message of 1000 UTF-8 bytes or more.
pub const INSTAGRAM_BYTES: usize = 999;

/// Like [`strip_markdown`], but line by line: paragraphs and list items keep their own lines
/// (`- item`, `1. item`). WhatsApp and Instagram render line breaks, and a trailing list of
/// choices becomes reply buttons there (`channels::meta::send`).
fn strip_markdown_keep_lists(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = ["- ", "* ", "• "]
            .into_iter()
            .find(|m| trimmed.starts_with(m))
            .map(|m| (m.len(), "- ".to_string()))
            .or_else(|| {
                let digits = trimmed.find(|c: char| !c.is_ascii_digit())?;
                let rest = &trimmed[digits..];
                (digits > 0 && (rest.starts_with(". ") || rest.starts_with(") ")))
                    .then(|| (digits + 2, format!("{}. ", &trimmed[..digits])))
            });
        let shaped = match marker {
            Some((len, prefix)) => {
                let item = strip_markdown(&trimmed[len..], true);
                (!item.is_empty()).then(|| format!("{prefix}{item}"))
            }
            None => Some(strip_markdown(trimmed, true)).filter(|l| !l.is_empty()),
        };
        match shaped {
            Some(l) => lines.push(l),
            // One blank line between paragraphs, never two.
            None if lines.last().is_some_and(|l| !l.is_empty()) => lines.push(String::new()),
            None => {}
        }
    }
    lines.join("\n").trim().to_string()
}

/// Cuts `text` to at most `max` UTF-8 bytes, at a sentence boundary where possible.
fn fit_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for sentence in sentences(text) {
        let candidate = if out.is_empty() {
            sentence.clone()
        } else {
            format!("{out} {sentence}")
        };
        if candidate.len() > max {
            break;
        }
        out = candidate;
    }
    if out.is_empty() {
        for c in text.chars() {
            if out.len() + c.len_utf8() + 3 > max {
                break;
            }
            out.push(c);
        }
        out.push_str("...");
    }
    out
}

/// Fits `text` to `channel`.
#[tracing::instrument(skip_all, fields(channel = %channel))]
pub fn shape(text: &str, channel: Channel, frame: Frame<'_>) -> String {
    match channel {
        Channel::Web => text.trim().to_string(),
        Channel::Sms => fit_sms(&strip_markdown(text, true)),
        Channel::Voice => {
            let plain = strip_markdown(text, false);
            let no_urls = URL.replace_all(&plain, "");
            let tidy = no_urls
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" .", ".")
                .replace(" ,", ",");
            super::spoken::speakable(&tidy, frame.language)
        }
        Channel::Whatsapp => strip_markdown_keep_lists(text),
        Channel::Instagram => fit_bytes(&strip_markdown_keep_lists(text), INSTAGRAM_BYTES),
        Channel::Email => {
            let p = phrases(frame.language);
            let name = frame
                .customer_name
                .map(|n| format!(" {n}"))
                .unwrap_or_default();
            let body = strip_markdown(text, true);
            format!(
                "{}\n\n{}\n\n{}\n{}",
                p.email_hello.replace("{name}", &name),
                body,
                p.email_signoff,
                frame.agent_name
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame<'static> {
        Frame {
            agent_name: "Ava",
            customer_name: Some("Dana"),
            language: "en",
        }
    }

    #[test]
    fn sms_is_plain_and_at_most_two_segments() {
        let long = "**Refunds** take 5 days [1]. ".repeat(30);
        let sms = shape(&long, Channel::Sms, frame());
        assert!(!sms.contains("**") && !sms.contains("[1]"), "{sms}");
        assert!(sms.chars().count() <= SMS_GSM_LIMIT, "{}", sms.len());
        assert!(sms.ends_with('.'), "cut at a sentence boundary: {sms}");
        let unicode = "Rückerstattungen dauern 5 Tage — immer. ".repeat(10);
        assert!(shape(&unicode, Channel::Sms, frame()).chars().count() <= SMS_UCS2_LIMIT);
    }

    #[test]
    fn voice_has_no_urls_or_markdown_but_keeps_numbers() {
        let spoken = shape(
            "See [our policy](https://shop.example/refunds) or https://shop.example/faq. Refunds take **5** days [2].",
            Channel::Voice,
            frame(),
        );
        assert_eq!(spoken, "See our policy or. Refunds take 5 days.");
    }

    #[test]
    fn email_has_a_salutation_and_sign_off() {
        let email = shape("Refunds take 5 days.", Channel::Email, frame());
        assert_eq!(
            email,
            "Hello Dana,\n\nRefunds take 5 days.\n\nBest regards,\nAva"
        );
    }

    #[test]
    fn whatsapp_keeps_list_items_on_their_own_lines() {
        let shaped = shape(
            "**Refund** or exchange [1]?\n\n\n* Refund\n* [Exchange](https://shop.example/x)\n2) Store credit",
            Channel::Whatsapp,
            frame(),
        );
        assert_eq!(
            shaped,
            "Refund or exchange?\n\n- Refund\n- Exchange (https://shop.example/x)\n2. Store credit"
        );
    }

    #[test]
    fn instagram_stays_under_its_byte_limit_at_a_sentence() {
        let long = "Größen fallen klein aus. ".repeat(60);
        let shaped = shape(&long, Channel::Instagram, frame());
        assert!(shaped.len() <= INSTAGRAM_BYTES, "{}", shaped.len());
        assert!(shaped.ends_with("aus."), "{shaped}");
    }

    #[test]
    fn web_keeps_light_markdown() {
        assert_eq!(
            shape("**Refunds** take 5 days.", Channel::Web, frame()),
            "**Refunds** take 5 days."
        );
    }
}
