//! Language identification: the ISO 639-1 code of a customer message, with a confidence and a
//! `reliable` flag. The request's own `language` field takes precedence (see [`resolve`]); a
//! message too short or too ambiguous to tell falls back to the organization's default.
//!
//! Detector: lingua (n-gram models of 1-5 characters, high-accuracy mode) restricted to the
//! [`SUPPORTED`] languages. Measured beside whatlang on lingua's test data for the 14 languages
//! both cover (see `docs/quality.md`): sentences 99.6% vs 94.8% (whatlang unrestricted),
//! word pairs 95.5% vs 65.6%, single words 85.8% vs 49.6%: customer messages are short,
//! which is where the gap is largest. The cost: about 50 MB of models in memory, loaded once
//! (call [`preload`] at start-up to keep that off the first request), and ~0.2 ms per message.

use std::sync::OnceLock;

use lingua::{IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder};
use serde::{Deserialize, Serialize};

/// The languages the detector chooses between. Every one needs its model crate enabled in
/// the workspace `Cargo.toml` (feature of `lingua`).
pub const SUPPORTED: [Language; 20] = [
    Language::English,
    Language::German,
    Language::French,
    Language::Spanish,
    Language::Italian,
    Language::Portuguese,
    Language::Dutch,
    Language::Polish,
    Language::Russian,
    Language::Turkish,
    Language::Arabic,
    Language::Chinese,
    Language::Japanese,
    Language::Korean,
    Language::Swedish,
    Language::Danish,
    Language::Bokmal,
    Language::Finnish,
    Language::Czech,
    Language::Greek,
];

/// Messages with fewer letters than this are not trusted: "ok" or "hi" is English, French,
/// Dutch and German at once.
pub const MIN_LETTERS: usize = 6;

/// Scripts written without spaces carry a word in one or two characters.
const MIN_LETTERS_DENSE_SCRIPT: usize = 2;

/// Below this share of the probability mass the best language is not trusted.
const MIN_CONFIDENCE: f64 = 0.5;

/// The language of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// ISO 639-1 code (`en`, `de`, ...); empty when nothing could be detected.
    pub code: String,
    /// The detector's confidence in `[0, 1]`.
    pub confidence: f32,
    /// Whether the detection is good enough to answer in that language.
    pub reliable: bool,
}

fn detector() -> &'static LanguageDetector {
    static DETECTOR: OnceLock<LanguageDetector> = OnceLock::new();
    DETECTOR.get_or_init(|| {
        LanguageDetectorBuilder::from_languages(&SUPPORTED)
            .with_preloaded_language_models()
            .build()
    })
}

/// Loads the language models now rather than on the first message.
pub fn preload() {
    let _ = detector();
}

fn is_dense_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff   // Hiragana, Katakana
        | 0x3400..=0x4dbf // CJK extension A
        | 0x4e00..=0x9fff // CJK unified ideographs
        | 0xac00..=0xd7af // Hangul syllables
    )
}

/// Detects the language of `text` among [`SUPPORTED`].
#[tracing::instrument(skip_all, fields(chars = text.len()))]
pub fn detect(text: &str) -> Detection {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let dense = text.chars().filter(|c| is_dense_script(*c)).count();
    let values = detector().compute_language_confidence_values(text);
    let Some((language, confidence)) = values.first().copied() else {
        return Detection {
            code: String::new(),
            confidence: 0.0,
            reliable: false,
        };
    };
    let code = iso_code(language);
    let long_enough = letters >= MIN_LETTERS || dense >= MIN_LETTERS_DENSE_SCRIPT;
    Detection {
        reliable: !code.is_empty() && long_enough && confidence >= MIN_CONFIDENCE,
        confidence: confidence as f32,
        code,
    }
}

fn iso_code(language: Language) -> String {
    let code: IsoCode639_1 = language.iso_code_639_1();
    code.to_string()
}

/// The language of a turn: `requested` when given (and not empty), else the detected language
/// when reliable, else `default_language`.
pub fn resolve(requested: Option<&str>, text: &str, default_language: &str) -> String {
    if let Some(code) = requested.map(str::trim).filter(|c| !c.is_empty()) {
        return code.to_ascii_lowercase();
    }
    let detection = detect(text);
    if detection.reliable {
        detection.code
    } else {
        default_language.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_sentences_are_detected_reliably() {
        let d = detect("Wo ist meine Bestellung? Ich warte schon seit zwei Wochen darauf.");
        assert_eq!(d.code, "de");
        assert!(d.reliable);
        assert_eq!(
            detect("¿Dónde está mi pedido? Lo compré hace dos semanas.").code,
            "es"
        );
        assert_eq!(detect("我的订单在哪里？").code, "zh");
        assert!(detect("我的订单在哪里？").reliable);
    }

    #[test]
    fn short_customer_messages_are_detected() {
        assert_eq!(detect("Où est ma commande ?").code, "fr");
        assert_eq!(detect("Waar is mijn pakket?").code, "nl");
    }

    #[test]
    fn a_short_message_falls_back_to_the_default() {
        assert!(!detect("ok").reliable);
        assert_eq!(resolve(None, "ok", "fr"), "fr");
    }

    #[test]
    fn the_requested_language_wins() {
        assert_eq!(
            resolve(Some("PT"), "Where is my order? It is late.", "en"),
            "pt"
        );
        assert_eq!(
            resolve(
                Some(" "),
                "Where is my order? It has not arrived yet.",
                "de"
            ),
            "en"
        );
    }
}
