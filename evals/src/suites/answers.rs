//! The `answers` suite: questions about a knowledge base, each with the facts the answer must
//! contain, content it must not contain, and whether the agent should decline and offer a
//! human. Every question is a fresh conversation with the real [`engine::agent::Agent`]
//! (offline responder, no language model) over the knowledge base files, or with a running
//! server (`--server`).
//!
//! Scores: pass rate (all facts present, nothing forbidden, handoff as expected), per
//! category; and groundedness: the share of an answer's sentences supported by a cited passage
//! (at least [`SUPPORT`] of the sentence's content words occur in the passage), averaged over
//! the answered questions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use engine::agent::Agent;
use engine::config::AgentConfig;
use engine::respond::templates::{is_fallback_text, phrases};
use engine::retrieval::RetrievalConfig;
use engine::text::{content_stems, sentences};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::kb::{load_folder, KnowledgeBase};
use super::target::{Answer, InProcess, Target};
use super::Context;
use crate::metrics::{mean_se, proportion_se};
use crate::report::Report;

/// Share of a sentence's content words that must occur in one cited passage.
pub const SUPPORT: f64 = 0.6;
/// Sentences with fewer content words (greetings, "anything else?") are not judged.
const MIN_CONTENT_WORDS: usize = 3;

/// One question of the suite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerCase {
    #[serde(default)]
    pub id: String,
    pub question: String,
    /// Strings that must appear in the answer (case-insensitive).
    #[serde(default)]
    pub expected_facts: Vec<String>,
    /// Strings that must not appear (case-insensitive).
    #[serde(default)]
    pub forbidden: Vec<String>,
    /// Whether the agent should decline: hand off, or say it cannot answer and offer a human.
    #[serde(default)]
    pub expect_handoff: bool,
    #[serde(default)]
    pub category: Option<String>,
}

/// The verdict on one answer.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub id: String,
    pub category: String,
    pub passed: bool,
    pub declined: bool,
    pub missing_facts: Vec<String>,
    pub forbidden_found: Vec<String>,
    /// Supported / judged sentences, when the agent answered.
    pub grounded: Option<(usize, usize)>,
    pub response: String,
}

/// Whether `sentence` is supported by one of `passages`.
pub fn supported(sentence: &str, passages: &[String]) -> bool {
    let stems: HashSet<String> = content_stems(sentence).into_iter().collect();
    if stems.is_empty() {
        return true;
    }
    passages.iter().any(|p| {
        let words: HashSet<String> = content_stems(p).into_iter().collect();
        let found = stems.iter().filter(|s| words.contains(*s)).count();
        found as f64 / stems.len() as f64 >= SUPPORT
    })
}

/// (supported, judged) sentences of `response` against `passages`. The agent's fixed closing
/// ("Is there anything else I can help with?") in the answer's `language` is not judged.
pub fn groundedness(response: &str, language: &str, passages: &[String]) -> (usize, usize) {
    let closing = phrases(language).anything_else;
    let judged: Vec<String> = sentences(response)
        .into_iter()
        .filter(|s| s.trim() != closing)
        .filter(|s| content_stems(s).len() >= MIN_CONTENT_WORDS)
        .collect();
    let ok = judged.iter().filter(|s| supported(s, passages)).count();
    (ok, judged.len())
}

/// Judges one answer. `passage_text` gives the full text of a cited document when known
/// (in-process); otherwise the citation's snippet is the passage.
pub fn judge(
    case: &AnswerCase,
    answer: &Answer,
    passage_text: &dyn Fn(&str) -> Option<String>,
) -> Judged {
    let lower = answer.response.to_lowercase();
    let missing_facts: Vec<String> = case
        .expected_facts
        .iter()
        .filter(|f| !lower.contains(&f.to_lowercase()))
        .cloned()
        .collect();
    let forbidden_found: Vec<String> = case
        .forbidden
        .iter()
        .filter(|f| lower.contains(&f.to_lowercase()))
        .cloned()
        .collect();
    let declined = answer.handoff || is_fallback_text(&answer.response);
    let grounded = (!declined).then(|| {
        let passages: Vec<String> = answer
            .citations
            .iter()
            .map(|c| passage_text(&c.document_id).unwrap_or_else(|| c.snippet.clone()))
            .collect();
        groundedness(&answer.response, &answer.language, &passages)
    });
    Judged {
        id: case.id.clone(),
        category: case
            .category
            .clone()
            .unwrap_or_else(|| "uncategorized".into()),
        passed: missing_facts.is_empty()
            && forbidden_found.is_empty()
            && declined == case.expect_handoff,
        declined,
        missing_facts,
        forbidden_found,
        grounded,
        response: answer.response.clone(),
    }
}

