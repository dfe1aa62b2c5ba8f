//! Intent names as training examples. An intent's label is usually a short description of
//! it ("refund_request", "card_payment_fee_charged"), so its words, spelled as a sentence
//! ("refund request"), are one more example, and often the most typical one. Adding it costs
//! one embedding per intent and gives the few-shot case and out-of-scope detection a little
//! more to go on (CLINC150 validation and BANKING77 held-out figures in `docs/quality.md`).

use std::collections::HashSet;

use super::{IntentExample, OTHER};

/// The label written as words: separators become spaces; `None` for [`OTHER`] (whose name
/// says nothing about its messages) and for labels without letters.
pub fn label_text(label: &str) -> Option<String> {
    if label == OTHER {
        return None;
    }
    let words: Vec<&str> = label
        .split(|c: char| c == '_' || c == '-' || c == '.' || c == ':' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let text = words.join(" ").to_lowercase();
    text.chars().any(char::is_alphabetic).then_some(text)
}

/// `examples` followed by one example per label made of its name (see [`label_text`]),
/// unless that label already has an example with exactly that text. Labels keep their
/// first-seen order.
pub fn with_label_examples(examples: &[IntentExample]) -> Vec<IntentExample> {
    let existing: HashSet<(&str, String)> = examples
        .iter()
        .map(|e| (e.label.as_str(), e.text.trim().to_lowercase()))
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = examples.to_vec();
    for example in examples {
        if !seen.insert(example.label.as_str()) {
            continue;
        }
        if let Some(text) = label_text(&example.label) {
            if !existing.contains(&(example.label.as_str(), text.clone())) {
                out.push(IntentExample::new(text, example.label.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_spelled_as_words() {
        assert_eq!(
            label_text("refund_request").as_deref(),
            Some("refund request")
        );
        assert_eq!(label_text("Card-Arrival").as_deref(), Some("card arrival"));
        assert_eq!(label_text(OTHER), None);
        assert_eq!(label_text("__42"), None);
    }

    #[test]
    fn each_label_gets_one_name_example_unless_it_already_has_it() {
        let examples = vec![
            IntentExample::new("where is my parcel", "order_tracking"),
            IntentExample::new("track it", "order_tracking"),
            IntentExample::new("greeting", "greeting"),
            IntentExample::new("lorem ipsum", OTHER),
        ];
        let out = with_label_examples(&examples);
        assert_eq!(out.len(), 5);
        assert_eq!(
            out[4],
            IntentExample::new("order tracking", "order_tracking")
        );
    }
}
