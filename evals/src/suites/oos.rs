//! The `oos` suite: out-of-scope detection. The classifier is trained on the in-scope train
//! rows only (plus one example per intent made of its name, as the engine does), and its
//! temperature is fitted on the in-scope validation rows.
//!
//! A message is rejected when its calibrated confidence is below the threshold, when its
//! nearest training example of the predicted intent is less similar than the similarity
//! floor, or when its standardised energy score is below the energy floor ([`Rule`]).
//! Reported on the test split: in-scope accuracy (right intent and not rejected), out-of-scope
//! recall and precision, at the shipped settings and at the rule chosen on the validation
//! split (the highest out-of-scope recall that costs at most one point of in-scope accuracy),
//! at the rule chosen the other way round (the highest in-scope accuracy at a minimum
//! validation recall, [`choose_rule_for_recall`]), plus the curve over thresholds.

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::json;

use engine::intent::IntentClassifier;

use super::intent::{predict_all, texts, to_examples, train_on};
use super::tuned::train_tuned;
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

/// One scored message.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The best intent (rejection aside).
    pub label: String,
    /// Its calibrated confidence.
    pub confidence: f32,
    /// Cosine similarity to the nearest training example of that intent.
    pub similarity: f32,
    /// The standardised energy score ([`IntentClassifier::energy`]).
    pub energy: f32,
}

impl Scored {
    fn plain(label: &str, confidence: f32) -> Self {
        Self {
            label: label.to_string(),
            confidence,
            similarity: 1.0,
            energy: f32::MAX,
        }
    }
}

/// When a message is rejected: confidence below `threshold`, nearest-example similarity
/// below `similarity_floor`, or standardised energy below `energy_floor`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rule {
    pub threshold: f64,
    pub similarity_floor: f64,
    pub energy_floor: Option<f64>,
}

impl Rule {
    fn rejects(&self, s: &Scored) -> bool {
        f64::from(s.confidence) < self.threshold
            || f64::from(s.similarity) < self.similarity_floor
            || self
                .energy_floor
                .is_some_and(|floor| f64::from(s.energy) < floor)
    }
}

/// Scores `(predicted label, confidence)` against gold labels at `threshold`.
pub fn score_at(gold: &[String], predictions: &[(String, f32)], threshold: f64) -> OosPoint {
    let scored: Vec<Scored> = predictions
        .iter()
        .map(|(l, c)| Scored::plain(l, *c))
        .collect();
    let rule = Rule {
        threshold,
        similarity_floor: 0.0,
        energy_floor: None,
    };
    score_rule(gold, &scored, &rule)
}

