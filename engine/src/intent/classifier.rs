//! [`IntentClassifier`]: trained in-process from labelled examples and their embeddings,
//! predicts a label with a calibrated confidence, and says "out of scope" (label
//! [`OTHER`](super::OTHER)) when that confidence falls below the threshold, when the nearest
//! training example is too far, or when the message's energy score is too low.
//!
//! The energy score (Liu et al. 2020, "Energy-based out-of-distribution detection") is the
//! log-sum-exp of the raw logits: a message the model has seen the like of lights up some
//! class strongly, one it has not leaves every logit low. Unlike the softmax maximum it does
//! not saturate when two intents compete, which is why it separates out-of-scope messages
//! better (CLINC150 validation, see `docs/quality.md`). Raw energies depend on the number of
//! intents and examples, so the classifier standardises them against the energies of its own
//! training examples (each scored without itself among the neighbours), and the shipped floor
//! is in those standard units, which carry over from one intent set to another.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::calibrate::{fit_temperature, probabilities};
use super::features::{FeatureSpace, Features};
use super::train::{LinearModel, SplitMix, TrainSettings};
use super::{IntentExample, IntentPrediction, OTHER};
use crate::error::{Error, Result};

/// How many labels [`IntentPrediction::ranked`] lists.
const RANKED: usize = 5;

/// Everything that shapes a classifier. The defaults are the shipped configuration, chosen on
/// validation splits (see `docs/quality.md` for the figures and the commands).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassifierSettings {
    pub train: TrainSettings,
    /// Hash buckets of the lexical block (0 turns it off).
    pub buckets: u32,
    /// Weight of the lexical block beside the standardised embedding.
    pub lexical_weight: f32,
    /// Below this calibrated confidence a message is out of scope.
    pub threshold: f32,
    /// Folds of the cross-validation that fits the temperature at training time (0 or 1: keep
    /// `temperature`).
    pub calibration_folds: usize,
    /// The softmax temperature used when it is not fitted.
    pub temperature: f32,
    /// Weight of the nearest-example score fused into the logits: for each intent, the
    /// highest cosine similarity between the message and that intent's training examples
    /// (0 turns it off and stores no examples).
    #[serde(default)]
    pub knn_weight: f32,
    /// A message whose most similar training example of the predicted intent has a cosine
    /// similarity below this is out of scope, however confident the softmax is (needs
    /// `knn_weight > 0`, which keeps the examples; 0 turns the check off).
    #[serde(default)]
    pub similarity_floor: f32,
    /// A message whose standardised energy score (see the module doc) is below this is out
    /// of scope (`None` turns the check off).
    #[serde(default)]
    pub energy_floor: Option<f32>,
}

impl Default for ClassifierSettings {
    fn default() -> Self {
        Self {
            train: TrainSettings::default(),
            buckets: 1 << 15,
            lexical_weight: 6.0,
            // The out-of-scope rule chosen on the CLINC150 validation split
            // (`evals/src/suites/oos.rs::choose_rule`): similarity floor and energy floor;
            // the confidence threshold stays available for organizations that want it.
            threshold: 0.0,
            calibration_folds: 5,
            temperature: 1.0,
            knn_weight: 8.0,
            similarity_floor: 0.40,
            energy_floor: Some(-3.7),
        }
    }
}

impl ClassifierSettings {
    /// The settings of a classifier on an encoder fine-tuned on its intent set
    /// ([`super::tuned`]). Tuning draws an intent's paraphrases together, so the out-of-scope
    /// rule differs: similarity floor 0.52 and energy floor -4.0, chosen by the same procedure
    /// on the same split as the default rule (`choose_rule` on the CLINC150 validation split,
    /// `blaigent-eval oos --dataset clinc150 --tune-encoder`).
    pub fn for_tuned_encoder() -> Self {
        Self {
            similarity_floor: 0.52,
            energy_floor: Some(-4.0),
            ..Self::default()
        }
    }
}

/// A trained intent classifier. Cheap to share behind an `Arc`; `classify` is read-only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntentClassifier {
    labels: Vec<String>,
    space: FeatureSpace,
    model: LinearModel,
    temperature: f32,
    threshold: f32,
    knn_weight: f32,
    #[serde(default)]
    similarity_floor: f32,
    /// Unit embeddings of the training examples with their class, when `knn_weight > 0`.
    #[serde(default)]
    neighbours: Vec<(usize, Vec<f32>)>,
    #[serde(default)]
    energy_floor: Option<f32>,
    /// Mean and standard deviation of the training examples' energies.
    #[serde(default = "unit_scale")]
    energy_scale: (f32, f32),
}

fn unit_scale() -> (f32, f32) {
    (0.0, 1.0)
}

