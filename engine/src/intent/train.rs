//! A small multinomial logistic regression (softmax with L2) over [`Features`], trained with
//! mini-batch Adam. The lexical block is sparse, so each step touches only the weight rows of
//! the n-grams present in the batch ("lazy" Adam: moments and the L2 pull are applied to
//! touched rows only), which keeps a BANKING77-sized training run to seconds in a release build.
//!
//! Everything is seeded: the same examples and settings give the same weights.

use serde::{Deserialize, Serialize};

use super::features::Features;

/// Hyper-parameters of the trainer; the defaults were chosen on validation splits (CLINC150
/// validation, a held-out part of BANKING77 train), never on test splits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Passes over the data (raised automatically for tiny sets, see `min_steps`).
    pub epochs: usize,
    /// Examples per Adam step.
    pub batch_size: usize,
    /// Adam step size at the start; it decays linearly to 10% by the last step.
    pub learning_rate: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
    /// Lower bound on the number of steps, so ten examples per intent still converge.
    pub min_steps: usize,
    /// Seed of the shuffling.
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 12,
            batch_size: 32,
            learning_rate: 0.001,
            l2: 1e-4,
            min_steps: 400,
            seed: 7,
        }
    }
}

/// The learned weights: one row of `classes` values per feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearModel {
    classes: usize,
    dense_dim: usize,
    dense: Vec<f32>,
    sparse: Vec<f32>,
    bias: Vec<f32>,
}

/// A seeded SplitMix64 generator: tiny, fast and stable across crate versions.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Adam state of one block of weights.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    /// The step at which each row was last updated (for the lazy bias correction).
    steps: Vec<u32>,
}

impl Adam {
    fn new(rows: usize, classes: usize) -> Self {
        Self {
            m: vec![0.0; rows * classes],
            v: vec![0.0; rows * classes],
            steps: vec![0; rows],
        }
    }
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

impl LinearModel {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Raw scores (logits) of every class.
    pub fn logits(&self, x: &Features) -> Vec<f32> {
        let c = self.classes;
        let mut z = self.bias.clone();
        for (j, &xj) in x.dense.iter().enumerate().take(self.dense_dim) {
            let row = &self.dense[j * c..(j + 1) * c];
            z.iter_mut().zip(row).for_each(|(zk, w)| *zk += xj * w);
        }
        for &(j, xj) in &x.sparse {
            let j = j as usize;
            if let Some(row) = self.sparse.get(j * c..(j + 1) * c) {
                z.iter_mut().zip(row).for_each(|(zk, w)| *zk += xj * w);
            }
        }
        z
    }

    /// Trains on `xs` with class indices `ys` (each below `classes`).
    pub fn train(
        xs: &[Features],
        ys: &[usize],
        classes: usize,
        dense_dim: usize,
        buckets: usize,
        settings: &TrainSettings,
    ) -> Self {
        let c = classes;
        let mut model = Self {
            classes,
            dense_dim,
            dense: vec![0.0; dense_dim * c],
            sparse: vec![0.0; buckets * c],
            bias: vec![0.0; c],
        };
        if xs.is_empty() || classes == 0 {
            return model;
        }
        let batch = settings.batch_size.max(1);
        let batches_per_epoch = xs.len().div_ceil(batch);
        let epochs = settings
            .epochs
            .max(settings.min_steps.div_ceil(batches_per_epoch))
            .max(1);
        let total_steps = (epochs * batches_per_epoch) as f32;

        let mut dense_adam = Adam::new(dense_dim, c);
        let mut sparse_adam = Adam::new(buckets, c);
        let mut bias_adam = Adam::new(1, c);
        let mut grad_dense = vec![0.0f32; dense_dim * c];
        let mut grad_sparse = vec![0.0f32; buckets * c];
        let mut touched: Vec<usize> = Vec::new();
        let mut is_touched = vec![false; buckets];
        let mut grad_bias = vec![0.0f32; c];

        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = SplitMix::new(settings.seed);
        let mut step: u32 = 0;
        for _ in 0..epochs {
            rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                step += 1;
                let progress = step as f32 / total_steps;
                let lr = settings.learning_rate * (1.0 - 0.9 * progress);
                let scale = 1.0 / chunk.len() as f32;
                for &i in chunk {
                    let x = &xs[i];
                    let mut p = model.logits(x);
                    softmax_in_place(&mut p);
                    p[ys[i]] -= 1.0;
                    p.iter_mut().for_each(|g| *g *= scale);
                    for (j, &xj) in x.dense.iter().enumerate().take(dense_dim) {
                        let row = &mut grad_dense[j * c..(j + 1) * c];
                        row.iter_mut().zip(&p).for_each(|(g, pk)| *g += xj * pk);
                    }
                    for &(j, xj) in &x.sparse {
                        let j = j as usize;
                        if j >= buckets {
                            continue;
                        }
                        if !is_touched[j] {
                            is_touched[j] = true;
                            touched.push(j);
                        }
                        let row = &mut grad_sparse[j * c..(j + 1) * c];
                        row.iter_mut().zip(&p).for_each(|(g, pk)| *g += xj * pk);
                    }
                    grad_bias.iter_mut().zip(&p).for_each(|(g, pk)| *g += pk);
                }
                for j in 0..dense_dim {
                    adam_row(
                        &mut model.dense,
                        &mut grad_dense,
                        &mut dense_adam,
                        j,
                        c,
                        step,
                        lr,
                        settings.l2,
                    );
                }
                for &j in &touched {
                    adam_row(
                        &mut model.sparse,
                        &mut grad_sparse,
                        &mut sparse_adam,
                        j,
                        c,
                        step,
                        lr,
                        settings.l2,
                    );
                    is_touched[j] = false;
                }
                touched.clear();
                adam_row(
                    &mut model.bias,
                    &mut grad_bias,
                    &mut bias_adam,
                    0,
                    c,
                    step,
                    lr,
                    0.0,
                );
            }
        }
        model
    }
}

