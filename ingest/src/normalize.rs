//! Text normalisation applied to every extracted text before hashing and chunking: Unicode NFC,
//! words hyphenated across line ends joined again, runs of spaces collapsed, at most one blank
//! line between paragraphs, control characters removed.

use unicode_normalization::UnicodeNormalization;

/// Normalises `text` (see the module docs). Idempotent.
pub fn normalize(text: &str) -> String {
    let nfc: String = text
        .nfc()
        .map(|c| match c {
            '\u{00A0}' | '\t' | '\u{2007}' | '\u{202F}' => ' ',
            '\r' => '\n',
            other => other,
        })
        .filter(|c| *c == '\n' || !c.is_control())
        .filter(|c| *c != '\u{00AD}') // soft hyphen
        .collect();
    let dehyphenated = join_hyphenated_line_ends(&nfc);
    let mut out = String::with_capacity(dehyphenated.len());
    let mut blank_lines = 0;
    for line in dehyphenated.lines() {
        let collapsed = line
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if collapsed.is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
        }
        blank_lines = 0;
        out.push_str(&collapsed);
    }
    out
}

/// Joins `exam-\nple` into `example` when a lowercase letter follows the line break, the
/// pattern PDF extraction leaves behind; `well-\nKnown` and list dashes stay as they are.
fn join_hyphenated_line_ends(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '-' && i > 0 && chars[i - 1].is_alphabetic() {
            let mut j = i + 1;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            if j < chars.len() && chars[j] == '\n' {
                let mut k = j + 1;
                while k < chars.len() && chars[k] == ' ' {
                    k += 1;
                }
                if k < chars.len() && chars[k].is_lowercase() {
                    i = k;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_words_at_line_ends_are_joined() {
        assert_eq!(normalize("the ship-\nment arrives"), "the shipment arrives");
        assert_eq!(normalize("a well-\nKnown brand"), "a well-\nKnown brand");
    }

    #[test]
    fn whitespace_is_collapsed_and_paragraphs_kept() {
        assert_eq!(
            normalize("  Hello \t  world \r\n\n\n\nNext\u{00A0}para  "),
            "Hello world\n\nNext para"
        );
    }

    #[test]
    fn composed_and_decomposed_forms_normalise_to_the_same_text() {
        assert_eq!(normalize("cafe\u{0301}"), normalize("caf\u{00E9}"));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        let once = normalize("A  b-\nc\n\n\n d");
        assert_eq!(normalize(&once), once);
    }
}
