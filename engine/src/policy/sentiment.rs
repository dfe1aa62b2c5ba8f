//! A small lexicon-based sentiment scorer, only good enough to spot strongly negative messages
//! ("this is the worst service ever, I'm furious"). Score in [-1, 1]: the mean polarity of the
//! opinion words found, pushed further by intensifiers, shouting (capitals) and exclamation
//! marks, flipped by a negation in the three words before within the same clause ("you never
//! help, horrible service" does not negate "horrible").

use crate::text::words;

/// Polarity of opinion words, -1 (very negative) to 1 (very positive).
fn polarity(word: &str) -> Option<f32> {
    Some(match word {
        "terrible" | "awful" | "horrible" | "worst" | "disgusting" | "pathetic" | "furious"
        | "scam" | "fraud" | "unacceptable" | "outrageous" | "appalling" | "atrocious"
        | "livid" | "hate" | "hated" | "useless" | "incompetent" | "disgraceful" | "shit"
        | "crap" | "fucking" | "fuck" | "ridiculous" | "nightmare" | "garbage" | "rubbish"
        | "furchtbar" | "schrecklich" | "unverschämt" | "inacceptable" | "nul" | "pésimo"
        | "vergonzoso" | "schifo" | "vergonha" => -1.0,
        "angry" | "bad" | "poor" | "annoyed" | "annoying" | "disappointed" | "disappointing"
        | "frustrated" | "frustrating" | "upset" | "broken" | "slow" | "wrong" | "fed"
        | "never" | "worse" | "sucks" | "stupid" | "dumb" | "lied" | "liars" | "rude"
        | "ignored" | "waste" | "wasted" | "enttäuscht" | "déçu" | "decepcionado" | "deluso" => {
            -0.5
        }
        "good" | "great" | "thanks" | "thank" | "helpful" | "happy" | "love" | "excellent"
        | "perfect" | "amazing" | "wonderful" | "nice" | "fine" | "fast" | "awesome" => 0.7,
        _ => return None,
    })
}

fn is_intensifier(word: &str) -> bool {
    matches!(
        word,
        "very"
            | "so"
            | "extremely"
            | "absolutely"
            | "totally"
            | "completely"
            | "utterly"
            | "really"
            | "incredibly"
            | "ever"
            | "most"
    )
}

fn is_negation(word: &str) -> bool {
    matches!(
        word,
        "not"
            | "no"
            | "never"
            | "isn't"
            | "wasn't"
            | "don't"
            | "doesn't"
            | "didn't"
            | "aren't"
            | "nicht"
            | "pas"
            | "no,"
            | "non"
    )
}

/// Scores `text` in [-1, 1]; 0 when no opinion word is found.
pub fn score(text: &str) -> f32 {
    let mut total = 0.0f32;
    let mut found = 0u32;
    let mut intensity = 0.0f32;
    // A negation's scope ends at clause punctuation.
    for clause in text.split([',', '.', ';', ':', '!', '?', '\n']) {
        let tokens = words(clause);
        for (i, word) in tokens.iter().enumerate() {
            if is_intensifier(word) {
                intensity += 0.15;
                continue;
            }
            let Some(mut value) = polarity(word) else {
                continue;
            };
            let window = &tokens[i.saturating_sub(3)..i];
            // "never" is itself negative; only flip other words.
            if word != "never" && window.iter().any(|w| is_negation(w)) {
                value = -value * 0.5;
            }
            total += value;
            found += 1;
        }
    }
    if found == 0 {
        return 0.0;
    }
    let mut mean = total / found as f32;
    let exclamations = text.matches('!').count().min(4) as f32;
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let shouting = letters.len() >= 12
        && letters.iter().filter(|c| c.is_uppercase()).count() * 10 >= letters.len() * 7;
    let emphasis = intensity + exclamations * 0.05 + if shouting { 0.2 } else { 0.0 };
    // Several negative words compound: "terrible, worst, furious" is stronger than any alone.
    let breadth = ((found as f32 - 1.0) * 0.1).min(0.3);
    if mean < 0.0 {
        mean -= emphasis + breadth;
    } else {
        mean += emphasis * 0.5;
    }
    mean.clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn furious_complaints_score_strongly_negative() {
        assert!(score("This is absolutely terrible, the worst service ever!!!") <= -0.8);
        assert!(score("YOU PEOPLE ARE USELESS AND I HATE THIS SHOP") <= -0.8);
    }

    #[test]
    fn a_negation_does_not_reach_past_the_end_of_its_clause() {
        assert!(score("Shut up, you never help, horrible horrible service.") <= -0.7);
        assert!(score("It was not horrible, thanks") > -0.7);
    }

    #[test]
    fn mild_or_neutral_messages_are_not_strongly_negative() {
        assert!(score("Where is my order?") == 0.0);
        assert!(score("The delivery was a bit slow") > -0.7);
        assert!(score("Not bad at all, thanks") > 0.0);
        assert!(score("Great, thank you so much!") > 0.5);
    }
}