/// Reads the cases (a JSON array), numbering those without an id.
pub fn load_cases(path: &Path) -> Result<Vec<AnswerCase>> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cases: Vec<AnswerCase> = serde_json::from_str(&raw)
        .with_context(|| format!("parsing the answer cases {}", path.display()))?;
    for (i, case) in cases.iter_mut().enumerate() {
        if case.id.is_empty() {
            case.id = format!("a{:03}", i + 1);
        }
    }
    Ok(cases)
}

/// An in-process agent over the knowledge base in `kb_dir`, with the document texts by
/// engine id.
pub async fn in_process(
    ctx: &Context,
    kb_dir: &Path,
) -> Result<(Target, HashMap<String, String>, KnowledgeBase)> {
    let documents = load_folder(kb_dir)?;
    let embedder = ctx.cache.embedder().clone();
    let kb = KnowledgeBase::build(&documents, embedder.clone(), RetrievalConfig::default()).await?;
    let mut texts = HashMap::new();
    for (engine_id, suite_id) in &kb.ids {
        if let Some(doc) = documents.iter().find(|d| &d.id == suite_id) {
            texts.insert(engine_id.as_str().to_owned(), doc.text.clone());
        }
    }
    let agent = Agent::new()
        .with_embedder(embedder)
        .with_retriever(kb.retriever.clone());
    let target = Target::InProcess(Box::new(InProcess {
        agent: Arc::new(agent),
        config: AgentConfig::default(),
        organization_id: kb.org.clone(),
    }));
    Ok((target, texts, kb))
}

/// Runs `cases` against `target` and reports.
pub async fn run(
    target: &Target,
    cases: &[AnswerCase],
    texts: &HashMap<String, String>,
) -> Result<Report> {
    let mut judged = Vec::with_capacity(cases.len());
    for case in cases {
        let span = tracing::info_span!("answer_case", id = %case.id);
        let _guard = span.enter();
        let answer = target
            .chat(&format!("eval-{}", case.id), &case.question)
            .await
            .with_context(|| format!("case {}", case.id))?;
        judged.push(judge(case, &answer, &|id| texts.get(id).cloned()));
    }
    Ok(report(target, cases, &judged))
}