/// One Adam update of row `j`, with the L2 pull added to the gradient; clears the gradient row.
#[allow(clippy::too_many_arguments)]
fn adam_row(
    weights: &mut [f32],
    grad: &mut [f32],
    adam: &mut Adam,
    j: usize,
    c: usize,
    step: u32,
    lr: f32,
    l2: f32,
) {
    adam.steps[j] = step;
    let correction1 = 1.0 - BETA1.powi(step as i32);
    let correction2 = 1.0 - BETA2.powi(step as i32);
    let range = j * c..(j + 1) * c;
    let w = &mut weights[range.clone()];
    let g = &mut grad[range.clone()];
    let m = &mut adam.m[range.clone()];
    let v = &mut adam.v[range];
    for k in 0..c {
        let gk = g[k] + l2 * w[k];
        m[k] = BETA1 * m[k] + (1.0 - BETA1) * gk;
        v[k] = BETA2 * v[k] + (1.0 - BETA2) * gk * gk;
        let m_hat = m[k] / correction1;
        let v_hat = v[k] / correction2;
        w[k] -= lr * m_hat / (v_hat.sqrt() + EPS);
        g[k] = 0.0;
    }
}

/// Softmax of `z` in place, numerically stable.
pub fn softmax_in_place(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    if sum > 0.0 {
        z.iter_mut().for_each(|v| *v /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f32, y: f32) -> Features {
        Features {
            dense: vec![x, y],
            sparse: Vec::new(),
        }
    }

    #[test]
    fn separable_classes_are_learned() {
        let xs = vec![
            point(1.0, 0.1),
            point(0.9, -0.2),
            point(-1.0, 0.0),
            point(-0.8, 0.3),
        ];
        let ys = vec![0, 0, 1, 1];
        let model = LinearModel::train(&xs, &ys, 2, 2, 0, &TrainSettings::default());
        let z = model.logits(&point(0.7, 0.0));
        assert!(z[0] > z[1]);
        let z = model.logits(&point(-0.7, 0.0));
        assert!(z[1] > z[0]);
    }

    #[test]
    fn sparse_features_alone_can_separate_classes() {
        let word = |id: u32| Features {
            dense: vec![0.0],
            sparse: vec![(id, 1.0)],
        };
        let xs = vec![word(3), word(5)];
        let model = LinearModel::train(&xs, &[0, 1], 2, 1, 8, &TrainSettings::default());
        assert!(model.logits(&word(3))[0] > model.logits(&word(3))[1]);
        assert!(model.logits(&word(5))[1] > model.logits(&word(5))[0]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut z = vec![1.0, 2.0, 3.0];
        softmax_in_place(&mut z);
        assert!((z.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(z[2] > z[1] && z[1] > z[0]);
    }

    #[test]
    fn the_same_seed_shuffles_the_same_way() {
        let mut a: Vec<u32> = (0..20).collect();
        let mut b = a.clone();
        SplitMix::new(1).shuffle(&mut a);
        SplitMix::new(1).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..20).collect::<Vec<_>>());
    }
}
