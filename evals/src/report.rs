//! Reports: every figure of a run as a named [`Metric`] (with its standard error when it has
//! one), written as a Markdown page for people and a JSON file for machines; and the baseline
//! comparison that turns a report into a pass or fail for CI.
//!
//! Reports hold no timestamps or host names in their metrics, so the same inputs give the same
//! JSON (latency figures are the exception and carry `gate: false` in baselines by default).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One figure of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Dotted name, e.g. `banking77.accuracy`.
    pub name: String,
    pub value: f64,
    /// Standard error (across seeds, or binomial for one run), when meaningful.
    pub se: Option<f64>,
    /// Whether a larger value is better (false for latencies and calibration error).
    pub higher_is_better: bool,
}

/// The result of one suite run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub suite: String,
    /// The options that produced the figures (data set, shots, seeds, settings).
    pub config: serde_json::Value,
    pub metrics: Vec<Metric>,
    /// Suite-specific detail: per-label scores, confusion pairs, curves.
    pub details: serde_json::Value,
    /// Markdown sections beyond the metrics table, in order.
    #[serde(skip)]
    pub sections: Vec<String>,
}

impl Report {
    pub fn new(suite: &str, config: serde_json::Value) -> Self {
        Self {
            suite: suite.to_string(),
            config,
            details: serde_json::Value::Object(Default::default()),
            ..Self::default()
        }
    }

    /// Adds a figure where larger is better.
    pub fn push(&mut self, name: impl Into<String>, value: f64, se: Option<f64>) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            se,
            higher_is_better: true,
        });
    }

    /// Adds a figure where smaller is better.
    pub fn push_lower(&mut self, name: impl Into<String>, value: f64) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            se: None,
            higher_is_better: false,
        });
    }

    /// Stores a detail object under `key`.
    pub fn detail(&mut self, key: &str, value: serde_json::Value) {
        if let serde_json::Value::Object(map) = &mut self.details {
            map.insert(key.to_string(), value);
        }
    }

    /// Looks a metric up by name.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }

    /// Appends the metrics and sections of `other` (used by the gate, which runs several suites).
    pub fn absorb(&mut self, other: Report) {
        self.metrics.extend(other.metrics);
        if let (serde_json::Value::Object(map), value) = (&mut self.details, other.details) {
            map.insert(other.suite.clone(), value);
        }
        self.sections.push(format!("## {}\n", other.suite));
        self.sections.extend(other.sections);
    }

    /// The Markdown page: a table of every metric (mean ± standard error) and the sections.
    pub fn markdown(&self) -> String {
        let mut out = format!("# blaigent-eval: {}\n\n", self.suite);
        let _ = writeln!(
            out,
            "Configuration: `{}`\n",
            serde_json::to_string(&self.config).unwrap_or_default()
        );
        out.push_str("| metric | value | ± s.e. |\n|---|---:|---:|\n");
        for metric in &self.metrics {
            let se = metric.se.map_or(String::from("-"), |se| format!("{se:.4}"));
            let _ = writeln!(out, "| {} | {:.4} | {} |", metric.name, metric.value, se);
        }
        out.push('\n');
        for section in &self.sections {
            out.push_str(section);
            out.push('\n');
        }
        out
    }

    /// Writes `report.md` and `report.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("report.md"), self.markdown())
            .with_context(|| format!("writing {}/report.md", dir.display()))?;
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(dir.join("report.json"), json)
            .with_context(|| format!("writing {}/report.json", dir.display()))?;
        Ok(())
    }
}

/// A committed reference: per metric, the value and how far it may drop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub suite: String,
    pub metrics: BTreeMap<String, BaselineMetric>,
}

/// The reference value of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineMetric {
    pub value: f64,
    /// Allowed drop (absolute) before the gate fails.
    pub tolerance: f64,
    /// Whether a larger value is better.
    #[serde(default = "yes")]
    pub higher_is_better: bool,
}

fn yes() -> bool {
    true
}

/// A metric that moved beyond its tolerance, or is missing from the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    pub metric: String,
    pub baseline: f64,
    pub current: Option<f64>,
    pub tolerance: f64,
}

impl Baseline {
    /// A baseline of every quality metric of `report` (latencies are machine-dependent and
    /// left out) with the same absolute `tolerance`.
    pub fn from_report(report: &Report, tolerance: f64) -> Self {
        let metrics = report
            .metrics
            .iter()
            .filter(|m| !m.name.contains("latency"))
            .map(|m| {
                (
                    m.name.clone(),
                    BaselineMetric {
                        value: m.value,
                        tolerance,
                        higher_is_better: m.higher_is_better,
                    },
                )
            })
            .collect();
        Self {
            suite: report.suite.clone(),
            metrics,
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let raw = std::fs::read_to_string(path)
            .with_context(|| format!("reading the baseline {}", path.display()))?;
        serde_json::from_str(&raw)
            .with_context(|| format!("parsing the baseline {}", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("writing the baseline {}", path.display()))
    }

    /// Every metric of the baseline that the report lost or worsened beyond its tolerance.
    pub fn compare(&self, report: &Report) -> Vec<Regression> {
        self.metrics
            .iter()
            .filter_map(|(name, reference)| {
                let current = report.metric(name);
                let worse = match current {
                    None => true,
                    Some(value) if reference.higher_is_better => {
                        value < reference.value - reference.tolerance
                    }
                    Some(value) => value > reference.value + reference.tolerance,
                };
                worse.then(|| Regression {
                    metric: name.clone(),
                    baseline: reference.value,
                    current,
                    tolerance: reference.tolerance,
                })
            })
            .collect()
    }
}

/// Formats regressions as Markdown lines.
pub fn describe(regressions: &[Regression]) -> String {
    let mut out = String::new();
    for r in regressions {
        let current = r
            .current
            .map_or("missing".to_string(), |v| format!("{v:.4}"));
        let _ = writeln!(
            out,
            "- {}: {} (baseline {:.4}, tolerance {:.4})",
            r.metric, current, r.baseline, r.tolerance
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(accuracy: f64, ece: f64) -> Report {
        let mut r = Report::new("gate", serde_json::json!({}));
        r.push("x.accuracy", accuracy, None);
        r.push_lower("x.ece", ece);
        r.push_lower("x.latency_ms_p50", 3.0);
        r
    }

    #[test]
    fn a_drop_within_tolerance_passes_and_beyond_fails() {
        let baseline = Baseline::from_report(&report(0.90, 0.05), 0.02);
        assert!(!baseline.metrics.contains_key("x.latency_ms_p50"));
        assert!(baseline.compare(&report(0.885, 0.06)).is_empty());
        let regressions = baseline.compare(&report(0.85, 0.05));
        assert_eq!(regressions.len(), 1);
        assert_eq!(regressions[0].metric, "x.accuracy");
        let regressions = baseline.compare(&report(0.95, 0.09));
        assert_eq!(regressions[0].metric, "x.ece");
    }

    #[test]
    fn a_missing_metric_is_a_regression() {
        let baseline = Baseline::from_report(&report(0.9, 0.05), 0.02);
        let empty = Report::new("gate", serde_json::json!({}));
        assert_eq!(baseline.compare(&empty).len(), 2);
    }

    #[test]
    fn markdown_lists_every_metric() {
        let md = report(0.9, 0.05).markdown();
        assert!(md.contains("| x.accuracy | 0.9000 | - |"), "{md}");
        assert!(md.contains("x.latency_ms_p50"));
    }
}