fn report(target: &Target, cases: &[AnswerCase], judged: &[Judged]) -> Report {
    let n = judged.len();
    let mut report = Report::new(
        "answers",
        json!({"cases": n, "target": target.describe(), "support": SUPPORT}),
    );
    let rate = |items: &[&Judged]| {
        let p = items.iter().filter(|j| j.passed).count() as f64 / items.len().max(1) as f64;
        (p, proportion_se(p, items.len()))
    };
    let all: Vec<&Judged> = judged.iter().collect();
    let (p, se) = rate(&all);
    report.push("answers.pass_rate", p, Some(se));
    let answerable: Vec<&Judged> = judged
        .iter()
        .zip(cases)
        .filter(|(_, c)| !c.expect_handoff)
        .map(|(j, _)| j)
        .collect();
    let unanswerable: Vec<&Judged> = judged
        .iter()
        .zip(cases)
        .filter(|(_, c)| c.expect_handoff)
        .map(|(j, _)| j)
        .collect();
    let (p, se) = rate(&answerable);
    report.push("answers.answerable.pass_rate", p, Some(se));
    let (p, se) = rate(&unanswerable);
    report.push("answers.unanswerable.handoff_rate", p, Some(se));
    let wrongly_declined =
        answerable.iter().filter(|j| j.declined).count() as f64 / answerable.len().max(1) as f64;
    report.push_lower("answers.answerable.declined_rate", wrongly_declined);
    let facts: usize = cases.iter().map(|c| c.expected_facts.len()).sum();
    let missing: usize = judged.iter().map(|j| j.missing_facts.len()).sum();
    let recall = 1.0 - missing as f64 / facts.max(1) as f64;
    report.push(
        "answers.fact_recall",
        recall,
        Some(proportion_se(recall, facts)),
    );
    let forbidden = judged
        .iter()
        .filter(|j| !j.forbidden_found.is_empty())
        .count() as f64
        / n.max(1) as f64;
    report.push_lower("answers.forbidden_rate", forbidden);
    let shares: Vec<f64> = judged
        .iter()
        .filter_map(|j| j.grounded)
        .filter(|(_, total)| *total > 0)
        .map(|(ok, total)| ok as f64 / total as f64)
        .collect();
    let g = mean_se(&shares);
    report.push("answers.groundedness", g.mean, Some(g.se));

    let mut by_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for j in judged {
        let e = by_category.entry(&j.category).or_default();
        e.0 += usize::from(j.passed);
        e.1 += 1;
    }
    let mut section = String::from(
        "### Pass rate per category\n\n| category | passed | cases | rate |\n|---|---:|---:|---:|\n",
    );
    for (category, (ok, total)) in &by_category {
        section.push_str(&format!(
            "| {category} | {ok} | {total} | {:.4} |\n",
            *ok as f64 / (*total).max(1) as f64
        ));
    }
    report.sections.push(section);
    let mut failures =
        String::from("### Failed cases\n\n| id | why | answer (start) |\n|---|---|---|\n");
    for (j, case) in judged.iter().zip(cases) {
        if j.passed {
            continue;
        }
        let mut why = Vec::new();
        if !j.missing_facts.is_empty() {
            why.push(format!("missing {:?}", j.missing_facts));
        }
        if !j.forbidden_found.is_empty() {
            why.push(format!("forbidden {:?}", j.forbidden_found));
        }
        if j.declined != case.expect_handoff {
            why.push(if j.declined {
                "declined an answerable question".to_owned()
            } else {
                "answered instead of declining".to_owned()
            });
        }
        let start: String = j.response.chars().take(120).collect();
        failures.push_str(&format!(
            "| {} | {} | {} |\n",
            j.id,
            why.join("; ").replace('|', "/"),
            start.replace('|', "/").replace('\n', " ")
        ));
    }
    report.sections.push(failures);
    report.detail("cases", json!(judged));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suites::target::Cited;

    fn answer(text: &str, handoff: bool, cited: &[&str]) -> Answer {
        Answer {
            response: text.into(),
            handoff,
            citations: cited
                .iter()
                .map(|s| Cited {
                    document_id: "doc_x".into(),
                    title: String::new(),
                    snippet: (*s).into(),
                })
                .collect(),
            language: "en".into(),
            ..Answer::default()
        }
    }

    fn case(facts: &[&str], forbidden: &[&str], handoff: bool) -> AnswerCase {
        AnswerCase {
            id: "t".into(),
            question: "q".into(),
            expected_facts: facts.iter().map(|s| s.to_string()).collect(),
            forbidden: forbidden.iter().map(|s| s.to_string()).collect(),
            expect_handoff: handoff,
            category: None,
        }
    }

    #[test]
    fn groundedness_counts_supported_sentences() {
        let passage = "Standard shipping takes 3 business days and costs 4.90 EUR.".to_owned();
        // The first sentence is the passage; the second shares no content words; "Thanks!"
        // is too short to be judged and the closing phrase is the agent's own.
        let (ok, total) = groundedness(
            "Standard shipping takes 3 business days. Our founder loves mountain biking holidays. Thanks! Is there anything else I can help with?",
            "en",
            &[passage],
        );
        assert_eq!((ok, total), (1, 2));
        assert_eq!(groundedness("Thanks!", "en", &[]), (0, 0));
    }

    #[test]
    fn a_case_passes_only_with_every_fact_and_no_forbidden_content() {
        let none = |_: &str| None;
        let a = answer(
            "Refunds take 5 business days.",
            false,
            &["Refunds take 5 business days."],
        );
        assert!(judge(&case(&["5 business days"], &[], false), &a, &none).passed);
        assert!(!judge(&case(&["30 days"], &[], false), &a, &none).passed);
        assert!(!judge(&case(&[], &["refunds take"], false), &a, &none).passed);
        // Expected a handoff but it answered.
        assert!(!judge(&case(&[], &[], true), &a, &none).passed);
        let j = judge(&case(&["5 business"], &[], false), &a, &none);
        assert_eq!(j.grounded, Some((1, 1)));
    }

    #[test]
    fn a_handoff_satisfies_an_unanswerable_case() {
        let none = |_: &str| None;
        let a = answer("I'm connecting you with a member of our team.", true, &[]);
        let j = judge(&case(&[], &[], true), &a, &none);
        assert!(j.passed && j.declined && j.grounded.is_none());
    }
}
