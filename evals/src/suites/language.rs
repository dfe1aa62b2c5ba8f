//! The `language` suite: [`engine::language::detect`] on the lingua test data (sentences, word
//! pairs and single words of 14 languages), scored per language and kind, beside the figures
//! lingua's own accuracy report gives for lingua and whatlang on the same inputs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde_json::json;

use super::Context;
use crate::data::{lingua_samples, LanguageSample};
use crate::metrics;
use crate::report::Report;

/// English names used by the accuracy CSVs, per ISO 639-1 code of the test data.
const NAMES: [(&str, &str); 14] = [
    ("ar", "Arabic"),
    ("de", "German"),
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("nl", "Dutch"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ru", "Russian"),
    ("tr", "Turkish"),
    ("zh", "Chinese"),
];

/// Options of the suite.
#[derive(Debug, Clone, Default)]
pub struct LanguageOptions {
    /// Keep at most this many samples per language and kind (all when `None`).
    pub per_language_limit: Option<usize>,
    /// Only this kind (`sentences`, `word-pairs`, `single-words`).
    pub kind: Option<String>,
}

/// Picks samples deterministically: the first `limit` of each (language, kind) in file order.
fn select(samples: Vec<LanguageSample>, options: &LanguageOptions) -> Vec<LanguageSample> {
    let mut taken: BTreeMap<(String, String), usize> = BTreeMap::new();
    samples
        .into_iter()
        .filter(|s| options.kind.as_ref().is_none_or(|k| &s.kind == k))
        .filter(|s| {
            let n = taken.entry((s.code.clone(), s.kind.clone())).or_default();
            *n += 1;
            options.per_language_limit.is_none_or(|limit| *n <= limit)
        })
        .collect()
}

/// Mean over our 14 languages of one column of a lingua accuracy CSV (percent).
fn published_mean(path: &Path, column: &str) -> Result<f64> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let at = headers
        .iter()
        .position(|h| h == column)
        .with_context(|| format!("{} has no column {column}", path.display()))?;
    let wanted: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record?;
        if record.get(0).is_some_and(|name| wanted.contains(&name)) {
            if let Some(v) = record.get(at).and_then(|v| v.parse::<f64>().ok()) {
                values.push(v);
            }
        }
    }
    Ok(values.iter().sum::<f64>() / values.len().max(1) as f64)
}

/// Runs the suite.
pub fn run(ctx: &Context, options: &LanguageOptions) -> Result<Report> {
    let samples = select(lingua_samples(&ctx.data_dir)?, options);
    let mut report = Report::new(
        "language",
        json!({"per_language_limit": options.per_language_limit, "kind": options.kind, "samples": samples.len()}),
    );
    // (kind, code) -> (right, total)
    let mut tally: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut reliable = 0usize;
    let started = Instant::now();
    for sample in &samples {
        let detection = engine::language::detect(&sample.text);
        reliable += usize::from(detection.reliable);
        let entry = tally
            .entry((sample.kind.clone(), sample.code.clone()))
            .or_default();
        entry.0 += usize::from(detection.code == sample.code);
        entry.1 += 1;
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / samples.len().max(1) as f64;
    let mut by_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut table = String::from("### Accuracy per language\n\n| kind | language | accuracy | samples |\n|---|---|---:|---:|\n");
    for ((kind, code), (right, total)) in &tally {
        let accuracy = *right as f64 / (*total).max(1) as f64;
        by_kind.entry(kind.clone()).or_default().push(accuracy);
        table.push_str(&format!("| {kind} | {code} | {accuracy:.4} | {total} |\n"));
    }
    for (kind, accuracies) in &by_kind {
        let m = metrics::mean_se(accuracies);
        report.push(format!("language.{kind}.mean_accuracy"), m.mean, Some(m.se));
    }
    report.push(
        "language.reliable_share",
        reliable as f64 / samples.len().max(1) as f64,
        None,
    );
    report.push_lower("language.latency_us_mean", micros);
    let mut published = String::from(
        "### Published accuracy on the same 14 languages (lingua's report, mean %)\n\n| kind | lingua high | lingua low | whatlang |\n|---|---:|---:|---:|\n",
    );
    for kind in ["sentences", "word-pairs", "single-words"] {
        let path = ctx
            .data_dir
            .join("langid")
            .join(format!("lingua-rs_{kind}-accuracy-values.csv"));
        if let (Ok(high), Ok(low), Ok(whatlang)) = (
            published_mean(&path, "lingua-high-accuracy"),
            published_mean(&path, "lingua-low-accuracy"),
            published_mean(&path, "whatlang"),
        ) {
            published.push_str(&format!(
                "| {kind} | {high:.2} | {low:.2} | {whatlang:.2} |\n"
            ));
            report.detail(
                &format!("published_{kind}"),
                json!({"lingua_high": high, "lingua_low": low, "whatlang": whatlang}),
            );
        }
    }
    report.sections.push(published);
    report.sections.push(table);
    Ok(report)
}
