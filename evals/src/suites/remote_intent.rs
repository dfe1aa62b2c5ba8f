//! The `intent` suite against a running server (`--server`): each test message is sent to the
//! chat endpoint as a new conversation and the `intent` of the reply is compared with the
//! label. The server classifies with the organization's own intent set, so the labels must be
//! intents of that set (e.g. `--dataset bitext-defaults` for the default set); the train split
//! is not used.

use anyhow::{Context as _, Result};
use serde_json::json;

use super::target::Target;
use crate::data::Labelled;
use crate::metrics::{self, proportion_se};
use crate::report::Report;

/// Sends at most `limit` of `rows` (in order) and scores the replies' intents.
pub async fn run(
    target: &Target,
    name: &str,
    rows: &[Labelled],
    limit: Option<usize>,
) -> Result<Report> {
    let rows = &rows[..limit.unwrap_or(rows.len()).min(rows.len())];
    let mut gold = Vec::with_capacity(rows.len());
    let mut predicted = Vec::with_capacity(rows.len());
    let mut latencies = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let started = std::time::Instant::now();
        let answer = target
            .chat(&format!("eval-intent-{i}"), &row.text)
            .await
            .with_context(|| format!("message {i} of {name}"))?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        gold.push(row.label.clone());
        predicted.push(answer.intent);
    }
    let mut report = Report::new(
        "intent-server",
        json!({"dataset": name, "messages": rows.len(), "target": target.describe()}),
    );
    let accuracy = metrics::accuracy(&gold, &predicted);
    report.push(
        format!("{name}.server.accuracy"),
        accuracy,
        Some(proportion_se(accuracy, rows.len())),
    );
    report.push(
        format!("{name}.server.macro_f1"),
        metrics::macro_f1(&gold, &predicted),
        None,
    );
    report.push_lower(
        format!("{name}.server.latency_ms_p50"),
        metrics::percentile(&latencies, 0.5),
    );
    report.push_lower(
        format!("{name}.server.latency_ms_p99"),
        metrics::percentile(&latencies, 0.99),
    );
    let mut section = String::from("### Most frequent confusions (gold -> predicted)\n\n| gold | predicted | count |\n|---|---|---:|\n");
    for (g, p, n) in metrics::confusion_pairs(&gold, &predicted, 15) {
        section.push_str(&format!("| {g} | {p} | {n} |\n"));
    }
    report.sections.push(section);
    report.detail("per_intent", json!(metrics::per_label(&gold, &predicted)));
    Ok(report)
}
