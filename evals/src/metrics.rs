//! The figures every suite reports, as plain functions over plain data so that each one is
//! checked against hand-computed cases in the tests below.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Share of positions where `predicted` equals `gold`.
pub fn accuracy(gold: &[String], predicted: &[String]) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    let right = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    right as f64 / gold.len() as f64
}

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LabelScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of gold examples of the label.
    pub support: usize,
}

/// Per-label precision, recall and F1 for every label that occurs in `gold` (labels only
/// predicted still count against precision of nothing: they are not listed).
pub fn per_label(gold: &[String], predicted: &[String]) -> BTreeMap<String, LabelScores> {
    let mut tp: HashMap<&str, usize> = HashMap::new();
    let mut gold_count: HashMap<&str, usize> = HashMap::new();
    let mut predicted_count: HashMap<&str, usize> = HashMap::new();
    for (g, p) in gold.iter().zip(predicted) {
        *gold_count.entry(g).or_default() += 1;
        *predicted_count.entry(p).or_default() += 1;
        if g == p {
            *tp.entry(g).or_default() += 1;
        }
    }
    gold_count
        .iter()
        .map(|(&label, &support)| {
            let hits = tp.get(label).copied().unwrap_or(0) as f64;
            let predicted = predicted_count.get(label).copied().unwrap_or(0) as f64;
            let precision = if predicted > 0.0 {
                hits / predicted
            } else {
                0.0
            };
            let recall = hits / support as f64;
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            (
                label.to_string(),
                LabelScores {
                    precision,
                    recall,
                    f1,
                    support,
                },
            )
        })
        .collect()
}

/// Unweighted mean of the per-label F1 over the gold labels.
pub fn macro_f1(gold: &[String], predicted: &[String]) -> f64 {
    let scores = per_label(gold, predicted);
    if scores.is_empty() {
        return 0.0;
    }
    scores.values().map(|s| s.f1).sum::<f64>() / scores.len() as f64
}

/// The most frequent `(gold, predicted)` mistakes, most frequent first (ties by name).
pub fn confusion_pairs(
    gold: &[String],
    predicted: &[String],
    top: usize,
) -> Vec<(String, String, usize)> {
    let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
    for (g, p) in gold.iter().zip(predicted) {
        if g != p {
            *counts.entry((g, p)).or_default() += 1;
        }
    }
    let mut pairs: Vec<(String, String, usize)> = counts
        .into_iter()
        .map(|((g, p), n)| (g.to_string(), p.to_string(), n))
        .collect();
    pairs.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    pairs.truncate(top);
    pairs
}

/// Reciprocal rank of the first relevant id in `ranked` (0 when none is).
pub fn reciprocal_rank(ranked: &[String], relevant: &[String]) -> f64 {
    ranked
        .iter()
        .position(|id| relevant.contains(id))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Share of the relevant ids found in the first `k` of `ranked`.
pub fn recall_at_k(ranked: &[String], relevant: &[String], k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let found = relevant
        .iter()
        .filter(|r| ranked.iter().take(k).any(|id| id == *r))
        .count();
    found as f64 / relevant.len() as f64
}

/// nDCG@k with binary relevance: DCG of `ranked` over the DCG of a perfect ranking.
pub fn ndcg_at_k(ranked: &[String], relevant: &[String], k: usize) -> f64 {
    let gain = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, id)| relevant.contains(id))
        .map(|(i, _)| gain(i))
        .sum();
    let ideal: f64 = (0..relevant.len().min(k)).map(gain).sum();
    if ideal == 0.0 {
        0.0
    } else {
        dcg / ideal
    }
}

/// pass^k (Yao et al., tau-bench): the chance that `k` independent trials of a task all
/// succeed, estimated per task from `n` trials with `c` successes as C(c,k)/C(n,k), averaged
/// over tasks. `trials` holds `(n, c)` per task; tasks with fewer than `k` trials are skipped.
pub fn pass_hat_k(trials: &[(usize, usize)], k: usize) -> f64 {
    let choose = |n: usize, r: usize| -> f64 {
        if r > n {
            return 0.0;
        }
        (0..r).fold(1.0, |acc, i| acc * (n - i) as f64 / (r - i) as f64)
    };
    let scores: Vec<f64> = trials
        .iter()
        .filter(|(n, _)| *n >= k)
        .map(|&(n, c)| choose(c, k) / choose(n, k))
        .collect();
    if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f64>() / scores.len() as f64
    }
}

/// Mean and standard error of the mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanSe {
    pub mean: f64,
    pub se: f64,
    pub n: usize,
}