/// Training examples whose energies set the standardisation (an even stride over the set:
/// enough for a stable mean and spread, cheap even for 15,000 examples).
const ENERGY_SAMPLE: usize = 600;

/// Log-sum-exp of `logits`, numerically stable.
fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    max + logits.iter().map(|z| (z - max).exp()).sum::<f32>().ln()
}

/// Maps labels to dense indices in first-seen order.
fn index_labels(examples: &[IntentExample]) -> (Vec<String>, Vec<usize>) {
    let mut labels: Vec<String> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let ys = examples
        .iter()
        .map(|e| {
            *index.entry(e.label.as_str()).or_insert_with(|| {
                labels.push(e.label.clone());
                labels.len() - 1
            })
        })
        .collect();
    (labels, ys)
}

impl IntentClassifier {
    /// Trains on `examples` whose `embeddings` are given in the same order.
    pub fn train(
        examples: &[IntentExample],
        embeddings: &[Vec<f32>],
        settings: &ClassifierSettings,
    ) -> Result<Self> {
        if examples.len() != embeddings.len() {
            return Err(Error::invalid(format!(
                "{} examples but {} embeddings",
                examples.len(),
                embeddings.len()
            )));
        }
        if examples.is_empty() {
            return Err(Error::invalid(
                "an intent classifier needs at least one example",
            ));
        }
        let (labels, ys) = index_labels(examples);
        let mut classifier = Self::fit(examples, embeddings, &ys, labels.len(), settings);
        classifier.labels = labels;
        classifier.energy_scale = classifier.training_energy_scale(examples, embeddings);
        if settings.calibration_folds > 1 {
            classifier.temperature = cross_validated_temperature(
                examples,
                embeddings,
                &ys,
                classifier.labels.len(),
                settings,
            );
        }
        Ok(classifier)
    }

    fn fit(
        examples: &[IntentExample],
        embeddings: &[Vec<f32>],
        ys: &[usize],
        classes: usize,
        settings: &ClassifierSettings,
    ) -> Self {
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        let vectors: Vec<&[f32]> = embeddings.iter().map(Vec::as_slice).collect();
        let space = FeatureSpace::fit(&texts, &vectors, settings.buckets, settings.lexical_weight);
        let xs: Vec<Features> = texts
            .iter()
            .zip(&vectors)
            .map(|(t, e)| space.transform(t, e))
            .collect();
        let model = LinearModel::train(
            &xs,
            ys,
            classes,
            space.dense_dim(),
            space.buckets(),
            &settings.train,
        );
        let neighbours = if settings.knn_weight > 0.0 {
            ys.iter().copied().zip(embeddings.iter().cloned()).collect()
        } else {
            Vec::new()
        };
        Self {
            labels: Vec::new(),
            space,
            model,
            temperature: settings.temperature,
            threshold: settings.threshold,
            knn_weight: settings.knn_weight,
            similarity_floor: settings.similarity_floor,
            neighbours,
            energy_floor: settings.energy_floor,
            energy_scale: unit_scale(),
        }
    }

    /// Mean and spread of the energies of (a stride of) the training examples, each scored
    /// with itself left out of the nearest-example term so it does not match itself.
    fn training_energy_scale(
        &self,
        examples: &[IntentExample],
        embeddings: &[Vec<f32>],
    ) -> (f32, f32) {
        let stride = examples.len().div_ceil(ENERGY_SAMPLE).max(1);
        let energies: Vec<f32> = (0..examples.len())
            .step_by(stride)
            .map(|i| log_sum_exp(&self.logits_without(&examples[i].text, &embeddings[i], Some(i))))
            .collect();
        let n = energies.len().max(1) as f32;
        let mean = energies.iter().sum::<f32>() / n;
        let var = energies
            .iter()
            .map(|e| (e - mean) * (e - mean))
            .sum::<f32>()
            / n;
        // The floor keeps a set of identical examples from dividing by zero.
        (mean, var.sqrt().max(1e-3))
    }

    /// The labels this classifier can predict, in training order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The softmax temperature in use.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Replaces the softmax temperature (e.g. one fitted on a validation split).
    pub fn set_temperature(&mut self, temperature: f32) {
        self.temperature = temperature;
    }

