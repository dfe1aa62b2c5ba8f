//! Text made for the ear (the voice channel): short sentences, numbers and dates as people say
//! them, no symbols a text-to-speech voice would spell out.
//!
//! - ISO dates (`2026-11-29`) become `November 29, 2026` (English) or `29.11.2026` read as a
//!   date by the voice of other languages.
//! - Amounts (`$15.50`, `€20`, `12.99 EUR`) become `15 dollars and 50 cents`, `20 euros`
//!   (English; other languages keep the figure).
//! - Long digit strings (order, phone and tracking numbers: five digits or more) are read digit
//!   by digit, in groups, as a person would dictate them, instead of "ninety-nine thousand".
//! - Sentences longer than [`MAX_SPOKEN_WORDS`] words are split at a comma or "and".
//! - `&`, `%`, `/`, `+` read as words (English); list bullets, brackets and emphasis vanish.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::text::{literal_regex, sentences};

/// Longest sentence spoken in one go, in words.
pub const MAX_SPOKEN_WORDS: usize = 22;

static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\b(\d{4})-(\d{2})-(\d{2})\b"));
static MONEY_BEFORE: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"([$€£])\s?(\d+)(?:[.,](\d{2}))?\b"));
static MONEY_AFTER: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"\b(\d+)(?:[.,](\d{2}))?\s?(USD|EUR|GBP)\b"));
static LONG_NUMBER: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\+?\b\d{5,}\b"));
static SYMBOLS: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"[*_#•→|\[\]{}()<>]"));

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn dates(text: &str, english: bool) -> String {
    ISO_DATE
        .replace_all(text, |c: &Captures<'_>| {
            let month: usize = c[2].parse().unwrap_or(0);
            let day: u32 = c[3].parse().unwrap_or(0);
            match MONTHS.get(month.wrapping_sub(1)) {
                Some(name) if english && (1..=31).contains(&day) => {
                    format!("{name} {day}, {}", &c[1])
                }
                Some(_) => format!("{}.{}.{}", &c[3], &c[2], &c[1]),
                None => c[0].to_owned(),
            }
        })
        .into_owned()
}

fn amount(whole: &str, cents: Option<&str>, unit: &str, cent_unit: &str) -> String {
    let plural = |n: &str, word: &str| {
        if n.trim_start_matches('0') == "1" {
            word.trim_end_matches('s').to_owned()
        } else {
            word.to_owned()
        }
    };
    match cents.filter(|c| *c != "00") {
        Some(c) => format!(
            "{whole} {} and {} {}",
            plural(whole, unit),
            c.trim_start_matches('0'),
            plural(c, cent_unit)
        ),
        None => format!("{whole} {}", plural(whole, unit)),
    }
}

fn units(symbol: &str) -> (&'static str, &'static str) {
    match symbol {
        "€" | "EUR" => ("euros", "cents"),
        "£" | "GBP" => ("pounds", "pence"),
        _ => ("dollars", "cents"),
    }
}

fn money(text: &str) -> String {
    let before = MONEY_BEFORE.replace_all(text, |c: &Captures<'_>| {
        let (unit, cent) = units(&c[1]);
        amount(&c[2], c.get(3).map(|m| m.as_str()), unit, cent)
    });
    MONEY_AFTER
        .replace_all(&before, |c: &Captures<'_>| {
            let (unit, cent) = units(&c[3]);
            amount(&c[1], c.get(2).map(|m| m.as_str()), unit, cent)
        })
        .into_owned()
}

/// Reads a long number digit by digit, in groups of three (four at the end when it divides so).
fn dictate(number: &str) -> String {
    let plus = number.starts_with('+');
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let groups: Vec<String> = digits
        .chunks(3)
        .map(|g| g.iter().map(char::to_string).collect::<Vec<_>>().join(" "))
        .collect();
    let spoken = groups.join(", ");
    if plus {
        format!("plus {spoken}")
    } else {
        spoken
    }
}

fn split_long(sentence: &str) -> Vec<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    if words.len() <= MAX_SPOKEN_WORDS {
        return vec![sentence.to_owned()];
    }
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for word in words {
        let breaks_after = word.ends_with(',') || word.ends_with(';');
        let breaks_before = word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("but");
        if breaks_before && current.len() >= 6 {
            out.push(finish(&current));
            current.clear();
        }
        current.push(word);
        if breaks_after && current.len() >= 6 {
            out.push(finish(&current));
            current.clear();
        }
    }
    if !current.is_empty() {
        out.push(finish(&current));
    }
    out
}

fn finish(words: &[&str]) -> String {
    let joined = words.join(" ");
    let trimmed = joined.trim_end_matches([',', ';']);
    let mut chars = trimmed.chars();
    let capital = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => String::new(),
    };
    if capital.ends_with(['.', '!', '?']) {
        capital
    } else {
        format!("{capital}.")
    }
}

/// Rewrites `text` (already free of markdown and URLs) to be spoken in `language`.
pub fn speakable(text: &str, language: &str) -> String {
    let english = language == "en";
    let mut out = dates(text, english);
    if english {
        out = money(&out);
        out = out
            .replace(" & ", " and ")
            .replace('%', " percent")
            .replace(" / ", " or ");
    }
    out = LONG_NUMBER
        .replace_all(&out, |c: &Captures<'_>| dictate(&c[0]))
        .into_owned();
    out = SYMBOLS.replace_all(&out, "").into_owned();
    let spoken: Vec<String> = sentences(&out)
        .iter()
        .flat_map(|s| split_long(s.trim()))
        .filter(|s| !s.is_empty())
        .collect();
    spoken.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_amounts_and_long_numbers_are_said_naturally() {
        assert_eq!(
            speakable("Your refund of $15.50 was sent on 2026-11-29.", "en"),
            "Your refund of 15 dollars and 50 cents was sent on November 29, 2026."
        );
        assert_eq!(
            speakable("Order 99812 costs €20.", "en"),
            "Order 9 9 8, 1 2 costs 20 euros."
        );
        assert_eq!(
            speakable("Call +15551230042 now.", "en"),
            "Call plus 1 5 5, 5 1 2, 3 0 0, 4 2 now."
        );
        assert_eq!(
            speakable("Geliefert am 2026-03-05.", "de"),
            "Geliefert am 05.03.2026."
        );
        assert_eq!(
            speakable("Refunds take 5 days.", "en"),
            "Refunds take 5 days."
        );
    }

    #[test]
    fn long_sentences_are_split_for_the_ear() {
        let long = "You can return any item within thirty days of delivery, as long as it is unused and in its original packaging, and we will refund the full price to your original payment method.";
        let spoken = speakable(long, "en");
        let parts = sentences(&spoken);
        assert!(parts.len() >= 2, "{spoken}");
        assert!(
            parts
                .iter()
                .all(|s| s.split_whitespace().count() <= MAX_SPOKEN_WORDS),
            "{spoken}"
        );
    }
}
