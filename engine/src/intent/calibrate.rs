//! Confidence calibration. A softmax over logits is over- or under-confident depending on the
//! data and the regularisation; temperature scaling (Guo et al. 2017) divides the logits by one
//! scalar `T`, fitted on held-out examples by minimising their negative log-likelihood, which
//! keeps the ranking intact and makes "0.8" mean "right about 80% of the time".
//!
//! [`expected_calibration_error`] measures how far that promise holds (lower is better).

use super::train::softmax_in_place;

/// Softmax of `logits / temperature`.
pub fn probabilities(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = temperature.max(1e-3);
    let mut p: Vec<f32> = logits.iter().map(|z| z / t).collect();
    softmax_in_place(&mut p);
    p
}

fn mean_nll(logits: &[Vec<f32>], gold: &[usize], temperature: f32) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(gold)
        .map(|(z, &y)| -f64::from(probabilities(z, temperature)[y].max(1e-12)).ln())
        .sum();
    total / logits.len().max(1) as f64
}

/// The temperature in `[0.05, 20]` that minimises the negative log-likelihood of `gold` under
/// `logits` (golden-section search on `ln T`; the NLL is unimodal in `T`). Returns 1 when there
/// is nothing to fit on.
pub fn fit_temperature(logits: &[Vec<f32>], gold: &[usize]) -> f32 {
    if logits.is_empty() {
        return 1.0;
    }
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (0.05f64.ln(), 20f64.ln());
    let nll = |log_t: f64| mean_nll(logits, gold, log_t.exp() as f32);
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (nll(a), nll(b));
    for _ in 0..40 {
        if fa < fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = nll(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + ratio * (hi - lo);
            fb = nll(b);
        }
    }
    (((lo + hi) / 2.0).exp()) as f32
}

/// Expected calibration error over `bins` equal-width confidence bins: the weighted mean gap
/// between confidence and accuracy. `predictions` are `(confidence, correct)`.
pub fn expected_calibration_error(predictions: &[(f32, bool)], bins: usize) -> f64 {
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut confidence = vec![0f64; bins];
    let mut correct = vec![0f64; bins];
    for &(p, ok) in predictions {
        let bin = ((p.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        count[bin] += 1;
        confidence[bin] += f64::from(p);
        correct[bin] += if ok { 1.0 } else { 0.0 };
    }
    let n = predictions.len().max(1) as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| (confidence[b] - correct[b]).abs() / n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overconfident_logits_get_a_temperature_above_one() {
        // Always very sure, right only 3 times in 4: the fitted temperature must soften.
        let logits = vec![vec![10.0, 0.0]; 4];
        let gold = vec![0, 0, 0, 1];
        let t = fit_temperature(&logits, &gold);
        assert!(t > 1.5, "{t}");
        let p = probabilities(&logits[0], t)[0];
        assert!((p - 0.75).abs() < 0.02, "{p}");
    }

    #[test]
    fn ece_of_a_hand_computed_case() {
        // Bin [0.9,1.0): confidences 0.9 and 0.95, one right: |1.85 - 1| / 4 = 0.2125.
        // Bin [0.6,0.7): confidences 0.6 and 0.6, both right: |1.2 - 2| / 4 = 0.2.
        let predictions = [(0.9, true), (0.95, false), (0.6, true), (0.6, true)];
        let ece = expected_calibration_error(&predictions, 10);
        assert!((ece - 0.4125).abs() < 1e-6, "{ece}");
    }
}
