//! Rule-based fact extraction (the offline default): names ("my name is Dana", "I'm Dana",
//! "call me Dana", and the same in de/fr/es/it/pt/nl), e-mail addresses, phone numbers, order
//! numbers ("order 4411", "order #A1234"), preferences ("I prefer ...") and open issues ("my
//! parcel hasn't arrived").
//!
//! The input must already be free of payment data (card numbers, IBANs are never remembered);
//! open issues are stored with every kind of personal data redacted, since they are free text.

use std::sync::LazyLock;

use regex::Regex;

use super::{FactSource, NewFact};
use crate::policy::pii::{self, PiiKind};
use crate::text::{literal_regex, sentences};

static NAME_EXPLICIT: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)\b(?:my\s+name\s+is|my\s+name's|name's|call\s+me|ich\s+hei(?:ß|ss)e|mein\s+name\s+ist|je\s+m'appelle|mon\s+nom\s+est|me\s+llamo|mi\s+nombre\s+es|mi\s+chiamo|il\s+mio\s+nome\s+è|meu\s+nome\s+é|me\s+chamo|mijn\s+naam\s+is|ik\s+heet)\s+(\p{L}[\p{L}'-]*(?:\s+\p{Lu}[\p{L}'-]*)?)",
    )
});
// "I'm Dana" / "this is Dana": only a capitalised word, and not one of the many adjectives and
// verbs that follow "I'm" ("I'm Looking", "I'm Sorry").
static NAME_INTRO: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?:\b[Ii]'?m|\b[Ii]\s+am|^(?:[Hh]i|[Hh]ello|[Hh]ey)?[,!\s]*[Tt]his\s+is)\s+(\p{Lu}[\p{Ll}'-]+(?:\s+\p{Lu}[\p{Ll}'-]+)?)\b",
    )
});
const NOT_NAMES: [&str; 40] = [
    "not",
    "looking",
    "trying",
    "having",
    "sorry",
    "sure",
    "fine",
    "good",
    "here",
    "interested",
    "still",
    "just",
    "so",
    "very",
    "really",
    "going",
    "unable",
    "able",
    "from",
    "in",
    "at",
    "happy",
    "angry",
    "confused",
    "waiting",
    "writing",
    "calling",
    "contacting",
    "new",
    "back",
    "afraid",
    "done",
    "glad",
    "tired",
    "upset",
    "frustrated",
    "the",
    "a",
    "an",
    "also",
];
static ORDER: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)\b(?:order|bestellung|bestellnummer|commande|pedido|ordine|encomenda|bestelling)(?:\s*(?:number|no\.?|nr\.?|num(?:ber|éro|ero)?|id))?\s*(?:is|:|was)?\s*#?\s*([a-z]{0,3}-?\d{3,}[a-z0-9-]*)\b",
    )
});
static HASH_REF: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"(?i)(?:^|\s)#([a-z]{0,3}\d{3,}[a-z0-9-]*)\b"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"));
static PREFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)\b(?:i\s+(?:would\s+|'d\s+)?prefer|i\s+always\s+want|please\s+always|i\s+like\s+to\s+be)\s+([^.!?\n]{3,120})",
    )
});
static OPEN_ISSUE: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)\b(?:(?:has|have)(?:n't|\s+not)\s+(?:arrived|been\s+delivered|shipped|come|received)|(?:did|does)(?:n't|\s+not)\s+(?:arrive|work|come)|never\s+(?:arrived|came|received)|is\s+(?:broken|damaged|missing|defective|wrong|late)|arrived\s+(?:broken|damaged|late)|(?:was|been)\s+charged\s+twice|wrong\s+(?:item|size|colou?r)|still\s+waiting)\b",
    )
});

