//! [`IntentService`]: one trained classifier per organization, built on first use from the
//! organization's effective intent set (the shipped defaults with its changes applied) and
//! rebuilt when those change, without a restart.
//!
//! Changes are noticed through a cheap version query (row count and latest update of the
//! organization's `intents` rows) on every call, so an edit made through another replica is
//! picked up too. Embeddings of the default examples are computed once per process and reused
//! by every organization's classifier; only an organization's own examples are embedded when
//! it customises.
//!
//! With an [`IntentTuner`] (the server's default), each set also gets an encoder fine-tuned on
//! its examples in the background; once that is ready, messages of the set are embedded by the
//! tuned encoder and classified by the classifier trained on it. Until then, and when tuning
//! is off, the frozen classifier answers.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::defaults::default_examples;
use super::label_examples::with_label_examples;
use super::tuner::{IntentTuner, TunedIntentModel, TuningStatus};
use super::{ClassifierSettings, IntentClassifier, IntentExample, IntentPrediction};
use crate::embed::{embed_blocking, embed_one, Embedder};
use crate::error::{Error, Result};
use crate::ids::OrganizationId;
use crate::store::intents::{IntentRow, IntentsVersion};
use crate::store::Store;

/// The default examples' vectors, with the name of the model that computed them.
static DEFAULT_VECTORS: OnceCell<(String, ExampleVectors)> = OnceCell::const_new();

/// Example text to its embedding.
type ExampleVectors = Arc<HashMap<String, Vec<f32>>>;

/// A default classifier, trained once however many callers ask for it at the same time.
type TrainedOnce = Arc<OnceCell<Arc<IntentSet>>>;

/// An intent set's examples (with the intent-name examples) and its frozen classifier.
#[derive(Debug)]
pub struct IntentSet {
    pub classifier: Arc<IntentClassifier>,
    pub examples: Arc<Vec<IntentExample>>,
    /// The tuner's fingerprint of the set (empty without a tuner).
    pub key: String,
}

/// The tuner's name for the shipped default set's owner.
const DEFAULT_OWNER: &str = "defaults";

/// Default classifiers of this process, by model and settings.
static DEFAULT_CLASSIFIERS: LazyLock<Mutex<HashMap<String, TrainedOnce>>> =
    LazyLock::new(Default::default);

fn default_classifiers() -> Result<std::sync::MutexGuard<'static, HashMap<String, TrainedOnce>>> {
    DEFAULT_CLASSIFIERS
        .lock()
        .map_err(|_| Error::internal("the default intent cache lock was poisoned"))
}

/// Whether a default classifier has been trained in this process (the server's warm-up is
/// done): benchmarks wait for it so they do not measure the training.
pub fn default_classifier_ready() -> bool {
    default_classifiers()
        .map(|map| map.values().any(|cell| cell.initialized()))
        .unwrap_or(false)
}

/// Where an intent of the effective set comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentSource {
    /// Shipped with Blaigent, unchanged.
    Default,
    /// A default intent whose examples the organization replaced.
    Replaced,
    /// Added by the organization.
    Custom,
}

/// One intent of an organization's effective set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentDefinition {
    pub label: String,
    pub description: String,
    pub examples: Vec<String>,
    pub source: IntentSource,
}

