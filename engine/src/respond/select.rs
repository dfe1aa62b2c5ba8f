//! Sentence selection for the offline responder: out of the retrieved passages, the 1-3
//! sentences that answer the question.
//!
//! Each candidate sentence is scored by embedding similarity to the (rewritten) query plus the
//! share of the query's content words it contains. The best sentence must clear
//! [`MIN_SCORE`]; up to two more join it when they clear the threshold too and score close to
//! the best. Questions (FAQ headings) and fragments are skipped; near-duplicates are dropped;
//! the chosen sentences keep their passage order and position, so the answer reads as written.

use std::collections::HashSet;

use crate::embed::dot;
use crate::knowledge::ScoredPassage;
use crate::text::{content_stems, sentences};

/// A combined score below this is not an answer (tuned on the shop fixtures of the tests:
/// answering sentences score 0.45-0.8, unrelated ones 0.05-0.3).
pub const MIN_SCORE: f32 = 0.38;
/// Extra sentences must score at least this share of the best one.
pub const RELATIVE_CUTOFF: f32 = 0.7;
/// At most this many sentences are quoted.
pub const MAX_SENTENCES: usize = 3;
/// Weight of embedding similarity; the rest is keyword overlap.
pub const VECTOR_WEIGHT: f32 = 0.6;
/// Only sentences of the best passages are considered.
pub const MAX_PASSAGES: usize = 3;
/// And at most this many of them are embedded per turn (latency bound).
pub const MAX_CANDIDATES: usize = 16;

/// A sentence of a retrieved passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Index of the passage in the retrieval result.
    pub passage: usize,
    /// Position of the sentence in its passage.
    pub position: usize,
    pub text: String,
    /// Keyword overlap with the query, in [0, 1].
    pub overlap: f32,
}

/// A chosen sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub passage: usize,
    pub position: usize,
    pub text: String,
    pub score: f32,
}

fn overlap(query: &HashSet<String>, sentence: &str) -> f32 {
    if query.is_empty() {
        return 0.0;
    }
    let stems: HashSet<String> = content_stems(sentence).into_iter().collect();
    query.iter().filter(|q| stems.contains(*q)).count() as f32 / query.len() as f32
}

/// Splits the top passages into candidate sentences, best keyword overlap first, capped at
/// [`MAX_CANDIDATES`].
pub fn candidates(query: &str, passages: &[ScoredPassage]) -> Vec<Candidate> {
    let query_stems: HashSet<String> = content_stems(query).into_iter().collect();
    let mut out: Vec<Candidate> = Vec::new();
    for (p, passage) in passages.iter().take(MAX_PASSAGES).enumerate() {
        for (position, sentence) in sentences(&passage.text).into_iter().enumerate() {
            let word_count = sentence.split_whitespace().count();
            if word_count < 3 || sentence.trim_end().ends_with('?') {
                continue;
            }
            let overlap = overlap(&query_stems, &sentence);
            out.push(Candidate {
                passage: p,
                position,
                text: sentence,
                overlap,
            });
        }
    }
    // Keep the most promising ones: keyword overlap first, then passage rank and position.
    out.sort_by(|a, b| {
        b.overlap
            .total_cmp(&a.overlap)
            .then(a.passage.cmp(&b.passage))
            .then(a.position.cmp(&b.position))
    });
    out.truncate(MAX_CANDIDATES);
    out
}

fn near_duplicate(a: &str, b: &str) -> bool {
    let sa: HashSet<String> = content_stems(a).into_iter().collect();
    let sb: HashSet<String> = content_stems(b).into_iter().collect();
    if sa.is_empty() || sb.is_empty() {
        return a.eq_ignore_ascii_case(b);
    }
    let inter = sa.intersection(&sb).count() as f32;
    let union = sa.union(&sb).count() as f32;
    inter / union >= 0.8
}

/// Scores `candidates` (with their embeddings when available, in the same order) and picks
/// the answering sentences, in reading order. Empty when nothing clears the threshold.
pub fn select(
    query_vector: Option<&[f32]>,
    candidates: &[Candidate],
    vectors: Option<&[&[f32]]>,
) -> Vec<Selected> {
    let mut scored: Vec<Selected> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let similarity = match (query_vector, vectors.and_then(|v| v.get(i))) {
                (Some(q), Some(v)) => Some(dot(q, v)),
                _ => None,
            };
            let score = match similarity {
                Some(s) => VECTOR_WEIGHT * s + (1.0 - VECTOR_WEIGHT) * c.overlap,
                None => c.overlap,
            };
            Selected {
                passage: c.passage,
                position: c.position,
                text: c.text.clone(),
                score,
            }
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    let Some(best) = scored.first().map(|s| s.score) else {
        return Vec::new();
    };
    if best < MIN_SCORE {
        return Vec::new();
    }
    let mut chosen: Vec<Selected> = Vec::new();
    for s in scored {
        if chosen.len() == MAX_SENTENCES {
            break;
        }
        if s.score < MIN_SCORE || s.score < best * RELATIVE_CUTOFF {
            break;
        }
        if chosen.iter().any(|c| near_duplicate(&c.text, &s.text)) {
            continue;
        }
        chosen.push(s);
    }
    chosen.sort_by(|a, b| a.passage.cmp(&b.passage).then(a.position.cmp(&b.position)));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DocumentId;

    fn passage(text: &str) -> ScoredPassage {
        ScoredPassage {
            document_id: DocumentId::new(),
            chunk_index: 0,
            title: "Policies".into(),
            url: None,
            heading_path: vec![],
            text: text.into(),
            score: 1.0,
            vector_score: None,
            keyword_score: None,
        }
    }

    #[test]
    fn the_answering_sentence_is_chosen_by_keywords_alone() {
        let passages = vec![passage(
            "Welcome to Acme. Refunds are issued within 14 days of receiving your return. We ship worldwide.",
        )];
        let c = candidates("When are refunds issued?", &passages);
        let chosen = select(None, &c, None);
        assert_eq!(chosen.len(), 1);
        assert_eq!(
            chosen[0].text,
            "Refunds are issued within 14 days of receiving your return."
        );
    }

    #[test]
    fn faq_questions_and_duplicates_are_skipped_and_order_is_kept() {
        let passages = vec![
            passage("How long does shipping take? Standard shipping takes 3-5 business days. Express shipping takes 1-2 business days."),
            passage("Standard shipping takes 3-5 business days!"),
        ];
        let c = candidates("shipping time standard express", &passages);
        let chosen: Vec<String> = select(None, &c, None).into_iter().map(|s| s.text).collect();
        assert_eq!(
            chosen,
            vec![
                "Standard shipping takes 3-5 business days.",
                "Express shipping takes 1-2 business days."
            ]
        );
    }

    #[test]
    fn nothing_relevant_means_no_sentences() {
        let passages = vec![passage(
            "Our store is open Monday to Friday from 9:00 to 18:00.",
        )];
        let c = candidates("Do you sell gift cards?", &passages);
        assert!(select(None, &c, None).is_empty());
    }

    #[test]
    fn embedding_similarity_can_rescue_a_paraphrase() {
        let passages = vec![passage("Parcels usually arrive within three days.")];
        let c = candidates("delivery duration", &passages);
        let q = [1.0, 0.0];
        let v: [&[f32]; 1] = [&[0.9, 0.436]];
        let chosen = select(Some(&q), &c, Some(&v));
        assert_eq!(chosen.len(), 1, "similarity 0.9 alone clears the bar");
    }
}
