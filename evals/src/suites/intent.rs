//! The `intent` suite: train the engine's [`IntentClassifier`] on a train split (all of it, or
//! `N` seeded examples per intent), score a test split: accuracy, macro-F1, per-intent
//! precision and recall, the most frequent confusions, calibration (ECE) and latency.
//!
//! With `--dev` the suite scores the validation split instead (a stratified tenth of train
//! when the data set has none), which is what hyper-parameters are tuned on.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Result};
use engine::embed::Embedder;
use engine::encoder::tune::TuningSettings;
use engine::intent::label_examples::with_label_examples;
use engine::intent::{calibrate, ClassifierSettings, IntentClassifier, IntentExample};
use serde_json::json;

use super::tuned::train_tuned;
use super::Context;
use crate::cache::EmbeddingCache;
use crate::data::{Labelled, Splits, OOS_LABEL};
use crate::metrics;
use crate::report::Report;

/// Options of one intent run.
#[derive(Debug, Clone)]
pub struct IntentOptions {
    /// Examples per intent sampled from train (all of train when `None`).
    pub shots: Option<usize>,
    /// Seeds of the few-shot sampling (and of training); one run per seed.
    pub seeds: usize,
    /// Score the validation split instead of the test split.
    pub dev: bool,
    /// Messages timed one by one (embedding included) for the latency figures.
    pub latency_samples: usize,
}

impl Default for IntentOptions {
    fn default() -> Self {
        Self {
            shots: None,
            seeds: 1,
            dev: false,
            latency_samples: 200,
        }
    }
}

/// Splits `rows` into (train, validation): every tenth example of each label, in file order,
/// goes to validation. Deterministic.
pub fn hold_out_tenth(rows: &[Labelled]) -> (Vec<Labelled>, Vec<Labelled>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut train = Vec::new();
    let mut validation = Vec::new();
    for row in rows {
        let n = seen.entry(row.label.as_str()).or_default();
        if *n % 10 == 9 {
            validation.push(row.clone());
        } else {
            train.push(row.clone());
        }
        *n += 1;
    }
    (train, validation)
}

/// The in-scope train rows, the validation rows (for calibration; empty when they would
/// overlap train) and the rows to score, honouring `--dev`.
pub fn train_and_scored(
    splits: &Splits,
    dev: bool,
) -> (Vec<Labelled>, Vec<Labelled>, Vec<Labelled>) {
    let train: Vec<Labelled> = splits
        .train
        .iter()
        .filter(|r| r.label != OOS_LABEL)
        .cloned()
        .collect();
    if !splits.validation.is_empty() {
        let scored = if dev {
            splits.validation.clone()
        } else {
            splits.test.clone()
        };
        return (train, splits.validation.clone(), scored);
    }
    if dev {
        let (train, validation) = hold_out_tenth(&train);
        return (train, Vec::new(), validation);
    }
    (train, Vec::new(), splits.test.clone())
}

/// Samples `shots` rows per label with a seeded shuffle (all rows of a label with fewer).
pub fn sample_shots(rows: &[Labelled], shots: usize, seed: u64) -> Vec<usize> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        by_label.entry(row.label.as_str()).or_default().push(i);
    }
    let mut rng = engine::intent::train::SplitMix::new(seed);
    let mut picked = Vec::new();
    for indices in by_label.values_mut() {
        rng.shuffle(indices);
        picked.extend(indices.iter().take(shots));
    }
    picked.sort_unstable();
    picked
}

pub fn to_examples(rows: &[Labelled]) -> Vec<IntentExample> {
    rows.iter()
        .map(|r| IntentExample::new(r.text.clone(), r.label.clone()))
        .collect()
}

pub fn texts(rows: &[Labelled]) -> Vec<String> {
    rows.iter().map(|r| r.text.clone()).collect()
}

/// The rows at `indices` of `train` as intent examples.
pub fn examples_at(train: &[Labelled], indices: &[usize]) -> Vec<IntentExample> {
    indices
        .iter()
        .map(|&i| IntentExample::new(train[i].text.clone(), train[i].label.clone()))
        .collect()
}