    /// The out-of-scope threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Replaces the out-of-scope threshold.
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
    }

    /// Replaces the similarity floor (see [`ClassifierSettings::similarity_floor`]).
    pub fn set_similarity_floor(&mut self, floor: f32) {
        self.similarity_floor = floor;
    }

    /// The highest cosine similarity between `embedding` and a training example of `label`
    /// (1 when the classifier keeps no examples, so the floor never rejects).
    pub fn nearest_similarity(&self, label: &str, embedding: &[f32]) -> f32 {
        let Some(class) = self.labels.iter().position(|l| l == label) else {
            return 0.0;
        };
        if self.neighbours.is_empty() {
            return 1.0;
        }
        self.neighbours
            .iter()
            .filter(|(c, _)| *c == class)
            .map(|(_, v)| crate::embed::dot(embedding, v))
            .fold(-1.0, f32::max)
    }

    /// Replaces the energy floor (see [`ClassifierSettings::energy_floor`]).
    pub fn set_energy_floor(&mut self, floor: Option<f32>) {
        self.energy_floor = floor;
    }

    /// The standardised energy score of a message: how many standard deviations its
    /// log-sum-exp of logits lies from that of a typical training example (low: unlike
    /// anything the classifier was trained on).
    pub fn energy(&self, text: &str, embedding: &[f32]) -> f32 {
        self.standard_energy(&self.logits(text, embedding))
    }

    fn standard_energy(&self, logits: &[f32]) -> f32 {
        let (mean, std) = self.energy_scale;
        (log_sum_exp(logits) - mean) / std
    }

    /// Raw class scores, in the order of [`labels`](Self::labels).
    pub fn logits(&self, text: &str, embedding: &[f32]) -> Vec<f32> {
        self.logits_without(text, embedding, None)
    }

    /// Raw class scores with training example `skip` left out of the nearest-example term.
    fn logits_without(&self, text: &str, embedding: &[f32], skip: Option<usize>) -> Vec<f32> {
        let mut logits = self.model.logits(&self.space.transform(text, embedding));
        if self.knn_weight > 0.0 && !self.neighbours.is_empty() {
            let mut best = vec![-1.0f32; logits.len()];
            for (i, (class, vector)) in self.neighbours.iter().enumerate() {
                if skip == Some(i) {
                    continue;
                }
                let similarity = crate::embed::dot(embedding, vector);
                if let Some(b) = best.get_mut(*class) {
                    *b = b.max(similarity);
                }
            }
            for (logit, similarity) in logits.iter_mut().zip(best) {
                *logit += self.knn_weight * similarity;
            }
        }
        logits
    }

    /// Calibrated probabilities, in the order of [`labels`](Self::labels).
    pub fn probabilities(&self, text: &str, embedding: &[f32]) -> Vec<f32> {
        probabilities(&self.logits(text, embedding), self.temperature)
    }

    /// Fits the temperature on held-out labelled examples (labels unknown to the classifier
    /// are skipped) and returns it.
    pub fn calibrate(&mut self, held_out: &[IntentExample], embeddings: &[Vec<f32>]) -> f32 {
        let index: HashMap<&str, usize> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let mut logits = Vec::new();
        let mut gold = Vec::new();
        for (example, embedding) in held_out.iter().zip(embeddings) {
            if let Some(&y) = index.get(example.label.as_str()) {
                logits.push(self.logits(&example.text, embedding));
                gold.push(y);
            }
        }
        if !logits.is_empty() {
            self.temperature = fit_temperature(&logits, &gold);
        }
        self.temperature
    }

    /// Predicts the intent of one message from its text and embedding.
    pub fn classify(&self, text: &str, embedding: &[f32]) -> IntentPrediction {
        let logits = self.logits(text, embedding);
        let p = probabilities(&logits, self.temperature);
        let mut ranked: Vec<(String, f32)> =
            self.labels.iter().cloned().zip(p.iter().copied()).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(RANKED);
        let (best, confidence) = ranked
            .first()
            .cloned()
            .unwrap_or_else(|| (OTHER.to_string(), 0.0));
        let too_far = self.similarity_floor > 0.0
            && self.nearest_similarity(&best, embedding) < self.similarity_floor;
        let low_energy = self
            .energy_floor
            .is_some_and(|floor| self.standard_energy(&logits) < floor);
        let out_of_scope = confidence < self.threshold || too_far || low_energy || best == OTHER;
        IntentPrediction {
            label: if out_of_scope {
                OTHER.to_string()
            } else {
                best
            },
            confidence,
            out_of_scope,
            ranked,
        }
    }
}

