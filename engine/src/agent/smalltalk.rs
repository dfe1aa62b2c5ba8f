//! Greetings, thanks and goodbyes recognised by rules, in the languages the templates speak.
//! The intent classifier decides when it is present; these rules make small talk work even
//! without it, and guard against a long question that merely starts with "hi" being answered
//! with a greeting.

use std::sync::LazyLock;

use regex::Regex;

use crate::text::{literal_regex, words};

static GREETING: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)^\s*(?:hi|hello|hey|hiya|good\s+(?:morning|afternoon|evening)|hallo|guten\s+(?:tag|morgen|abend)|servus|moin|bonjour|salut|bonsoir|hola|buenos\s+d[ií]as|buenas(?:\s+tardes)?|ciao|buongiorno|salve|ol[áa]|bom\s+dia|boa\s+tarde|hoi|goedemorgen|goedemiddag|dag)\b[\s!.,]*(?:there|team|all|everyone)?[\s!.,]*$",
    )
});
static THANKS: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)^\s*(?:(?:ok(?:ay)?|great|perfect|awesome|cool)[\s,!.]*)?(?:thanks?(?:\s+you)?(?:\s+(?:so|very)\s+much)?|thx|ty|cheers|much\s+appreciated|danke(?:\s+sch[öo]n)?|vielen\s+dank|merci(?:\s+beaucoup)?|gracias|muchas\s+gracias|grazie(?:\s+mille)?|obrigad[oa]|bedankt|dank\s+je(?:\s+wel)?)\b[\s!.,]*(?:a\s+lot|for\s+(?:your|the)\s+help)?[\s!.,]*$",
    )
});
static GOODBYE: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)^\s*(?:(?:ok(?:ay)?|thanks?)[\s,!.]*)?(?:bye|goodbye|bye\s+bye|see\s+you|that'?s\s+all|have\s+a\s+(?:nice|good|great)\s+day|tsch[üu]ss|auf\s+wiedersehen|au\s+revoir|adi[óo]s|hasta\s+luego|arrivederci|tchau|at[ée]\s+logo|doei|tot\s+ziens)\b[\s!.,]*$",
    )
});

/// Small-talk labels (the intent names the classifier uses).
pub fn classify(message: &str) -> Option<&'static str> {
    if words(message).len() > 8 {
        return None;
    }
    if GOODBYE.is_match(message) {
        Some("goodbye")
    } else if THANKS.is_match(message) {
        Some("thanks")
    } else if GREETING.is_match(message) {
        Some("greeting")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_talk_is_recognised_in_several_languages() {
        assert_eq!(classify("Hi!"), Some("greeting"));
        assert_eq!(classify("good morning team"), Some("greeting"));
        assert_eq!(classify("Bonjour"), Some("greeting"));
        assert_eq!(classify("Thanks a lot!"), Some("thanks"));
        assert_eq!(classify("vielen Dank"), Some("thanks"));
        assert_eq!(classify("ok bye"), Some("goodbye"));
        assert_eq!(classify("Tot ziens"), Some("goodbye"));
    }

    #[test]
    fn questions_that_start_with_a_greeting_are_not_small_talk() {
        assert_eq!(classify("Hi, where is my order?"), None);
        assert_eq!(classify("Thanks, but how long do refunds take?"), None);
    }
}