/// Applies an organization's rows to the default set: disabled rows remove a default intent,
/// other rows replace a default intent's examples or add a new intent. Defaults keep their
/// shipped order; custom intents follow in label order.
pub fn effective_intents(rows: &[IntentRow]) -> Vec<IntentDefinition> {
    let by_label: HashMap<&str, &IntentRow> = rows.iter().map(|r| (r.label.as_str(), r)).collect();
    let mut out: Vec<IntentDefinition> = Vec::new();
    for example in default_examples() {
        if let Some(existing) = out.iter_mut().find(|d| d.label == example.label) {
            if existing.source == IntentSource::Default {
                existing.examples.push(example.text.clone());
            }
            continue;
        }
        match by_label.get(example.label.as_str()) {
            Some(row) if row.disabled => {
                // Keep a placeholder so later default lines of this label are skipped too.
                out.push(IntentDefinition {
                    label: example.label.clone(),
                    description: String::new(),
                    examples: Vec::new(),
                    source: IntentSource::Replaced,
                });
            }
            Some(row) => out.push(IntentDefinition {
                label: row.label.clone(),
                description: row.description.clone(),
                examples: row.examples.clone(),
                source: IntentSource::Replaced,
            }),
            None => out.push(IntentDefinition {
                label: example.label.clone(),
                description: String::new(),
                examples: vec![example.text.clone()],
                source: IntentSource::Default,
            }),
        }
    }
    out.retain(|d| !d.examples.is_empty());
    for row in rows {
        if !row.disabled && !out.iter().any(|d| d.label == row.label) {
            out.push(IntentDefinition {
                label: row.label.clone(),
                description: row.description.clone(),
                examples: row.examples.clone(),
                source: IntentSource::Custom,
            });
        }
    }
    out
}

/// Caches one classifier per organization and classifies messages with it.
pub struct IntentService {
    store: Store,
    embedder: Arc<dyn Embedder>,
    settings: ClassifierSettings,
    tuner: Option<Arc<IntentTuner>>,
    organizations: Mutex<HashMap<OrganizationId, (IntentsVersion, Arc<IntentSet>)>>,
}

impl IntentService {
    /// A service with the shipped classifier settings.
    pub fn new(store: Store, embedder: Arc<dyn Embedder>) -> Self {
        Self::with_settings(store, embedder, ClassifierSettings::default())
    }

    pub fn with_settings(
        store: Store,
        embedder: Arc<dyn Embedder>,
        settings: ClassifierSettings,
    ) -> Self {
        Self {
            store,
            embedder,
            settings,
            tuner: None,
            organizations: Mutex::new(HashMap::new()),
        }
    }

    /// Fine-tunes the encoder per intent set in the background with `tuner`.
    pub fn with_tuner(mut self, tuner: Arc<IntentTuner>) -> Self {
        self.tuner = Some(tuner);
        self
    }

    /// Embeds the default examples and trains the default classifier now (a few seconds),
    /// so the first message does not wait for it; with a tuner, queues the default set's
    /// tuning (or the loading of its saved tuned model).
    pub async fn warm_up(&self) -> Result<()> {
        let set = self.default_set().await?;
        self.tuned(DEFAULT_OWNER, &set).map(|_| ())
    }

    async fn default_vectors(&self) -> Result<Arc<HashMap<String, Vec<f32>>>> {
        // The default examples and the model are the same for every service in the process
        // (test binaries build many), so their vectors are computed once per process.
        DEFAULT_VECTORS
            .get_or_try_init(|| async {
                let texts: Vec<String> = with_label_examples(default_examples())
                    .into_iter()
                    .map(|e| e.text)
                    .collect();
                let vectors = embed_blocking(self.embedder.clone(), texts.clone()).await?;
                Ok::<_, Error>((
                    self.embedder.model_name().to_owned(),
                    Arc::new(texts.into_iter().zip(vectors).collect()),
                ))
            })
            .await
            .and_then(|(model, vectors)| {
                if model == self.embedder.model_name() {
                    Ok(vectors.clone())
                } else {
                    Err(Error::internal(
                        "the default intent vectors were computed with another embedding model",
                    ))
                }
            })
    }

    async fn default_set(&self) -> Result<Arc<IntentSet>> {
        // Keyed by the settings and the tuner's: services built otherwise train their own.
        let key = format!(
            "{}|{:?}|{}",
            self.embedder.model_name(),
            self.settings,
            self.tuner
                .as_ref()
                .map(|t| t.identity())
                .unwrap_or_default()
        );
        let cell = default_classifiers()?.entry(key).or_default().clone();
        // The server's warm-up and the first turns may ask at once: one of them trains, the
        // others wait for its result (a failure lets the next caller try again).
        let trained = cell
            .get_or_try_init(|| async {
                Ok::<_, Error>(Arc::new(self.train(&effective_intents(&[])).await?))
            })
            .await?;
        Ok(trained.clone())
    }