/// Fits a temperature on out-of-fold logits: each fold is scored by a model trained on the
/// others, so the confidences reflect unseen messages rather than memorised ones.
fn cross_validated_temperature(
    examples: &[IntentExample],
    embeddings: &[Vec<f32>],
    ys: &[usize],
    classes: usize,
    settings: &ClassifierSettings,
) -> f32 {
    let folds = settings.calibration_folds;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    SplitMix::new(settings.train.seed ^ 0x5eed).shuffle(&mut order);
    // Stratify: deal each class's examples round-robin over the folds.
    let mut fold_of = vec![0usize; examples.len()];
    let mut next_fold = vec![0usize; classes];
    for &i in &order {
        fold_of[i] = next_fold[ys[i]] % folds;
        next_fold[ys[i]] += 1;
    }
    let mut logits = Vec::new();
    let mut gold = Vec::new();
    for fold in 0..folds {
        let (train, held): (Vec<usize>, Vec<usize>) =
            (0..examples.len()).partition(|&i| fold_of[i] != fold);
        if train.is_empty() || held.is_empty() {
            continue;
        }
        let pick_examples: Vec<IntentExample> =
            train.iter().map(|&i| examples[i].clone()).collect();
        let pick_embeddings: Vec<Vec<f32>> = train.iter().map(|&i| embeddings[i].clone()).collect();
        let pick_ys: Vec<usize> = train.iter().map(|&i| ys[i]).collect();
        let model = IntentClassifier::fit(
            &pick_examples,
            &pick_embeddings,
            &pick_ys,
            classes,
            settings,
        );
        for &i in &held {
            logits.push(model.logits(&examples[i].text, &embeddings[i]));
            gold.push(ys[i]);
        }
    }
    fit_temperature(&logits, &gold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, label: &str) -> IntentExample {
        IntentExample {
            text: text.into(),
            label: label.into(),
        }
    }

    /// Toy embeddings: one axis per topic, so the test needs no model.
    fn embed(text: &str) -> Vec<f32> {
        let mut v = vec![0.05f32; 4];
        if text.contains("refund") || text.contains("money back") {
            v[0] = 1.0;
        }
        if text.contains("order") || text.contains("parcel") {
            v[1] = 1.0;
        }
        if text.contains("hello") || text.contains("hi") {
            v[2] = 1.0;
        }
        v
    }

    fn training_set() -> Vec<IntentExample> {
        vec![
            example("i want a refund", "refund_request"),
            example("give me my money back", "refund_request"),
            example("refund please", "refund_request"),
            example("where is my order", "order_tracking"),
            example("track my parcel", "order_tracking"),
            example("has my order shipped", "order_tracking"),
            example("hello there", "greeting"),
            example("hi", "greeting"),
            example("hello", "greeting"),
        ]
    }

    fn train(settings: &ClassifierSettings) -> IntentClassifier {
        let examples = training_set();
        let embeddings: Vec<Vec<f32>> = examples.iter().map(|e| embed(&e.text)).collect();
        IntentClassifier::train(&examples, &embeddings, settings).unwrap()
    }

    #[test]
    fn a_trained_classifier_labels_unseen_messages() {
        let classifier = train(&ClassifierSettings::default());
        let text = "can i get a refund for this";
        let prediction = classifier.classify(text, &embed(text));
        assert_eq!(prediction.label, "refund_request");
        assert!(!prediction.out_of_scope);
        assert_eq!(prediction.ranked[0].0, "refund_request");
        assert!(prediction.confidence > 0.5 && prediction.confidence <= 1.0);
    }

    #[test]
    fn low_confidence_is_reported_as_other() {
        let mut classifier = train(&ClassifierSettings::default());
        classifier.set_threshold(1.01);
        let text = "where is my order";
        let prediction = classifier.classify(text, &embed(text));
        assert_eq!(prediction.label, OTHER);
        assert!(prediction.out_of_scope);
        assert_eq!(prediction.ranked[0].0, "order_tracking");
    }

    #[test]
    fn a_message_unlike_every_example_has_a_low_energy_and_is_out_of_scope() {
        let mut classifier = train(&ClassifierSettings::default());
        let (near, far) = ("refund please now", "zzz qqq");
        let near_energy = classifier.energy(near, &embed(near));
        let far_energy = classifier.energy(far, &embed(far));
        assert!(far_energy < near_energy, "{far_energy} vs {near_energy}");
        classifier.set_threshold(0.0);
        classifier.set_similarity_floor(0.0);
        classifier.set_energy_floor(Some((near_energy + far_energy) / 2.0));
        assert_eq!(
            classifier.classify(near, &embed(near)).label,
            "refund_request"
        );
        let rejected = classifier.classify(far, &embed(far));
        assert!(rejected.out_of_scope);
        assert_eq!(rejected.label, OTHER);
    }

    #[test]
    fn mismatched_embeddings_are_rejected() {
        let err = IntentClassifier::train(&training_set(), &[], &ClassifierSettings::default())
            .unwrap_err();
        assert!(err.to_string().contains("embeddings"), "{err}");
    }

    #[test]
    fn cross_validated_calibration_sets_a_temperature() {
        let settings = ClassifierSettings {
            calibration_folds: 3,
            ..ClassifierSettings::default()
        };
        let classifier = train(&settings);
        assert!(classifier.temperature() != 1.0);
        assert!(classifier.temperature() > 0.0);
    }
}