fn title_case(name: &str) -> String {
    name.split_whitespace()
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn fact(key: &str, value: String, confidence: f32) -> NewFact {
    NewFact {
        key: key.into(),
        value,
        source: FactSource::Rule,
        confidence,
    }
}

fn push_unique(out: &mut Vec<NewFact>, new: NewFact) {
    if !out
        .iter()
        .any(|f| f.key == new.key && f.value.eq_ignore_ascii_case(&new.value))
    {
        out.push(new);
    }
}

fn extract_name(text: &str) -> Option<NewFact> {
    if let Some(c) = NAME_EXPLICIT.captures(text) {
        let mut name = c.get(1)?.as_str().to_string();
        // "call me back" / "call me tomorrow" are not names.
        let first = name
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase();
        if !NOT_NAMES.contains(&first.as_str())
            && !matches!(
                first.as_str(),
                "back" | "tomorrow" | "later" | "today" | "asap" | "when" | "at" | "on"
            )
        {
            // Keep a second word only when it is capitalised in the original ("Dana Lee").
            if name.split_whitespace().count() > 1
                && !name
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w.starts_with(char::is_uppercase))
            {
                name = first;
            }
            return Some(fact("name", title_case(&name), 0.95));
        }
    }
    for c in NAME_INTRO.captures_iter(text) {
        let Some(m) = c.get(1) else { continue };
        let words: Vec<&str> = m.as_str().split_whitespace().collect();
        let first = words.first().map(|w| w.to_lowercase()).unwrap_or_default();
        if NOT_NAMES.contains(&first.as_str()) {
            continue;
        }
        let name = match words.get(1) {
            Some(second) if !NOT_NAMES.contains(&second.to_lowercase().as_str()) => {
                m.as_str().to_string()
            }
            _ => words[0].to_string(),
        };
        return Some(fact("name", title_case(&name), 0.75));
    }
    None
}

/// Extracts facts from one customer message (payment data already removed).
#[tracing::instrument(skip_all)]
pub fn extract(text: &str) -> Vec<NewFact> {
    let mut out = Vec::new();
    if let Some(name) = extract_name(text) {
        out.push(name);
    }
    for m in EMAIL.find_iter(text) {
        push_unique(&mut out, fact("email", m.as_str().to_lowercase(), 0.99));
    }
    for phone in pii::find_phones(text) {
        push_unique(&mut out, fact("phone", phone, 0.9));
    }
    for c in ORDER
        .captures_iter(text)
        .chain(HASH_REF.captures_iter(text))
    {
        if let Some(id) = c.get(1) {
            push_unique(
                &mut out,
                fact("order_number", id.as_str().to_uppercase(), 0.9),
            );
        }
    }
    for c in PREFERENCE.captures_iter(text) {
        if let Some(p) = c.get(1) {
            let value = pii::redact(p.as_str().trim(), &PiiKind::ALL).text;
            push_unique(&mut out, fact("preference", value, 0.8));
        }
    }
    for sentence in sentences(text) {
        if OPEN_ISSUE.is_match(&sentence) {
            let value = pii::redact(&sentence, &PiiKind::ALL).text;
            push_unique(&mut out, fact("open_issue", value, 0.6));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        extract(text)
            .into_iter()
            .map(|f| (f.key, f.value))
            .collect()
    }

    fn p(key: &str, value: &str) -> (String, String) {
        (key.into(), value.into())
    }

    #[test]
    fn names_and_order_numbers_are_extracted() {
        assert_eq!(
            pairs("Hi, my name is Dana, order 4411 hasn't arrived yet"),
            vec![
                p("name", "Dana"),
                p("order_number", "4411"),
                p(
                    "open_issue",
                    "Hi, my name is Dana, order 4411 hasn't arrived yet"
                ),
            ]
        );
        assert_eq!(
            pairs("I'm Dana Lee and my order #A1234 is late")[0],
            p("name", "Dana Lee")
        );
        assert_eq!(pairs("call me dana")[0], p("name", "Dana"));
        assert_eq!(pairs("Ich heiße Jürgen")[0], p("name", "Jürgen"));
        assert_eq!(pairs("Je m'appelle Amélie")[0], p("name", "Amélie"));
        assert!(pairs("order #A1234 please").contains(&p("order_number", "A1234")));
        assert!(pairs("My order number is 99812").contains(&p("order_number", "99812")));
    }

    #[test]
    fn things_that_look_like_names_but_are_not_are_ignored() {
        for text in [
            "I'm looking for my parcel",
            "I'm Sorry to bother you",
            "Please call me back tomorrow",
            "I am not happy",
            "im waiting",
        ] {
            assert!(
                !extract(text).iter().any(|f| f.key == "name"),
                "false name in: {text}"
            );
        }
    }

    #[test]
    fn emails_phones_and_preferences_are_extracted() {
        let facts =
            pairs("Reach me at Dana@Example.com or +1 555 123 4567. I prefer email over phone.");
        assert!(facts.contains(&p("email", "dana@example.com")), "{facts:?}");
        assert!(facts.contains(&p("phone", "+1 555 123 4567")), "{facts:?}");
        assert!(
            facts.contains(&p("preference", "email over phone")),
            "{facts:?}"
        );
    }

    #[test]
    fn ordinary_questions_yield_no_facts() {
        assert!(extract("What is your refund policy?").is_empty());
        assert!(extract("How long does shipping take to Canada?").is_empty());
    }
}
