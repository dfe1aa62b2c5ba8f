//! The `gate` suite: a small, fast check (under three minutes in a debug build on two cores)
//! that CI runs against `evals/baselines/gate.json`. Three parts:
//!
//! 1. the shipped default intents, trained exactly as the service trains them, scored on a
//!    sample of the held-out Bitext rows (mapped to the default labels), plus the share of
//!    CLINC150 out-of-scope questions the default set rejects;
//! 2. a CLINC150 slice: 30 intents, 10 seeded examples each, scored on their test rows plus
//!    100 out-of-scope rows at the shipped threshold;
//! 3. language identification on 30 sentences and 30 word pairs per language.
//!
//! [`Degrade`] deliberately weakens the classifier; the tests use it to show the gate fails.

use anyhow::Result;
use engine::intent::{defaults::default_examples, IntentClassifier, OTHER};
use serde_json::json;

use super::intent::{sample_shots, texts, train_on};
use super::language::{self, LanguageOptions};
use super::oos::score_at;
use super::Context;
use crate::data::{self, Labelled, OOS_LABEL};
use crate::metrics;
use crate::report::Report;

/// Held-out Bitext rows scored: every `BITEXT_STRIDE`-th (about 820 of 4,090).
const BITEXT_STRIDE: usize = 5;
/// CLINC150 intents in the slice (the first in alphabetical order).
const CLINC_INTENTS: usize = 30;
const CLINC_SHOTS: usize = 10;
const CLINC_TEST_PER_INTENT: usize = 10;
const CLINC_OOS_ROWS: usize = 100;

/// Ways to make the classifier worse, to prove that the gate notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Degrade {
    #[default]
    None,
    /// Train on one example per intent.
    OneExamplePerIntent,
    /// Rotate the labels of the training examples so every example teaches the wrong intent.
    ShuffledLabels,
}

fn degrade(rows: Vec<Labelled>, how: Degrade) -> Vec<Labelled> {
    match how {
        Degrade::None => rows,
        Degrade::OneExamplePerIntent => {
            let keep = sample_shots(&rows, 1, 1);
            keep.into_iter().map(|i| rows[i].clone()).collect()
        }
        Degrade::ShuffledLabels => {
            let labels = data::labels_of(&rows);
            rows.into_iter()
                .map(|row| {
                    let at = labels.iter().position(|l| *l == row.label).unwrap_or(0);
                    let wrong = labels[(at + 1) % labels.len()].clone();
                    Labelled::new(row.text, wrong)
                })
                .collect()
        }
    }
}

/// Runs the gate.
pub fn run(ctx: &Context, how: Degrade) -> Result<Report> {
    let mut report = Report::new(
        "gate",
        json!({"degrade": format!("{how:?}"), "settings": ctx.settings}),
    );
    defaults_part(ctx, how, &mut report)?;
    clinc_part(ctx, how, &mut report)?;
    let language = language::run(
        ctx,
        &LanguageOptions {
            per_language_limit: Some(30),
            kind: None,
        },
    )?;
    for metric in language.metrics {
        if metric.name.ends_with("sentences.mean_accuracy")
            || metric.name.ends_with("word-pairs.mean_accuracy")
        {
            report.metrics.push(metric);
        }
    }
    Ok(report)
}

fn classify_all(
    classifier: &IntentClassifier,
    rows: &[Labelled],
    vectors: &[Vec<f32>],
) -> Vec<(String, f32)> {
    rows.iter()
        .zip(vectors)
        .map(|(row, v)| {
            let p = classifier.classify(&row.text, v);
            (p.label, p.confidence)
        })
        .collect()
}