/// Mean and standard error (sample standard deviation over sqrt(n); 0 for one value).
pub fn mean_se(values: &[f64]) -> MeanSe {
    let n = values.len();
    if n == 0 {
        return MeanSe {
            mean: 0.0,
            se: 0.0,
            n,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let se = if n > 1 {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (var / n as f64).sqrt()
    } else {
        0.0
    };
    MeanSe { mean, se, n }
}

/// Standard error of a proportion `p` measured on `n` items (binomial), for single-run figures.
pub fn proportion_se(p: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        (p * (1.0 - p) / n as f64).sqrt()
    }
}

/// The `q`-quantile (0..=1) of `values` by nearest rank; 0 for no values.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn accuracy_counts_exact_matches() {
        assert_eq!(
            accuracy(&s(&["a", "b", "c", "a"]), &s(&["a", "b", "a", "b"])),
            0.5
        );
        assert_eq!(accuracy(&[], &[]), 0.0);
    }

    #[test]
    fn macro_f1_of_a_hand_computed_case() {
        // gold a a b c, predicted a b b b:
        // a: P 1/1, R 1/2, F1 2/3; b: P 1/3, R 1/1, F1 1/2; c: P 0, R 0, F1 0.
        let f1 = macro_f1(&s(&["a", "a", "b", "c"]), &s(&["a", "b", "b", "b"]));
        assert!((f1 - (2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12, "{f1}");
        let scores = per_label(&s(&["a", "a", "b", "c"]), &s(&["a", "b", "b", "b"]));
        assert!((scores["b"].precision - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores["a"].support, 2);
    }

    #[test]
    fn confusion_pairs_are_sorted_by_count() {
        let pairs = confusion_pairs(
            &s(&["a", "a", "b", "c", "c"]),
            &s(&["b", "b", "b", "a", "c"]),
            5,
        );
        assert_eq!(
            pairs,
            vec![("a".into(), "b".into(), 2), ("c".into(), "a".into(), 1)]
        );
    }

    #[test]
    fn retrieval_metrics_of_hand_computed_cases() {
        let ranked = s(&["x", "d1", "y", "d2"]);
        let relevant = s(&["d1", "d2"]);
        assert_eq!(reciprocal_rank(&ranked, &relevant), 0.5);
        assert_eq!(reciprocal_rank(&ranked, &s(&["z"])), 0.0);
        assert_eq!(recall_at_k(&ranked, &relevant, 1), 0.0);
        assert_eq!(recall_at_k(&ranked, &relevant, 2), 0.5);
        assert_eq!(recall_at_k(&ranked, &relevant, 10), 1.0);
        // DCG@4 = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3).
        let expected = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at_k(&ranked, &relevant, 10) - expected).abs() < 1e-12);
        assert_eq!(ndcg_at_k(&s(&["d1", "d2"]), &relevant, 10), 1.0);
    }

    #[test]
    fn ndcg_truncates_both_the_ranking_and_the_ideal_at_k() {
        // a x b | y c with four relevant ids, k = 3: DCG = 1 + 1/log2(4) = 1.5; the ideal
        // ranking fills all three places: 1 + 1/log2(3) + 1/log2(4).
        let ranked = s(&["a", "x", "b", "y", "c"]);
        let relevant = s(&["a", "b", "c", "d"]);
        let expected = 1.5 / (1.5 + 1.0 / 3f64.log2());
        assert!((ndcg_at_k(&ranked, &relevant, 3) - expected).abs() < 1e-12);
        assert_eq!(ndcg_at_k(&ranked, &[], 3), 0.0);
        assert_eq!(ndcg_at_k(&s(&["x", "y"]), &relevant, 3), 0.0);
    }

    #[test]
    fn pass_hat_k_of_hand_computed_cases() {
        // Task 1: 4 trials, 2 successes: pass^1 = 0.5, pass^2 = C(2,2)/C(4,2) = 1/6.
        // Task 2: 4 trials, 4 successes: always 1.
        let trials = [(4, 2), (4, 4)];
        assert!((pass_hat_k(&trials, 1) - 0.75).abs() < 1e-12);
        assert!((pass_hat_k(&trials, 2) - (1.0 / 6.0 + 1.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn mean_and_standard_error_of_a_hand_computed_case() {
        // 1, 2, 3: mean 2, sample sd 1, se 1/sqrt(3).
        let m = mean_se(&[1.0, 2.0, 3.0]);
        assert_eq!(m.mean, 2.0);
        assert!((m.se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(mean_se(&[5.0]).se, 0.0);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&values, 1.0), 100.0);
    }
}