/// Trains on the rows at `indices` of `train` (with their embeddings), plus one example per
/// intent made of its name, as the engine's intent service does
/// ([`engine::intent::label_examples`]); those are embedded through `cache`.
pub fn train_on(
    cache: &EmbeddingCache,
    train: &[Labelled],
    embeddings: &[Vec<f32>],
    indices: &[usize],
    settings: &ClassifierSettings,
) -> Result<IntentClassifier> {
    let examples = examples_at(train, indices);
    let mut vectors: Vec<Vec<f32>> = indices.iter().map(|&i| embeddings[i].clone()).collect();
    let examples = with_label_examples(&examples);
    let added: Vec<String> = examples[vectors.len()..]
        .iter()
        .map(|e| e.text.clone())
        .collect();
    if !added.is_empty() {
        vectors.extend(cache.embed(&added)?);
    }
    IntentClassifier::train(&examples, &vectors, settings).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Top-1 labels (ignoring the out-of-scope threshold) and their confidence.
pub fn predict_all(
    classifier: &IntentClassifier,
    rows: &[Labelled],
    embeddings: &[Vec<f32>],
) -> Vec<(String, f32)> {
    rows.iter()
        .zip(embeddings)
        .map(|(row, e)| {
            let p = classifier.classify(&row.text, e);
            p.ranked
                .first()
                .cloned()
                .unwrap_or_else(|| (OOS_LABEL.to_string(), 0.0))
        })
        .collect()
}

/// Runs the suite on `splits`.
pub fn run(ctx: &Context, splits: &Splits, options: &IntentOptions) -> Result<Report> {
    let (train, validation, scored) = train_and_scored(splits, options.dev);
    let scored: Vec<Labelled> = scored
        .into_iter()
        .filter(|r| r.label != OOS_LABEL)
        .collect();
    if train.is_empty() || scored.is_empty() {
        bail!("{}: empty train or test split", splits.name);
    }
    let (train_vectors, scored_vectors, validation_vectors) = if options.dev {
        // The held-out tenth and the rest are both parts of train: embed train once (the
        // same cache entry as a test run) and look the rows up.
        let (full, _, _) = train_and_scored(splits, false);
        let vectors = ctx.cache.embed(&texts(&full))?;
        let by_text: std::collections::HashMap<&str, &Vec<f32>> =
            full.iter().map(|r| r.text.as_str()).zip(&vectors).collect();
        let look_up = |rows: &[Labelled]| -> Result<Vec<Vec<f32>>> {
            rows.iter()
                .map(|r| {
                    by_text
                        .get(r.text.as_str())
                        .map(|v| (*v).clone())
                        .ok_or_else(|| {
                            anyhow::anyhow!("{name}: a dev row is not in train", name = splits.name)
                        })
                })
                .collect()
        };
        if splits.validation.is_empty() {
            (look_up(&train)?, look_up(&scored)?, Vec::new())
        } else {
            let validation_vectors = ctx.cache.embed(&texts(&validation))?;
            (
                vectors,
                ctx.cache.embed(&texts(&scored))?,
                validation_vectors,
            )
        }
    } else {
        (
            ctx.cache.embed(&texts(&train))?,
            ctx.cache.embed(&texts(&scored))?,
            ctx.cache.embed(&texts(&validation))?,
        )
    };
    let name = &splits.name;
    let split_name = if options.dev { "validation" } else { "test" };
    let mut report = Report::new(
        "intent",
        json!({
            "dataset": name, "scored_split": split_name, "shots": options.shots,
            "seeds": options.seeds, "train_rows": train.len(), "scored_rows": scored.len(),
            "settings": ctx.settings,
        }),
    );
    let seeds: Vec<u64> = match options.shots {
        Some(_) => (1..=options.seeds.max(1) as u64).collect(),
        None => vec![ctx.settings.train.seed],
    };
    let gold: Vec<String> = scored.iter().map(|r| r.label.clone()).collect();
    let mut accuracies = Vec::new();
    let mut f1s = Vec::new();
    let mut eces = Vec::new();
    let mut train_seconds = Vec::new();
    let mut last = None;
    let mut tuning_reports = Vec::new();
    for &seed in &seeds {
        let indices = match options.shots {
            Some(n) => sample_shots(&train, n, seed),
            None => (0..train.len()).collect(),
        };
        let mut settings = ctx.settings;
        settings.train.seed = seed;
        let started = Instant::now();
        let tuned = match ctx.tuning {
            Some(tuning) => Some(train_tuned(
                &train,
                &indices,
                &settings,
                &TuningSettings { seed, ..tuning },
            )?),
            None => None,
        };
        let mut classifier = match &tuned {
            Some(run) => run.0.classifier.clone(),
            None => train_on(&ctx.cache, &train, &train_vectors, &indices, &settings)?,
        };
        train_seconds.push(started.elapsed().as_secs_f64());
        // With a tuned encoder the scored and validation rows are embedded by it.
        let (seed_scored, seed_validation) = match &tuned {
            Some(run) => (run.embed(&scored)?, run.embed(&validation)?),
            None => (Vec::new(), Vec::new()),
        };
        let (scored_vectors, validation_vectors) = match &tuned {
            Some(_) => (&seed_scored, &seed_validation),
            None => (&scored_vectors, &validation_vectors),
        };
        if let Some(run) = &tuned {
            tuning_reports.push(run.0.report.clone());
        }
        if !validation.is_empty() && !options.dev {
            let examples = to_examples(&validation);
            classifier.calibrate(&examples, validation_vectors);
        }
        let predictions = predict_all(&classifier, &scored, scored_vectors);
        let predicted: Vec<String> = predictions.iter().map(|p| p.0.clone()).collect();
        accuracies.push(metrics::accuracy(&gold, &predicted));
        f1s.push(metrics::macro_f1(&gold, &predicted));
        let calibration: Vec<(f32, bool)> = predictions
            .iter()
            .zip(&gold)
            .map(|((label, confidence), g)| (*confidence, label == g))
            .collect();
        eces.push(calibrate::expected_calibration_error(&calibration, 15));
        tracing::info!(seed, accuracy = accuracies.last(), "intent run");
        last = Some((classifier, predicted, tuned));
    }
    let accuracy = metrics::mean_se(&accuracies);
    let se = |m: metrics::MeanSe, p: f64| {
        if m.n > 1 {
            m.se
        } else {
            metrics::proportion_se(p, gold.len())
        }
    };
    report.push(
        format!("{name}.accuracy"),
        accuracy.mean,
        Some(se(accuracy, accuracy.mean)),
    );
    let f1 = metrics::mean_se(&f1s);
    report.push(
        format!("{name}.macro_f1"),
        f1.mean,
        (f1.n > 1).then_some(f1.se),
    );
    report.push_lower(format!("{name}.ece"), metrics::mean_se(&eces).mean);
    report.push_lower(
        format!("{name}.train_seconds"),
        metrics::mean_se(&train_seconds).mean,
    );
    report.detail("accuracy_per_seed", json!(accuracies));
    let Some((classifier, predicted, tuned)) = last else {
        bail!("no run");
    };
    if let Some(tuning) = ctx.tuning {
        report.detail("tuning", json!(tuning));
        report.detail("tuning_runs", json!(tuning_reports));
    }
    report.detail("temperature", json!(classifier.temperature()));
    let per_label = metrics::per_label(&gold, &predicted);
    let confusions = metrics::confusion_pairs(&gold, &predicted, 10);
    report.sections.push(confusion_markdown(&confusions));
    report.sections.push(per_label_markdown(&per_label));
    report.detail("per_label", json!(per_label));
    report.detail("confusions", json!(confusions));
    if options.latency_samples > 0 {
        let embedder = ctx.cache.embedder();
        let embed_one = |text: &String| -> Result<Vec<f32>> {
            let mut vectors = match &tuned {
                Some(run) => run.0.embedder.embed(std::slice::from_ref(text)),
                None => embedder.embed(std::slice::from_ref(text)),
            }
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            vectors.pop().ok_or_else(|| anyhow::anyhow!("no vector"))
        };
        let (total, classify_only) =
            latency(&embed_one, &classifier, &scored, options.latency_samples)?;
        report.push_lower(
            format!("{name}.latency_ms_p50"),
            metrics::percentile(&total, 0.5),
        );
        report.push_lower(
            format!("{name}.latency_ms_p99"),
            metrics::percentile(&total, 0.99),
        );
        report.push_lower(
            format!("{name}.classify_only_ms_p50"),
            metrics::percentile(&classify_only, 0.5),
        );
    }
    Ok(report)
}

/// Times embedding plus classification of single messages, as a live turn does it.
fn latency(
    embed_one: &dyn Fn(&String) -> Result<Vec<f32>>,
    classifier: &IntentClassifier,
    rows: &[Labelled],
    samples: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut total = Vec::new();
    let mut classify_only = Vec::new();
    for row in rows.iter().take(samples) {
        let started = Instant::now();
        let vector = embed_one(&row.text)?;
        let embedded = Instant::now();
        let prediction = classifier.classify(&row.text, &vector);
        std::hint::black_box(prediction);
        total.push(started.elapsed().as_secs_f64() * 1000.0);
        classify_only.push(embedded.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((total, classify_only))
}

fn confusion_markdown(pairs: &[(String, String, usize)]) -> String {
    let mut out = String::from(
        "### Most frequent confusions\n\n| gold | predicted | count |\n|---|---|---:|\n",
    );
    for (g, p, n) in pairs {
        out.push_str(&format!("| {g} | {p} | {n} |\n"));
    }
    out
}

fn per_label_markdown(scores: &BTreeMap<String, metrics::LabelScores>) -> String {
    let mut out = String::from(
        "### Per intent\n\n| intent | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n",
    );
    for (label, s) in scores {
        out.push_str(&format!(
            "| {label} | {:.3} | {:.3} | {:.3} | {} |\n",
            s.precision, s.recall, s.f1, s.support
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(labels: &[&str]) -> Vec<Labelled> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| Labelled::new(format!("t{i}"), *l))
            .collect()
    }

    #[test]
    fn shots_take_n_per_label_and_depend_on_the_seed() {
        let data = rows(&["a", "a", "a", "b", "b", "b", "b", "c"]);
        let picked = sample_shots(&data, 2, 1);
        assert_eq!(picked.len(), 5);
        let count = |l: &str| picked.iter().filter(|&&i| data[i].label == l).count();
        assert_eq!((count("a"), count("b"), count("c")), (2, 2, 1));
        assert_eq!(picked, sample_shots(&data, 2, 1));
    }

    #[test]
    fn the_held_out_tenth_is_stratified() {
        let data = rows(&["a"; 20]);
        let (train, validation) = hold_out_tenth(&data);
        assert_eq!((train.len(), validation.len()), (18, 2));
    }
}
