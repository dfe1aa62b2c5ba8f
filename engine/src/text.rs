//! Small text helpers shared by the agent's stages: literal regexes, word tokens, a light
//! stemmer, stop words and a sentence splitter. Nothing here allocates a model; everything is
//! cheap enough to run on every turn.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// Compiles a regex written as a literal in this crate.
///
/// Every pattern passed here is a constant exercised by unit tests, so a failure is a
/// programming error caught before release, not a runtime condition.
#[allow(clippy::expect_used)]
pub fn literal_regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("literal regex compiles")
}

/// Lowercased alphanumeric words of `text` (apostrophes inside words kept).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Strips common English inflections so "refunds", "refunded" and "refunding" meet at
/// "refund". Deliberately crude (no dictionary): it only has to make the same word forms
/// collide, not produce real roots.
pub fn stem(word: &str) -> String {
    const SUFFIXES: [&str; 16] = [
        "ational", "ations", "ation", "ically", "ical", "ings", "ing", "ies", "ied", "ics", "ed",
        "es", "ly", "ic", "al", "s",
    ];
    let lower = word.to_lowercase();
    let lower = lower
        .strip_suffix("'s")
        .map(str::to_string)
        .unwrap_or(lower);
    if lower.chars().count() <= 3 || lower.chars().any(|c| c.is_ascii_digit()) {
        return lower;
    }
    for suffix in SUFFIXES {
        if let Some(root) = lower.strip_suffix(suffix) {
            if root.chars().count() >= 3 {
                let mut root = root.to_string();
                if suffix == "ies" || suffix == "ied" {
                    root.push('y');
                }
                // "shipped" -> "shipp" -> "ship"
                let bytes = root.as_bytes();
                if bytes.len() >= 2
                    && bytes[bytes.len() - 1] == bytes[bytes.len() - 2]
                    && !matches!(bytes[bytes.len() - 1], b'l' | b's' | b'z')
                    && bytes[bytes.len() - 1].is_ascii_alphabetic()
                {
                    root.pop();
                }
                return root;
            }
        }
    }
    lower
}

static STOP_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "a", "about", "above", "after", "again", "all", "am", "an", "and", "any", "are", "as",
        "at", "be", "because", "been", "before", "being", "between", "both", "but", "by", "can",
        "could", "did", "do", "does", "doing", "don't", "down", "during", "each", "few", "for",
        "from", "further", "get", "got", "had", "has", "have", "having", "he", "her", "here",
        "hers", "him", "his", "how", "i", "i'm", "i'd", "i've", "if", "in", "into", "is", "it",
        "it's", "its", "just", "let", "me", "more", "most", "my", "myself", "no", "nor", "not",
        "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over",
        "own", "please", "same", "she", "should", "so", "some", "such", "than", "thank", "thanks",
        "that", "that's", "the", "their", "them", "then", "there", "these", "they", "this",
        "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were",
        "what", "what's", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
        "would", "you", "your", "yours", "hi", "hello", "hey", "also", "tell", "know", "want",
        "need", "like", "much", "many", "there's", "you're", "we're", "us", "would",
    ]
    .into_iter()
    .collect()
});

/// Tells whether `word` (lowercase) carries little meaning on its own.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(word)
}

/// Stemmed content words of `text`: stop words and one-letter tokens dropped.
pub fn content_stems(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !is_stop_word(w) && w.chars().count() > 1)
        .map(|w| stem(&w))
        .collect()
}

static SENTENCE_END: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r#"[.!?]+["')\]]*\s+|\n\s*\n|\n\s*[-*•]\s+|\n#+\s+"#));

/// Splits `text` into sentences (and list items / paragraphs), trimmed and non-empty.
///
/// Abbreviations such as "e.g. " split too; a knowledge sentence cut in two only loses a
/// little recall, never correctness, because each half is still quoted verbatim.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = 0;
    for m in SENTENCE_END.find_iter(text) {
        // Keep the closing punctuation, not the whitespace or list marker after it.
        let punctuation: usize = m
            .as_str()
            .chars()
            .take_while(|c| !c.is_whitespace())
            .map(char::len_utf8)
            .sum();
        let end = m.start() + punctuation;
        push_sentence(&mut out, &text[last..end]);
        last = m.end();
    }
    push_sentence(&mut out, &text[last..]);
    out
}

fn push_sentence(out: &mut Vec<String>, raw: &str) {
    let cleaned = raw
        .trim()
        .trim_start_matches(['-', '*', '•', '#'])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if cleaned.chars().any(char::is_alphanumeric) {
        out.push(cleaned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemming_makes_word_forms_collide() {
        assert_eq!(stem("refunds"), stem("refund"));
        assert_eq!(stem("refunded"), stem("refunding"));
        assert_eq!(stem("politics"), stem("political"));
        assert_eq!(stem("shipped"), stem("shipping"));
        assert_eq!(stem("deliveries"), stem("delivery"));
        assert_eq!(stem("4411"), "4411");
    }

    #[test]
    fn sentences_split_on_punctuation_paragraphs_and_list_items() {
        let text = "Refunds take 5 days. Contact us!\n\n- Item one\n- Item two\nWhat now?";
        assert_eq!(
            sentences(text),
            vec![
                "Refunds take 5 days.",
                "Contact us!",
                "Item one",
                "Item two What now?"
            ]
        );
    }

    #[test]
    fn content_stems_drop_stop_words() {
        assert_eq!(
            content_stems("What is your refund policy?"),
            vec!["refund", "policy"]
        );
    }
}
