//! The `oos` suite: out-of-scope detection. The classifier is trained on the in-scope train
//! rows only, its temperature is fitted on the in-scope validation rows, and a message counts
//! as out of scope when its calibrated confidence is below the threshold.
//!
//! Reported on the test split: in-scope accuracy (right intent and not rejected), out-of-scope
//! recall and precision, at the shipped threshold and at the threshold chosen on the
//! validation split (the one maximising in-scope accuracy + out-of-scope recall), plus the
//! curve over thresholds.

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::json;

use super::intent::{predict_all, texts, to_examples, train_on};
use super::Context;
use crate::data::{Labelled, Splits, OOS_LABEL};
use crate::report::Report;

/// Scores at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OosPoint {
    pub threshold: f64,
    /// In-scope rows with the right label and a confidence at or above the threshold.
    pub in_scope_accuracy: f64,
    /// Out-of-scope rows rejected (confidence below the threshold).
    pub oos_recall: f64,
    /// Rejected rows that really were out of scope.
    pub oos_precision: f64,
}

/// Scores `(predicted label, confidence)` against gold labels at `threshold`.
pub fn score_at(gold: &[String], predictions: &[(String, f32)], threshold: f64) -> OosPoint {
    let (mut in_total, mut in_right, mut oos_total, mut oos_caught, mut rejected) = (0, 0, 0, 0, 0);
    for (g, (label, confidence)) in gold.iter().zip(predictions) {
        let reject = f64::from(*confidence) < threshold;
        rejected += usize::from(reject);
        if g == OOS_LABEL {
            oos_total += 1;
            oos_caught += usize::from(reject);
        } else {
            in_total += 1;
            in_right += usize::from(!reject && label == g);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    OosPoint {
        threshold,
        in_scope_accuracy: ratio(in_right, in_total),
        oos_recall: ratio(oos_caught, oos_total),
        oos_precision: ratio(oos_caught, rejected),
    }
}

/// The threshold in 0.00..=1.00 (steps of 0.01) with the best in-scope accuracy + OOS recall
/// (the smallest such threshold on ties).
pub fn choose_threshold(gold: &[String], predictions: &[(String, f32)]) -> f64 {
    let mut best = (f64::MIN, 0.0);
    for step in 0..=100 {
        let t = f64::from(step) / 100.0;
        let p = score_at(gold, predictions, t);
        let score = p.in_scope_accuracy + p.oos_recall;
        if score > best.0 + 1e-12 {
            best = (score, t);
        }
    }
    best.1
}

/// Runs the suite on a data set with `oos` rows in its validation and test splits.
pub fn run(ctx: &Context, splits: &Splits) -> Result<Report> {
    let train: Vec<Labelled> = splits
        .train
        .iter()
        .filter(|r| r.label != OOS_LABEL)
        .cloned()
        .collect();
    let has_oos = |rows: &[Labelled]| rows.iter().any(|r| r.label == OOS_LABEL);
    if !has_oos(&splits.validation) || !has_oos(&splits.test) {
        bail!(
            "{}: the oos suite needs out-of-scope rows in validation and test",
            splits.name
        );
    }
    let train_vectors = ctx.cache.embed(&texts(&train))?;
    let validation_vectors = ctx.cache.embed(&texts(&splits.validation))?;
    let test_vectors = ctx.cache.embed(&texts(&splits.test))?;
    let indices: Vec<usize> = (0..train.len()).collect();
    let mut classifier = train_on(&train, &train_vectors, &indices, &ctx.settings)?;
    let temperature = classifier.calibrate(&to_examples(&splits.validation), &validation_vectors);

    let gold = |rows: &[Labelled]| rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>();
    let validation_gold = gold(&splits.validation);
    let validation_predictions = predict_all(&classifier, &splits.validation, &validation_vectors);
    let chosen = choose_threshold(&validation_gold, &validation_predictions);
    let test_gold = gold(&splits.test);
    let test_predictions = predict_all(&classifier, &splits.test, &test_vectors);
    let shipped = f64::from(ctx.settings.threshold);

    let name = &splits.name;
    let mut report = Report::new(
        "oos",
        json!({"dataset": name, "settings": ctx.settings, "temperature": temperature}),
    );
    for (tag, threshold) in [("shipped", shipped), ("validation_chosen", chosen)] {
        let p = score_at(&test_gold, &test_predictions, threshold);
        report.push(format!("{name}.{tag}.threshold"), threshold, None);
        report.push(
            format!("{name}.{tag}.in_scope_accuracy"),
            p.in_scope_accuracy,
            None,
        );
        report.push(format!("{name}.{tag}.oos_recall"), p.oos_recall, None);
        report.push(format!("{name}.{tag}.oos_precision"), p.oos_precision, None);
    }
    let curve: Vec<OosPoint> = (0..=20)
        .map(|i| score_at(&test_gold, &test_predictions, f64::from(i) * 0.05))
        .collect();
    let mut section = String::from(
        "### Test curve over thresholds\n\n| threshold | in-scope accuracy | OOS recall | OOS precision |\n|---:|---:|---:|---:|\n",
    );
    for p in &curve {
        section.push_str(&format!(
            "| {:.2} | {:.4} | {:.4} | {:.4} |\n",
            p.threshold, p.in_scope_accuracy, p.oos_recall, p.oos_precision
        ));
    }
    report.sections.push(section);
    report.detail("test_curve", json!(curve));
    let validation_curve: Vec<OosPoint> = (0..=20)
        .map(|i| {
            score_at(
                &validation_gold,
                &validation_predictions,
                f64::from(i) * 0.05,
            )
        })
        .collect();
    report.detail("validation_curve", json!(validation_curve));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scores_at_a_threshold_match_a_hand_computed_case() {
        let gold = s(&["a", "b", "oos", "oos"]);
        let predictions = vec![
            ("a".to_string(), 0.9),
            ("b".to_string(), 0.4),
            ("a".to_string(), 0.3),
            ("b".to_string(), 0.8),
        ];
        let p = score_at(&gold, &predictions, 0.5);
        assert_eq!(p.in_scope_accuracy, 0.5);
        assert_eq!(p.oos_recall, 0.5);
        // Rejected: "b" at 0.4 (in scope) and the oos at 0.3.
        assert_eq!(p.oos_precision, 0.5);
        assert_eq!(choose_threshold(&gold, &predictions), 0.31);
    }
}