/// Scores the rows under a rejection `rule`.
pub fn score_rule(gold: &[String], predictions: &[Scored], rule: &Rule) -> OosPoint {
    let (mut in_total, mut in_right, mut oos_total, mut oos_caught, mut rejected) = (0, 0, 0, 0, 0);
    for (g, scored) in gold.iter().zip(predictions) {
        let reject = rule.rejects(scored);
        rejected += usize::from(reject);
        if g == OOS_LABEL {
            oos_total += 1;
            oos_caught += usize::from(reject);
        } else {
            in_total += 1;
            in_right += usize::from(!reject && scored.label == *g);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    OosPoint {
        threshold: rule.threshold,
        in_scope_accuracy: ratio(in_right, in_total),
        oos_recall: ratio(oos_caught, oos_total),
        oos_precision: ratio(oos_caught, rejected),
    }
}

/// The in-scope accuracy a rejection rule may cost, at most.
pub const ALLOWED_IN_SCOPE_LOSS: f64 = 0.01;

/// The rule (confidence threshold in steps of 0.02, similarity floor in steps of 0.04, energy
/// floor off or from -4 to 2 in steps of 0.1) with the highest OOS recall whose in-scope
/// accuracy is within [`ALLOWED_IN_SCOPE_LOSS`] of no rejection at all; ties go to the higher
/// in-scope accuracy, then to the first found (no energy floor, then smaller values).
pub fn choose_rule(gold: &[String], predictions: &[Scored]) -> Rule {
    let none = Rule {
        threshold: 0.0,
        similarity_floor: 0.0,
        energy_floor: None,
    };
    let base = score_rule(gold, predictions, &none).in_scope_accuracy;
    let mut best = ((f64::MIN, f64::MIN), none);
    for rule in rule_grid() {
        let p = score_rule(gold, predictions, &rule);
        if p.in_scope_accuracy + 1e-12 < base - ALLOWED_IN_SCOPE_LOSS {
            continue;
        }
        let key = (p.oos_recall, p.in_scope_accuracy);
        if key.0 > best.0 .0 + 1e-12
            || ((key.0 - best.0 .0).abs() <= 1e-12 && key.1 > best.0 .1 + 1e-12)
        {
            best = (key, rule);
        }
    }
    best.1
}

/// The rules both choosers search, in their tie-breaking order: energy floor off, then -4 to
/// 2 in steps of 0.1; within it similarity floor 0 to 0.88 in steps of 0.04; within it
/// confidence threshold 0 to 1 in steps of 0.02.
fn rule_grid() -> impl Iterator<Item = Rule> {
    std::iter::once(None)
        .chain((0..=60).map(|i| Some(-4.0 + f64::from(i) * 0.1)))
        .flat_map(|energy_floor| {
            (0..=22).flat_map(move |floor_step| {
                (0..=50).map(move |step| Rule {
                    threshold: f64::from(step) * 0.02,
                    similarity_floor: f64::from(floor_step) * 0.04,
                    energy_floor,
                })
            })
        })
}

/// The out-of-scope recall a rule chosen by [`choose_rule_for_recall`] must reach on the
/// validation split: the 70% target plus about one standard error of a recall measured on
/// CLINC150's 100 validation out-of-scope rows (sqrt(0.7 x 0.3 / 100) = 4.6 points). Measured,
/// that margin is too small: CLINC150's test out-of-scope rows are harder than its validation
/// rows (`docs/quality.md`), which is why this rule is reported but not shipped.
pub const MIN_VALIDATION_RECALL: f64 = 0.75;

/// The rule (on the grid of [`choose_rule`]) with the highest in-scope accuracy whose
/// out-of-scope recall is at least `min_recall`; ties go to the higher recall, then to the
/// first found. `None` when no rule reaches `min_recall`.
pub fn choose_rule_for_recall(
    gold: &[String],
    predictions: &[Scored],
    min_recall: f64,
) -> Option<Rule> {
    let mut best: Option<((f64, f64), Rule)> = None;
    for rule in rule_grid() {
        let p = score_rule(gold, predictions, &rule);
        if p.oos_recall + 1e-12 < min_recall {
            continue;
        }
        let key = (p.in_scope_accuracy, p.oos_recall);
        let better = best.as_ref().is_none_or(|(b, _)| {
            key.0 > b.0 + 1e-12 || ((key.0 - b.0).abs() <= 1e-12 && key.1 > b.1 + 1e-12)
        });
        if better {
            best = Some((key, rule));
        }
    }
    best.map(|(_, rule)| rule)
}

/// Best label, confidence, nearest-example similarity and energy of every row.
fn score_rows(
    classifier: &IntentClassifier,
    rows: &[Labelled],
    vectors: &[Vec<f32>],
) -> Vec<Scored> {
    predict_all(classifier, rows, vectors)
        .into_iter()
        .zip(rows.iter().zip(vectors))
        .map(|((label, confidence), (row, v))| Scored {
            similarity: classifier.nearest_similarity(&label, v),
            energy: classifier.energy(&row.text, v),
            label,
            confidence,
        })
        .collect()
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
    let indices: Vec<usize> = (0..train.len()).collect();
    let (mut classifier, validation_vectors, test_vectors, tuning) = match ctx.tuning {
        Some(tuning) => {
            let run = train_tuned(&train, &indices, &ctx.settings, &tuning)?;
            let validation_vectors = run.embed(&splits.validation)?;
            let test_vectors = run.embed(&splits.test)?;
            let report = (tuning, run.0.report.clone());
            (
                run.0.classifier.clone(),
                validation_vectors,
                test_vectors,
                Some(report),
            )
        }
        None => {
            let train_vectors = ctx.cache.embed(&texts(&train))?;
            let classifier = train_on(&ctx.cache, &train, &train_vectors, &indices, &ctx.settings)?;
            (
                classifier,
                ctx.cache.embed(&texts(&splits.validation))?,
                ctx.cache.embed(&texts(&splits.test))?,
                None,
            )
        }
    };
    let temperature = classifier.calibrate(&to_examples(&splits.validation), &validation_vectors);

    let gold = |rows: &[Labelled]| rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>();
    let validation_gold = gold(&splits.validation);
    let validation_predictions = score_rows(&classifier, &splits.validation, &validation_vectors);
    let chosen = choose_rule(&validation_gold, &validation_predictions);
    let chosen_for_recall = choose_rule_for_recall(
        &validation_gold,
        &validation_predictions,
        MIN_VALIDATION_RECALL,
    );
    let test_gold = gold(&splits.test);
    let test_predictions = score_rows(&classifier, &splits.test, &test_vectors);
    let shipped = Rule {
        threshold: f64::from(ctx.settings.threshold),
        similarity_floor: f64::from(ctx.settings.similarity_floor),
        energy_floor: ctx.settings.energy_floor.map(f64::from),
    };

    let name = &splits.name;
    let mut report = Report::new(
        "oos",
        json!({"dataset": name, "settings": ctx.settings, "temperature": temperature}),
    );
    if let Some((settings, run)) = tuning {
        report.detail("tuning", json!(settings));
        report.detail("tuning_run", json!(run));
    }
    let mut rules = vec![("shipped", shipped), ("validation_chosen", chosen)];
    rules.extend(chosen_for_recall.map(|rule| ("validation_chosen_for_recall", rule)));
    for (tag, rule) in rules {
        let v = score_rule(&validation_gold, &validation_predictions, &rule);
        report.detail(&format!("{tag}.validation"), json!(v));
        let p = score_rule(&test_gold, &test_predictions, &rule);
        report.push(format!("{name}.{tag}.threshold"), rule.threshold, None);
        report.push(
            format!("{name}.{tag}.similarity_floor"),
            rule.similarity_floor,
            None,
        );
        if let Some(floor) = rule.energy_floor {
            report.push(format!("{name}.{tag}.energy_floor"), floor, None);
        }
        report.push(
            format!("{name}.{tag}.in_scope_accuracy"),
            p.in_scope_accuracy,
            None,
        );
        report.push(format!("{name}.{tag}.oos_recall"), p.oos_recall, None);
        report.push(format!("{name}.{tag}.oos_precision"), p.oos_precision, None);
    }
    let no_rejection = score_at(
        &test_gold,
        &test_predictions
            .iter()
            .map(|s| (s.label.clone(), s.confidence))
            .collect::<Vec<_>>(),
        0.0,
    );
    report.push(
        format!("{name}.no_rejection.in_scope_accuracy"),
        no_rejection.in_scope_accuracy,
        None,
    );
    let curve: Vec<OosPoint> = (0..=20)
        .map(|i| {
            score_rule(
                &test_gold,
                &test_predictions,
                &Rule {
                    threshold: f64::from(i) * 0.05,
                    ..shipped
                },
            )
        })
        .collect();
    let mut section = String::from(
        "### Test curve over confidence thresholds (at the shipped similarity and energy floors)\n\n| threshold | in-scope accuracy | OOS recall | OOS precision |\n|---:|---:|---:|---:|\n",
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
            score_rule(
                &validation_gold,
                &validation_predictions,
                &Rule {
                    threshold: f64::from(i) * 0.05,
                    ..shipped
                },
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
        let scored: Vec<Scored> = predictions
            .iter()
            .map(|(l, c)| Scored::plain(l, *c))
            .collect();
        // 0.32 rejects the out-of-scope row at 0.3 and keeps both in-scope rows; going past
        // 0.4 to catch the other would cost half the in-scope accuracy.
        let rule = choose_rule(&gold, &scored);
        assert_eq!((rule.threshold, rule.similarity_floor), (0.32, 0.0));
        assert_eq!(rule.energy_floor, None);
        // Asking for all the out-of-scope rows costs the in-scope row at 0.4 but not the one
        // at 0.9: the lowest threshold above 0.8 that keeps it is 0.82.
        let rule = choose_rule_for_recall(&gold, &scored, 1.0).expect("reachable");
        assert!((rule.threshold - 0.82).abs() < 1e-9, "{rule:?}");
        let p = score_rule(&gold, &scored, &rule);
        assert_eq!((p.in_scope_accuracy, p.oos_recall), (0.5, 1.0));
        // Half the recall is reached without losing an in-scope row.
        let rule = choose_rule_for_recall(&gold, &scored, 0.5).expect("reachable");
        let p = score_rule(&gold, &scored, &rule);
        assert_eq!((p.in_scope_accuracy, p.oos_recall), (1.0, 0.5));
    }
}
