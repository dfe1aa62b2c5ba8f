//! Personal data detection and redaction: card numbers (Luhn-checked), IBANs (mod-97
//! checked), national ids (US SSN, UK National Insurance number), e-mail addresses and phone
//! numbers. Checksums keep ordinary numbers (order numbers, prices, dates) out of the net: a
//! random 16-digit string passes Luhn only one time in ten, a random IBAN-shaped string passes
//! mod-97 one time in 97.

use std::sync::LazyLock;

use regex::Regex;

use crate::text::literal_regex;
use serde::{Deserialize, Serialize};

/// A kind of personal data the policy can redact (the names of `guardrails.redact_pii`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Card,
    Iban,
    NationalId,
    Email,
    Phone,
}

impl PiiKind {
    /// Every kind, in the order redaction runs (checksummed kinds first, so a card number is
    /// never half-eaten by the looser phone pattern).
    pub const ALL: [PiiKind; 5] = [
        PiiKind::Card,
        PiiKind::Iban,
        PiiKind::NationalId,
        PiiKind::Email,
        PiiKind::Phone,
    ];

    /// Parses a `guardrails.redact_pii` entry.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "card" | "cards" | "credit_card" => Some(PiiKind::Card),
            "iban" => Some(PiiKind::Iban),
            "national_id" | "ssn" => Some(PiiKind::NationalId),
            "email" | "e-mail" => Some(PiiKind::Email),
            "phone" | "phone_number" => Some(PiiKind::Phone),
            _ => None,
        }
    }

    /// The placeholder that replaces a value of this kind.
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Card => "[card redacted]",
            PiiKind::Iban => "[iban redacted]",
            PiiKind::NationalId => "[national id redacted]",
            PiiKind::Email => "[email redacted]",
            PiiKind::Phone => "[phone redacted]",
        }
    }
}

/// Kinds that are never stored anywhere, whatever the configuration says: payment data.
pub const ALWAYS_REDACTED: [PiiKind; 2] = [PiiKind::Card, PiiKind::Iban];

/// The outcome of redaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Redaction {
    pub text: String,
    /// The kinds found (each once, in [`PiiKind::ALL`] order).
    pub found: Vec<PiiKind>,
}

/// Parses the configured kinds, ignoring unknown names, and adds the always-redacted ones.
pub fn configured_kinds(names: &[String]) -> Vec<PiiKind> {
    let mut kinds: Vec<PiiKind> = names.iter().filter_map(|n| PiiKind::parse(n)).collect();
    kinds.extend(ALWAYS_REDACTED);
    PiiKind::ALL
        .into_iter()
        .filter(|k| kinds.contains(k))
        .collect()
}

// 13-19 digits, optionally grouped by single spaces or dashes.
static CARD: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\b\d(?:[ -]?\d){12,18}\b"));
// Two letters, two check digits, 11-30 alphanumerics optionally grouped by spaces.
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(r"(?i)\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,4})?\b")
});
static SSN: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\b(\d{3})-(\d{2})-(\d{4})\b"));
static NINO: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(r"(?i)\b[a-ceghj-pr-tw-z][a-ceghj-npr-tw-z] ?\d{2} ?\d{2} ?\d{2} ?[a-d]\b")
});
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"));
// An optional international prefix, then digits with optional separators; the digit count is
// checked afterwards (8-15, the E.164 maximum).
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"(?:\+|\b00|\b)\d[\d ().-]{6,18}\d\b"));
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(r"^(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})$")
});
static ORDER_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)(?:order|bestellung|commande|pedido|ordine|invoice|ticket|ref(?:erence)?|no\.?|number|nr\.?)\s*(?:number|no\.?|nr\.?|id)?\s*(?:is|was|:)?\s*[:#]?\s*$",
    )
});
// A phone word at most three words before the number.
static PHONE_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)\b(?:phone|mobile|cell|cellphone|telephone|tel|telefon|handy|fax|whatsapp|landline)\b(?:\W+\w+){0,3}\W*$",
    )
});

/// Tells whether `digits` passes the Luhn checksum used by payment cards.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    count > 0 && sum.is_multiple_of(10)
}