fn defaults_part(ctx: &Context, how: Degrade, report: &mut Report) -> Result<()> {
    let train: Vec<Labelled> = default_examples()
        .iter()
        .map(|e| Labelled::new(e.text.clone(), e.label.clone()))
        .collect();
    let train = degrade(train, how);
    let held_out = data::bitext_defaults(&ctx.data_dir)?.test;
    let test: Vec<Labelled> = held_out.into_iter().step_by(BITEXT_STRIDE).collect();
    let clinc = data::clinc150(&ctx.data_dir)?;
    let oos: Vec<Labelled> = clinc
        .test
        .iter()
        .filter(|r| r.label == OOS_LABEL)
        .take(CLINC_OOS_ROWS)
        .cloned()
        .collect();
    let train_vectors = ctx.cache.embed(&texts(&train))?;
    let indices: Vec<usize> = (0..train.len()).collect();
    let classifier = train_on(&ctx.cache, &train, &train_vectors, &indices, &ctx.settings)?;
    let test_vectors = ctx.cache.embed(&texts(&test))?;
    let predictions = classify_all(&classifier, &test, &test_vectors);
    let gold: Vec<String> = test.iter().map(|r| r.label.clone()).collect();
    let predicted: Vec<String> = predictions.iter().map(|p| p.0.clone()).collect();
    let accuracy = metrics::accuracy(&gold, &predicted);
    report.push(
        "defaults_bitext.accuracy",
        accuracy,
        Some(metrics::proportion_se(accuracy, gold.len())),
    );
    report.push(
        "defaults_bitext.macro_f1",
        metrics::macro_f1(&gold, &predicted),
        None,
    );
    let oos_vectors = ctx.cache.embed(&texts(&oos))?;
    let rejected = oos
        .iter()
        .zip(&oos_vectors)
        .filter(|(row, v)| classifier.classify(&row.text, v).label == OTHER)
        .count();
    report.push(
        "defaults_clinc_oos.rejected_share",
        rejected as f64 / oos.len().max(1) as f64,
        None,
    );
    report.detail(
        "defaults_confusions",
        json!(metrics::confusion_pairs(&gold, &predicted, 10)),
    );
    Ok(())
}

fn clinc_part(ctx: &Context, how: Degrade, report: &mut Report) -> Result<()> {
    let clinc = data::clinc150(&ctx.data_dir)?;
    let mut intents = data::labels_of(&clinc.train);
    intents.sort();
    intents.truncate(CLINC_INTENTS);
    let chosen = |rows: &[Labelled]| -> Vec<Labelled> {
        rows.iter()
            .filter(|r| intents.contains(&r.label))
            .cloned()
            .collect()
    };
    let pool = chosen(&clinc.train);
    let train: Vec<Labelled> = sample_shots(&pool, CLINC_SHOTS, 1)
        .into_iter()
        .map(|i| pool[i].clone())
        .collect();
    let train = degrade(train, how);
    let test_pool = chosen(&clinc.test);
    let mut test: Vec<Labelled> = sample_shots(&test_pool, CLINC_TEST_PER_INTENT, 1)
        .into_iter()
        .map(|i| test_pool[i].clone())
        .collect();
    test.extend(
        clinc
            .test
            .iter()
            .filter(|r| r.label == OOS_LABEL)
            .take(CLINC_OOS_ROWS)
            .cloned(),
    );
    let train_vectors = ctx.cache.embed(&texts(&train))?;
    let indices: Vec<usize> = (0..train.len()).collect();
    let classifier = train_on(&ctx.cache, &train, &train_vectors, &indices, &ctx.settings)?;
    let test_vectors = ctx.cache.embed(&texts(&test))?;
    // The shipped rule decides, as in a live turn: a rejected message is labelled `other`.
    let predictions: Vec<(String, f32)> = test
        .iter()
        .zip(&test_vectors)
        .map(|(row, v)| {
            let p = classifier.classify(&row.text, v);
            let confidence = if p.out_of_scope { 0.0 } else { 1.0 };
            (p.label, confidence)
        })
        .collect();
    let gold: Vec<String> = test.iter().map(|r| r.label.clone()).collect();
    let point = score_at(&gold, &predictions, 0.5);
    report.push(
        "clinc_slice.in_scope_accuracy",
        point.in_scope_accuracy,
        None,
    );
    report.push("clinc_slice.oos_recall", point.oos_recall, None);
    Ok(())
}
