//! The default customer-service intent set, shipped as a data file (`default_intents.tsv`,
//! one `label<TAB>example` per line) so the examples can be read and reviewed without reading
//! code. An organization that has not customised its intents is served by a classifier
//! trained on these.

use std::sync::OnceLock;

use super::IntentExample;

const DEFAULT_INTENTS: &str = include_str!("default_intents.tsv");

/// Parses `label<TAB>example` lines; blank lines and `#` comments are skipped.
pub fn parse_examples(raw: &str) -> Vec<IntentExample> {
    raw.lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (label, text) = line.split_once('\t')?;
            let (label, text) = (label.trim(), text.trim());
            (!label.is_empty() && !text.is_empty()).then(|| IntentExample::new(text, label))
        })
        .collect()
}

/// The shipped examples, parsed once.
pub fn default_examples() -> &'static [IntentExample] {
    static EXAMPLES: OnceLock<Vec<IntentExample>> = OnceLock::new();
    EXAMPLES.get_or_init(|| parse_examples(DEFAULT_INTENTS))
}

/// The shipped intent labels, in file order.
pub fn default_labels() -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for example in default_examples() {
        if !labels.contains(&example.label) {
            labels.push(example.label.clone());
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_covers_the_required_intents_with_enough_examples() {
        let labels = default_labels();
        for required in [
            "order_tracking",
            "refund_request",
            "cancel_order",
            "change_order",
            "shipping",
            "returns",
            "payment_issue",
            "billing",
            "account_access",
            "booking",
            "product_question",
            "complaint",
            "human_handoff",
            "greeting",
            "thanks",
            "goodbye",
            "other",
        ] {
            let count = default_examples()
                .iter()
                .filter(|e| e.label == required)
                .count();
            assert!(count >= 15, "{required} has {count} examples");
            assert!(labels.iter().any(|l| l == required));
        }
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let examples = parse_examples("# header\n\ngreeting\tHi there\nbroken line\n");
        assert_eq!(examples, vec![IntentExample::new("Hi there", "greeting")]);
    }
}