/// Tells whether `raw` (spaces allowed) is an IBAN with a valid ISO 13616 mod-97 checksum.
pub fn iban_valid(raw: &str) -> bool {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    if !head[..2].chars().all(|c| c.is_ascii_uppercase())
        || !head[2..].chars().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let mut remainder = 0u32;
    for c in tail.chars().chain(head.chars()) {
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        // Letters expand to two digits.
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// The length of the longest valid IBAN at the start of `candidate`, cut at a space: the
/// pattern's optional groups may swallow the next word ("ES91...1332 for"), so the whole
/// candidate failing the checksum does not mean no IBAN is there.
fn iban_prefix(candidate: &str) -> Option<usize> {
    let mut ends: Vec<usize> = candidate.match_indices(' ').map(|(i, _)| i).collect();
    ends.push(candidate.len());
    ends.into_iter()
        .rev()
        .find(|&end| iban_valid(&candidate[..end]))
}

fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Replaces matches of `re` accepted by `accept` (given the text before the match and the match).
fn replace_checked(
    text: &str,
    re: &Regex,
    placeholder: &str,
    accept: impl Fn(&str, &str) -> bool,
) -> Option<String> {
    replace_prefixes(text, re, placeholder, |before, m| {
        accept(before, m).then_some(m.len())
    })
}

/// Like [`replace_checked`], but `accept` returns how many bytes of the match to replace (a
/// pattern that may run into the next word keeps only the part that passes its checksum).
fn replace_prefixes(
    text: &str,
    re: &Regex,
    placeholder: &str,
    accept: impl Fn(&str, &str) -> Option<usize>,
) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut changed = false;
    for m in re.find_iter(text) {
        if let Some(len) = accept(&text[..m.start()], m.as_str()) {
            out.push_str(&text[last..m.start()]);
            out.push_str(placeholder);
            last = m.start() + len.min(m.len());
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

fn phone_accepted(before: &str, m: &str) -> bool {
    let digits = m.chars().filter(char::is_ascii_digit).count();
    let international = m.starts_with('+') || m.starts_with("00");
    let separated = m.contains([' ', '-', '(', ')', '.']);
    // A bare run of digits right after "order" or "#" is an order number, not a phone; a
    // phone word just before ("my phone number is") settles the ambiguous "number".
    let after_order_word = (ORDER_CONTEXT.is_match(before) && !PHONE_CONTEXT.is_match(before))
        || before.ends_with('#');
    (8..=15).contains(&digits)
        && !after_order_word
        && (international || separated || digits >= 10)
        && !m.contains("..")
        && !DATE.is_match(m.trim())
}

/// The phone numbers in `text`, as written (the same rule the redactor uses).
pub fn find_phones(text: &str) -> Vec<String> {
    PHONE
        .find_iter(text)
        .filter(|m| phone_accepted(&text[..m.start()], m.as_str()))
        .map(|m| m.as_str().trim().to_string())
        .collect()
}

fn redact_kind(text: &str, kind: PiiKind) -> Option<String> {
    let placeholder = kind.placeholder();
    match kind {
        PiiKind::Card => replace_checked(text, &CARD, placeholder, |_, m| {
            let digits: String = m.chars().filter(char::is_ascii_digit).collect();
            (13..=19).contains(&digits.len()) && luhn_valid(&digits)
        }),
        PiiKind::Iban => replace_prefixes(text, &IBAN, placeholder, |_, m| iban_prefix(m)),
        PiiKind::NationalId => {
            let ssn = replace_checked(text, &SSN, placeholder, |_, m| {
                let parts: Vec<&str> = m.split('-').collect();
                parts.len() == 3 && ssn_valid(parts[0], parts[1], parts[2])
            });
            let base = ssn.as_deref().unwrap_or(text);
            match replace_checked(base, &NINO, placeholder, |_, m| {
                // A NINO has letters at both ends; plain words like "ab 12 34 56 c" are rare
                // enough in customer messages to accept the pattern as is.
                m.chars().filter(char::is_ascii_digit).count() == 6
            }) {
                Some(both) => Some(both),
                None => ssn,
            }
        }
        PiiKind::Email => replace_checked(text, &EMAIL, placeholder, |_, _| true),
        PiiKind::Phone => replace_checked(text, &PHONE, placeholder, phone_accepted),
    }
}

/// Redacts every kind in `kinds` from `text`.
pub fn redact(text: &str, kinds: &[PiiKind]) -> Redaction {
    let mut current = text.to_owned();
    let mut found = Vec::new();
    for kind in PiiKind::ALL {
        if !kinds.contains(&kind) {
            continue;
        }
        if let Some(next) = redact_kind(&current, kind) {
            current = next;
            found.push(kind);
        }
    }
    Redaction {
        text: current,
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Redaction {
        redact(text, &PiiKind::ALL)
    }

    #[test]
    fn luhn_accepts_test_cards_and_rejects_a_changed_digit() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("5555555555554444"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn iban_checksum_accepts_real_examples_and_rejects_typos() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(iban_valid("fr1420041010050500013m02606"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 01"));
        assert!(!iban_valid("GB82WEST1234569876543"));
    }

    #[test]
    fn card_numbers_with_spaces_or_dashes_are_redacted() {
        let r = all("My card is 4111 1111 1111 1111, and my other one 5555-5555-5555-4444.");
        assert_eq!(
            r.text,
            "My card is [card redacted], and my other one [card redacted]."
        );
        assert_eq!(r.found, vec![PiiKind::Card]);
    }

    #[test]
    fn long_numbers_failing_luhn_are_not_cards() {
        let r = redact("tracking 1234567812345678", &[PiiKind::Card]);
        assert_eq!(r.text, "tracking 1234567812345678");
        assert!(r.found.is_empty());
    }

    #[test]
    fn ibans_are_redacted_only_when_the_checksum_holds() {
        let r = all("Refund to DE89 3704 0044 0532 0130 00 please");
        assert_eq!(r.text, "Refund to [iban redacted] please");
        let r = all("Refund to DE89 3704 0044 0532 0130 01 please");
        assert!(!r.text.contains("[iban redacted]"), "{}", r.text);
    }

    #[test]
    fn emails_phones_and_ssns_are_redacted() {
        let r = all("Mail dana@example.com or call +1 (555) 123-4567, SSN 123-45-6789.");
        assert_eq!(
            r.text,
            "Mail [email redacted] or call [phone redacted], SSN [national id redacted]."
        );
        assert_eq!(
            r.found,
            vec![PiiKind::NationalId, PiiKind::Email, PiiKind::Phone]
        );
    }

    #[test]
    fn order_numbers_prices_and_dates_are_left_alone() {
        for text in [
            "Where is order 4411?",
            "order #A1234 cost 49.99 EUR on 2024-03-05",
            "My order number is 1234567890",
            "It costs 1,299 dollars",
        ] {
            let r = all(text);
            assert_eq!(r.text, text);
        }
    }

    #[test]
    fn compact_ibans_followed_by_words_are_redacted() {
        let r = all("Please use ES9121000418450200051332 for SEPA");
        assert_eq!(r.text, "Please use [iban redacted] for SEPA");
        let r = all("AT611904300234573201 is my new account");
        assert_eq!(r.text, "[iban redacted] is my new account");
        // A changed digit fails mod-97: the string is left alone.
        let r = redact(
            "Please use ES9121000418450200051333 for SEPA",
            &[PiiKind::Iban],
        );
        assert!(r.found.is_empty(), "{}", r.text);
    }

    #[test]
    fn a_phone_word_before_number_outweighs_the_order_context() {
        let r = redact("My phone number is 0170 9876543", &[PiiKind::Phone]);
        assert_eq!(r.text, "My phone number is [phone redacted]");
        let text = "My order number is 1234567890";
        assert_eq!(redact(text, &[PiiKind::Phone]).text, text);
    }

    #[test]
    fn only_configured_kinds_are_redacted() {
        let kinds = configured_kinds(&["email".into()]);
        assert_eq!(kinds, vec![PiiKind::Card, PiiKind::Iban, PiiKind::Email]);
        let r = redact("dana@example.com, +44 20 7946 0958", &kinds);
        assert_eq!(r.text, "[email redacted], +44 20 7946 0958");
    }
}