    /// Embeds what is not cached and trains on the blocking pool.
    async fn train(&self, intents: &[IntentDefinition]) -> Result<IntentSet> {
        let known = self.default_vectors().await?;
        let examples: Vec<IntentExample> = intents
            .iter()
            .flat_map(|d| {
                d.examples
                    .iter()
                    .map(|t| IntentExample::new(t.clone(), d.label.clone()))
            })
            .collect();
        let examples = with_label_examples(&examples);
        let missing: Vec<String> = examples
            .iter()
            .filter(|e| !known.contains_key(&e.text))
            .map(|e| e.text.clone())
            .collect();
        let fresh: HashMap<String, Vec<f32>> = if missing.is_empty() {
            HashMap::new()
        } else {
            let vectors = embed_blocking(self.embedder.clone(), missing.clone()).await?;
            missing.into_iter().zip(vectors).collect()
        };
        let embeddings: Vec<Vec<f32>> = examples
            .iter()
            .map(|e| {
                known
                    .get(&e.text)
                    .or_else(|| fresh.get(&e.text))
                    .cloned()
                    .ok_or_else(|| Error::internal("an intent example has no embedding"))
            })
            .collect::<Result<_>>()?;
        let settings = self.settings;
        let examples = Arc::new(examples);
        let for_training = examples.clone();
        let classifier = tokio::task::spawn_blocking(move || {
            IntentClassifier::train(&for_training, &embeddings, &settings)
        })
        .await
        .map_err(|e| Error::internal("the intent training task failed").with_source(e))??;
        let key = self
            .tuner
            .as_ref()
            .map(|t| t.fingerprint(&examples))
            .unwrap_or_default();
        Ok(IntentSet {
            classifier: Arc::new(classifier),
            examples,
            key,
        })
    }

    /// The organization's frozen classifier, trained or retrained when its intents changed.
    pub async fn classifier_for(&self, org: &OrganizationId) -> Result<Arc<IntentClassifier>> {
        Ok(self.set_for(org).await?.0.classifier.clone())
    }

    /// The organization's intent set and the tuner's owner name for it.
    #[tracing::instrument(skip_all, fields(org = %org))]
    async fn set_for(&self, org: &OrganizationId) -> Result<(Arc<IntentSet>, String)> {
        let version = self.store.intents_version(org).await?;
        if version.rows == 0 {
            return Ok((self.default_set().await?, DEFAULT_OWNER.to_owned()));
        }
        let owner = org.to_string();
        if let Some((cached_version, set)) = self.cached(org)? {
            if cached_version == version {
                return Ok((set, owner));
            }
        }
        let rows = self.store.intent_rows(org).await?;
        let intents = effective_intents(&rows);
        if intents.is_empty() {
            return Err(Error::unprocessable(
                "the organization has no intents left; reset them to the defaults",
            ));
        }
        let set = Arc::new(self.train(&intents).await?);
        tracing::info!(
            intents = intents.len(),
            "trained the organization's intent classifier"
        );
        self.organizations
            .lock()
            .map_err(|_| Error::internal("the intent cache lock was poisoned"))?
            .insert(org.clone(), (version, set.clone()));
        Ok((set, owner))
    }

    /// The set's tuned model when the tuner has it ready (queues the set otherwise).
    fn tuned(&self, owner: &str, set: &IntentSet) -> Result<Option<Arc<TunedIntentModel>>> {
        match &self.tuner {
            Some(tuner) => tuner.model(owner, &set.key, &set.examples),
            None => Ok(None),
        }
    }

    fn cached(&self, org: &OrganizationId) -> Result<Option<(IntentsVersion, Arc<IntentSet>)>> {
        Ok(self
            .organizations
            .lock()
            .map_err(|_| Error::internal("the intent cache lock was poisoned"))?
            .get(org)
            .cloned())
    }

    /// Drops the organization's cached classifier (the next call retrains).
    pub fn invalidate(&self, org: &OrganizationId) {
        if let Ok(mut cache) = self.organizations.lock() {
            cache.remove(org);
        }
    }

    /// Embeds and classifies a message: with the set's tuned encoder and classifier when they
    /// are ready, else with the frozen ones.
    #[tracing::instrument(skip_all, fields(org = %org, tuned = tracing::field::Empty))]
    pub async fn classify(&self, org: &OrganizationId, text: &str) -> Result<IntentPrediction> {
        let (set, owner) = self.set_for(org).await?;
        let (embedder, classifier): (Arc<dyn Embedder>, Arc<IntentClassifier>) =
            match self.tuned(&owner, &set)? {
                Some(model) => (
                    model.embedder.clone() as Arc<dyn Embedder>,
                    model.classifier.clone(),
                ),
                None => (self.embedder.clone(), set.classifier.clone()),
            };
        tracing::Span::current().record("tuned", !Arc::ptr_eq(&classifier, &set.classifier));
        let embedding = embed_one(embedder, text.to_string()).await?;
        Ok(classifier.classify(text, &embedding))
    }

    /// Where the organization's set stands with the tuner (queues it when it is not yet).
    pub async fn tuning_status(&self, org: &OrganizationId) -> Result<TuningStatus> {
        let Some(tuner) = &self.tuner else {
            return Ok(TuningStatus::Off);
        };
        let (set, owner) = self.set_for(org).await?;
        self.tuned(&owner, &set)?;
        tuner.status(&set.key)
    }

    /// The organization's effective intent set (for the dashboard).
    pub async fn list(&self, org: &OrganizationId) -> Result<Vec<IntentDefinition>> {
        Ok(effective_intents(&self.store.intent_rows(org).await?))
    }
}

impl std::fmt::Debug for IntentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl crate::agent::IntentDetector for IntentService {
    async fn detect(&self, org: &OrganizationId, text: &str) -> Result<IntentPrediction> {
        self.classify(org, text).await
    }

    async fn tuning_status(&self, org: &OrganizationId) -> Result<TuningStatus> {
        IntentService::tuning_status(self, org).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, examples: &[&str], disabled: bool) -> IntentRow {
        IntentRow {
            label: label.into(),
            description: String::new(),
            examples: examples.iter().map(|e| e.to_string()).collect(),
            disabled,
            updated_at: 1,
        }
    }

    #[test]
    fn without_rows_the_effective_set_is_the_default_set() {
        let intents = effective_intents(&[]);
        assert_eq!(
            intents.len(),
            super::super::defaults::default_labels().len()
        );
        assert!(intents.iter().all(|d| d.source == IntentSource::Default));
        let total: usize = intents.iter().map(|d| d.examples.len()).sum();
        assert_eq!(total, default_examples().len());
    }

    #[test]
    fn rows_replace_remove_and_add_intents() {
        let intents = effective_intents(&[
            row("booking", &["reserve a court", "book a lesson"], false),
            row("newsletter", &[], true),
            row("loyalty_points", &["how many points do I have"], false),
        ]);
        let booking = intents.iter().find(|d| d.label == "booking").unwrap();
        assert_eq!(booking.examples, ["reserve a court", "book a lesson"]);
        assert_eq!(booking.source, IntentSource::Replaced);
        assert!(!intents.iter().any(|d| d.label == "newsletter"));
        assert_eq!(intents.last().unwrap().label, "loyalty_points");
        assert_eq!(intents.last().unwrap().source, IntentSource::Custom);
    }
}
