//! [`IntentTuner`]: the server's background fine-tuning of the encoder, one intent set at a
//! time ([`super::tuned::train_tuned`]).
//!
//! A message is classified by the frozen classifier until its intent set's tuned model is
//! ready; the set's first use queues it. Sets are told apart by a fingerprint of their
//! examples and the tuning settings, so every organization on the shipped defaults shares one
//! tuned model. One set is tuned at a time, on threads at idle scheduling priority
//! (`SCHED_IDLE`): tuning only takes processor time the server is not using, and takes
//! minutes (BANKING77's 770 ten-shot examples: about 14 minutes on two idle cores).
//!
//! A tuned model is saved as `<dir>/<fingerprint>.onnx` (the tuned copy of `model.onnx`, 23 MB)
//! and after a restart is loaded back in seconds: the classifier is retrained on the saved
//! encoder's embeddings, which is deterministic. At most [`TunerSettings::max_loaded`] tuned
//! models are kept in memory (each an ONNX session of about 120 MB; the least recently used is
//! dropped and loaded again from its file when next needed) and [`TunerSettings::max_saved`]
//! files on disk (the oldest are deleted).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::tuned::{serve_tuned, train_tuned, TuningConfig};
use super::{ClassifierSettings, IntentClassifier, IntentExample};
use crate::embed::local::LocalEmbedder;
use crate::encoder::tune::TuningSettings;
use crate::error::{Error, Result};
use crate::store::now_ms;

/// How the server tunes (`BLAIGENT_INTENT_TUNING*`).
#[derive(Debug, Clone)]
pub struct TunerSettings {
    /// Where tuned models are saved; `None` keeps them in memory only.
    pub dir: Option<PathBuf>,
    /// Tuned models kept in memory.
    pub max_loaded: usize,
    /// Tuned model files kept on disk.
    pub max_saved: usize,
    /// Larger intent sets keep the frozen classifier (their tuning would take too long).
    pub max_examples: usize,
    /// Tune at idle scheduling priority (the server); tests that wait for a tuning beside
    /// other busy tests turn it off.
    pub idle_priority: bool,
    pub tuning: TuningSettings,
}

impl Default for TunerSettings {
    fn default() -> Self {
        Self {
            dir: None,
            max_loaded: 4,
            max_saved: 16,
            max_examples: 20_000,
            idle_priority: true,
            tuning: TuningSettings::default(),
        }
    }
}

impl TunerSettings {
    /// Reads `BLAIGENT_INTENT_TUNING` (`on`, the default, or `off`),
    /// `BLAIGENT_INTENT_TUNING_ROUNDS` (passes over the pairs, 1-20, default 5),
    /// `BLAIGENT_INTENT_TUNING_MAX_PAIRS` (pairs in all, 32-100000, default 8000) and
    /// `BLAIGENT_INTENT_TUNED_MODELS` (tuned models kept in memory, 1-64, default 4) through
    /// `env`. `None` when tuning is off. [`Self::dir`] is left for the server to set
    /// (`<data_dir>/intent-models`).
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Option<Self>, String> {
        let switch = env("BLAIGENT_INTENT_TUNING").unwrap_or_else(|| "on".into());
        match switch.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => {}
            "off" | "false" | "0" => return Ok(None),
            other => {
                return Err(format!(
                    "BLAIGENT_INTENT_TUNING must be on or off (got '{other}')"
                ))
            }
        }
        let mut settings = Self::default();
        let number = |name: &str, range: std::ops::RangeInclusive<usize>| {
            env(name)
                .map(|raw| {
                    raw.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| range.contains(n))
                        .ok_or_else(|| {
                            format!(
                                "{name} must be a whole number from {} to {} (got '{raw}')",
                                range.start(),
                                range.end()
                            )
                        })
                })
                .transpose()
        };
        if let Some(rounds) = number("BLAIGENT_INTENT_TUNING_ROUNDS", 1..=20)? {
            settings.tuning.rounds = rounds;
        }
        if let Some(pairs) = number("BLAIGENT_INTENT_TUNING_MAX_PAIRS", 32..=100_000)? {
            settings.tuning.max_pairs = pairs;
        }
        if let Some(loaded) = number("BLAIGENT_INTENT_TUNED_MODELS", 1..=64)? {
            settings.max_loaded = loaded;
        }
        Ok(Some(settings))
    }
}

impl TunerSettings {
    /// Two steps of tuning at normal priority, for tests and benchmarks that look at the
    /// plumbing and the speed of a tuned model, not at its accuracy (normal priority, so a
    /// busy test machine does not starve it).
    pub fn short_schedule() -> Self {
        Self {
            idle_priority: false,
            tuning: TuningSettings {
                rounds: 1,
                max_pairs: 64,
                ..TuningSettings::default()
            },
            ..Self::default()
        }
    }
}

/// Where an intent set's tuning stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TuningStatus {
    /// Tuning is switched off (`BLAIGENT_INTENT_TUNING=off`).
    Off,
    /// Waiting for the tuner (the frozen classifier answers meanwhile).
    Queued,
    /// Being tuned (or loaded from its saved file) since `started_at_ms`.
    Tuning { started_at_ms: i64 },
    /// Tuned messages are classified with the tuned model.
    Ready {
        finished_at_ms: i64,
        /// Time spent tuning, or loading a saved model.
        seconds: f64,
        /// `tuned` or `loaded` (from the file a previous run saved).
        origin: &'static str,
    },
    /// Tuning failed; the frozen classifier answers.
    Failed { detail: String },
    /// The set has more examples than the tuner takes.
    TooLarge { examples: usize, limit: usize },
}

/// A tuned encoder served by ONNX Runtime and the classifier trained on its embeddings.
pub struct TunedIntentModel {
    pub embedder: Arc<LocalEmbedder>,
    pub classifier: Arc<IntentClassifier>,
}

impl std::fmt::Debug for TunedIntentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunedIntentModel").finish_non_exhaustive()
    }
}

/// One intent set known to the tuner.
struct Entry {
    status: TuningStatus,
    model: Option<Arc<TunedIntentModel>>,
    last_used: u64,
}

/// A set waiting to be tuned.
struct Job {
    owner: String,
    key: String,
    examples: Arc<Vec<IntentExample>>,
}

#[derive(Default)]
struct State {
    sets: HashMap<String, Entry>,
    queue: VecDeque<Job>,
    clock: u64,
    worker_running: bool,
}

/// Tunes intent sets in the background and hands out the tuned models.
pub struct IntentTuner {
    config: TuningConfig,
    classifier: ClassifierSettings,
    settings: TunerSettings,
    /// SHA-256 of the installed `model.onnx`: saved models of another model are not reused.
    model_digest: String,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for IntentTuner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentTuner")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Identifies an intent set and how it is tuned: hex SHA-256 of the model's digest, the tuning
/// settings and the examples in order.
pub fn fingerprint(model: &str, examples: &[IntentExample], tuning: &TuningSettings) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{model}\n{tuning:?}\n").as_bytes());
    for example in examples {
        hash.update(example.label.as_bytes());
        hash.update(b"\t");
        hash.update(example.text.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

impl IntentTuner {
    /// A tuner over the installed model with the given classifier settings.
    pub fn new(settings: TunerSettings, classifier: ClassifierSettings) -> Self {
        let config = TuningConfig {
            settings: settings.tuning,
            ..TuningConfig::installed()
        };
        // A missing file fails the tuning itself, with the message that says how to fix it.
        let model_digest = std::fs::read(config.paths.model_dir.join("model.onnx"))
            .map(|bytes| hex::encode(Sha256::digest(&bytes)))
            .unwrap_or_default();
        Self {
            config,
            classifier,
            settings,
            model_digest,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// What tells this tuner's fingerprints apart from another tuner's (model and settings).
    pub fn identity(&self) -> String {
        format!("{}|{:?}", self.model_digest, self.settings.tuning)
    }

    /// The fingerprint of `examples` under this tuner's model and settings.
    pub fn fingerprint(&self, examples: &[IntentExample]) -> String {
        fingerprint(&self.model_digest, examples, &self.settings.tuning)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        lock(&self.state)
    }

    /// The tuned model of the set `key` when it is ready; otherwise queues the set (once) and
    /// returns `None`, and the caller uses the frozen classifier. `owner` names whose set it
    /// is (an organization, or the defaults): a set still waiting in the queue is dropped when
    /// its owner's next set is queued, so a burst of edits tunes only the last one.
    pub fn model(
        &self,
        owner: &str,
        key: &str,
        examples: &Arc<Vec<IntentExample>>,
    ) -> Result<Option<Arc<TunedIntentModel>>> {
        let mut state = self.lock()?;
        state.clock += 1;
        let now = state.clock;
        if let Some(entry) = state.sets.get_mut(key) {
            entry.last_used = now;
            return Ok(entry.model.clone());
        }
        let status = if examples.len() > self.settings.max_examples {
            TuningStatus::TooLarge {
                examples: examples.len(),
                limit: self.settings.max_examples,
            }
        } else {
            let superseded: Vec<String> = state
                .queue
                .iter()
                .filter(|job| job.owner == owner)
                .map(|job| job.key.clone())
                .collect();
            state.queue.retain(|job| job.owner != owner);
            for old in superseded {
                state.sets.remove(&old);
            }
            state.queue.push_back(Job {
                owner: owner.to_owned(),
                key: key.to_owned(),
                examples: examples.clone(),
            });
            TuningStatus::Queued
        };
        tracing::info!(set = %short(key), examples = examples.len(), ?status, "intent set seen by the tuner");
        state.sets.insert(
            key.to_owned(),
            Entry {
                status,
                model: None,
                last_used: now,
            },
        );
        if !state.queue.is_empty() && !state.worker_running {
            state.worker_running = true;
            drop(state);
            self.spawn_worker()?;
        }
        Ok(None)
    }

    /// Where the set `key` stands (`Queued` when the tuner has not seen it yet: it will be
    /// queued by its first message).
    pub fn status(&self, key: &str) -> Result<TuningStatus> {
        Ok(self
            .lock()?
            .sets
            .get(key)
            .map(|e| e.status.clone())
            .unwrap_or(TuningStatus::Queued))
    }

    fn spawn_worker(&self) -> Result<()> {
        let worker = Worker {
            config: self.config.clone(),
            classifier: self.classifier,
            settings: self.settings.clone(),
            state: self.state.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("intent-tuner".into())
            .spawn(move || worker.run());
        if let Err(err) = spawned {
            lock(&self.state)?.worker_running = false;
            return Err(Error::internal("could not start the intent tuner").with_source(err));
        }
        Ok(())
    }
}

fn lock(state: &Mutex<State>) -> Result<MutexGuard<'_, State>> {
    state
        .lock()
        .map_err(|_| Error::internal("the intent tuner lock was poisoned"))
}

/// The first characters of a fingerprint, for logs.
fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

/// The background thread: takes queued sets one at a time until the queue is empty.
struct Worker {
    config: TuningConfig,
    classifier: ClassifierSettings,
    settings: TunerSettings,
    state: Arc<Mutex<State>>,
}

impl Worker {
    fn run(self) {
        let idle = self.settings.idle_priority;
        if idle {
            lower_priority();
        }
        let pool = match rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("intent-tuner-{i}"))
            .start_handler(move |_| {
                if idle {
                    lower_priority();
                }
            })
            .build()
        {
            Ok(pool) => pool,
            Err(err) => {
                self.fail_all(&format!("could not start the tuning threads: {err}"));
                return;
            }
        };
        loop {
            let job = match lock(&self.state) {
                Ok(mut state) => match state.queue.pop_front() {
                    Some(job) => {
                        if let Some(entry) = state.sets.get_mut(&job.key) {
                            entry.status = TuningStatus::Tuning {
                                started_at_ms: now_ms(),
                            };
                        }
                        job
                    }
                    None => {
                        state.worker_running = false;
                        return;
                    }
                },
                Err(_) => return,
            };
            let started = Instant::now();
            // The candle kernels parallelise on the current rayon pool: this one's threads
            // run at idle priority.
            // A panic inside the numeric code fails this set, not the tuner.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.install(|| self.build(&job.key, &job.examples))
            }))
            .unwrap_or_else(|_| Err(Error::internal("tuning the intent set panicked")));
            self.finish(&job.key, outcome, started.elapsed().as_secs_f64());
        }
    }

    /// Loads the set's saved model, or tunes it and saves it.
    fn build(&self, key: &str, examples: &[IntentExample]) -> Result<(TunedIntentModel, bool)> {
        let span =
            tracing::info_span!("intent_tuner_job", set = %short(key), examples = examples.len());
        let _guard = span.enter();
        let file = self
            .settings
            .dir
            .as_ref()
            .map(|d| d.join(format!("{key}.onnx")));
        if let Some(path) = file.as_ref().filter(|p| p.is_file()) {
            match self.load_saved(path, examples) {
                Ok(model) => return Ok((model, true)),
                Err(err) => {
                    tracing::warn!(error = %err.chain(), path = %path.display(), "a saved tuned intent model could not be loaded; tuning again");
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let tuned = train_tuned(&self.config, examples, &self.classifier)?;
        tracing::info!(
            steps = tuned.report.steps,
            pairs = tuned.report.pairs,
            first_loss = tuned.report.first_loss,
            last_loss = tuned.report.last_loss,
            "tuned the encoder on an intent set"
        );
        if let (Some(path), Some(dir)) = (file.as_ref(), self.settings.dir.as_ref()) {
            if let Err(err) = save(dir, path, &tuned.onnx, self.settings.max_saved) {
                tracing::warn!(error = %err.chain(), "the tuned intent model could not be saved; it will be tuned again after a restart");
            }
        }
        Ok((
            TunedIntentModel {
                embedder: Arc::new(tuned.embedder),
                classifier: Arc::new(tuned.classifier),
            },
            false,
        ))
    }

    fn load_saved(&self, path: &Path, examples: &[IntentExample]) -> Result<TunedIntentModel> {
        let onnx = std::fs::read(path)
            .map_err(|e| Error::internal(format!("reading {}", path.display())).with_source(e))?;
        let (embedder, classifier) =
            serve_tuned(&self.config.paths, onnx, examples, &self.classifier)?;
        Ok(TunedIntentModel {
            embedder: Arc::new(embedder),
            classifier: Arc::new(classifier),
        })
    }

    fn finish(&self, key: &str, outcome: Result<(TunedIntentModel, bool)>, seconds: f64) {
        let Ok(mut state) = lock(&self.state) else {
            return;
        };
        let (status, model) = match outcome {
            Ok((model, loaded)) => {
                tracing::info!(set = %short(key), seconds, loaded, "tuned intent model ready");
                let origin = if loaded { "loaded" } else { "tuned" };
                (
                    TuningStatus::Ready {
                        finished_at_ms: now_ms(),
                        seconds,
                        origin,
                    },
                    Some(Arc::new(model)),
                )
            }
            Err(err) => {
                tracing::warn!(set = %short(key), error = %err.chain(), "tuning an intent set failed; the frozen classifier keeps answering");
                (
                    TuningStatus::Failed {
                        detail: err.message().to_owned(),
                    },
                    None,
                )
            }
        };
        if let Some(entry) = state.sets.get_mut(key) {
            entry.status = status;
            entry.model = model;
        }
        evict(&mut state, self.settings.max_loaded);
    }

    fn fail_all(&self, detail: &str) {
        if let Ok(mut state) = lock(&self.state) {
            while let Some(job) = state.queue.pop_front() {
                if let Some(entry) = state.sets.get_mut(&job.key) {
                    entry.status = TuningStatus::Failed {
                        detail: detail.to_owned(),
                    };
                }
            }
            state.worker_running = false;
        }
    }
}

/// Forgets the least recently used ready models beyond `max_loaded` (their next use loads
/// them again from their files).
fn evict(state: &mut State, max_loaded: usize) {
    loop {
        let loaded: Vec<(&String, u64)> = state
            .sets
            .iter()
            .filter(|(_, e)| e.model.is_some())
            .map(|(k, e)| (k, e.last_used))
            .collect();
        if loaded.len() <= max_loaded {
            return;
        }
        let Some(oldest) = loaded
            .iter()
            .min_by_key(|(_, used)| *used)
            .map(|(k, _)| (*k).clone())
        else {
            return;
        };
        state.sets.remove(&oldest);
    }
}

/// Writes `bytes` to `path` through a temporary file and keeps at most `max_saved` models in
/// `dir` (the oldest go).
fn save(dir: &Path, path: &Path, bytes: &[u8], max_saved: usize) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::internal(format!("creating {}", dir.display())).with_source(e))?;
    let partial = path.with_extension("onnx.partial");
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| Error::internal(format!("writing {}", path.display())).with_source(e))?;
    let mut saved: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| Error::internal(format!("listing {}", dir.display())).with_source(e))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let path = entry.path();
            (path.extension()? == "onnx").then_some(())?;
            Some((entry.metadata().ok()?.modified().ok()?, path))
        })
        .collect();
    saved.sort();
    let excess = saved.len().saturating_sub(max_saved.max(1));
    for (_, old) in saved.into_iter().take(excess) {
        if old != path {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(())
}

/// Moves the calling thread to idle scheduling priority (Linux `SCHED_IDLE`); where that is
/// refused, tuning runs at normal priority and says so in the logs.
fn lower_priority() {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };
    let outcome = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if let Err(err) = outcome {
        tracing::warn!(error = ?err, "intent tuning could not lower its thread priority");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::embed::local::ModelPaths;
    use crate::embed::{dot, Embedder};

    fn examples(extra: &str) -> Arc<Vec<IntentExample>> {
        let rows = [
            ("where is my order", "tracking"),
            ("track my package", "tracking"),
            ("has my parcel shipped yet", "tracking"),
            ("I want a refund", "refund"),
            ("give me my money back", "refund"),
            ("please refund the charge", "refund"),
            ("reset my password", "access"),
            ("I cannot log in", "access"),
            ("my account is locked", "access"),
        ];
        let mut out: Vec<IntentExample> = rows
            .iter()
            .map(|(text, label)| IntentExample::new(*text, *label))
            .collect();
        out.push(IntentExample::new(extra, "access"));
        Arc::new(out)
    }

    fn settings(dir: &Path) -> TunerSettings {
        TunerSettings {
            dir: Some(dir.to_path_buf()),
            idle_priority: false,
            tuning: TuningSettings {
                rounds: 2,
                batch_size: 3,
                learning_rate: 2e-4,
                ..TuningSettings::default()
            },
            ..TunerSettings::default()
        }
    }

    /// Polls until the set is ready.
    fn wait_ready(tuner: &IntentTuner, key: &str) -> TuningStatus {
        for _ in 0..6_000 {
            let status = tuner.status(key).unwrap();
            if matches!(
                status,
                TuningStatus::Ready { .. } | TuningStatus::Failed { .. }
            ) {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the set was not tuned within ten minutes");
    }

    #[test]
    fn sets_are_tuned_in_the_background_saved_and_loaded_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let tuner = IntentTuner::new(settings(dir.path()), ClassifierSettings::default());
        let (a, b1, b2) = (
            examples("forgot my login details"),
            examples("two factor code never arrives"),
            examples("my login link expired"),
        );
        let (key_a, key_b1, key_b2) = (
            tuner.fingerprint(&a),
            tuner.fingerprint(&b1),
            tuner.fingerprint(&b2),
        );
        assert_ne!(key_a, key_b1);
        // First use: queued, the frozen classifier answers meanwhile.
        assert!(tuner.model("org_a", &key_a, &a).unwrap().is_none());
        assert!(tuner.model("org_b", &key_b1, &b1).unwrap().is_none());
        // org_b edits its set again before its first set was started: only the last is tuned.
        assert!(tuner.model("org_b", &key_b2, &b2).unwrap().is_none());
        assert!(matches!(
            tuner.status(&key_b2).unwrap(),
            TuningStatus::Queued | TuningStatus::Tuning { .. }
        ));

        let status = wait_ready(&tuner, &key_a);
        let TuningStatus::Ready {
            origin, seconds, ..
        } = status
        else {
            panic!("{status:?}");
        };
        assert_eq!(origin, "tuned");
        assert!(seconds > 0.0);
        assert!(matches!(
            wait_ready(&tuner, &key_b2),
            TuningStatus::Ready { .. }
        ));
        let saved: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(saved.contains(&format!("{key_a}.onnx")), "{saved:?}");
        assert!(saved.contains(&format!("{key_b2}.onnx")), "{saved:?}");
        assert!(!saved.contains(&format!("{key_b1}.onnx")), "{saved:?}");

        // The tuned encoder is not the frozen one, and its classifier places the examples.
        let model = tuner.model("org_a", &key_a, &a).unwrap().expect("ready");
        let text = vec!["I would like my money returned".to_string()];
        let tuned = model.embedder.embed(&text).unwrap();
        let frozen = LocalEmbedder::load(&ModelPaths::from_env())
            .unwrap()
            .embed(&text)
            .unwrap();
        assert!(
            dot(&tuned[0], &frozen[0]) < 0.999,
            "{}",
            dot(&tuned[0], &frozen[0])
        );
        assert_eq!(
            model.classifier.classify(&text[0], &tuned[0]).label,
            "refund"
        );

        // A new process (another tuner on the same folder) loads the saved model.
        let restarted = IntentTuner::new(settings(dir.path()), ClassifierSettings::default());
        assert!(restarted.model("org_a", &key_a, &a).unwrap().is_none());
        let status = wait_ready(&restarted, &key_a);
        assert!(
            matches!(
                status,
                TuningStatus::Ready {
                    origin: "loaded",
                    ..
                }
            ),
            "{status:?}"
        );
        let loaded = restarted
            .model("org_a", &key_a, &a)
            .unwrap()
            .expect("ready");
        let again = loaded.embedder.embed(&text).unwrap();
        assert!(dot(&again[0], &tuned[0]) > 0.99999);
    }

    #[test]
    fn tuning_threads_run_at_idle_priority() {
        use thread_priority::unix::{
            thread_schedule_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        let policy = std::thread::spawn(|| {
            lower_priority();
            thread_schedule_policy().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(
            policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
    }

    #[test]
    fn the_fingerprint_follows_the_examples_and_the_settings() {
        let a = examples("x");
        let tuning = TuningSettings::default();
        let key = |model: &str, set: &[IntentExample], tuning: &TuningSettings| {
            fingerprint(model, set, tuning)
        };
        assert_eq!(key("m", &a, &tuning), key("m", &examples("x"), &tuning));
        assert_ne!(key("m", &a, &tuning), key("m", &examples("y"), &tuning));
        let other = TuningSettings {
            rounds: 1,
            ..tuning
        };
        assert_ne!(key("m", &a, &tuning), key("m", &a, &other));
        assert_ne!(key("m", &a, &tuning), key("another model", &a, &tuning));
        assert_eq!(key("m", &a, &tuning).len(), 64);
        // The tuner's own fingerprint covers the installed model.
        let tuner = IntentTuner::new(TunerSettings::default(), ClassifierSettings::default());
        assert_eq!(tuner.model_digest.len(), 64);
        assert_ne!(tuner.fingerprint(&a), key("", &a, &tuning));
    }

    #[test]
    fn sets_larger_than_the_limit_keep_the_frozen_model() {
        let tuner = IntentTuner::new(
            TunerSettings {
                max_examples: 5,
                ..TunerSettings::default()
            },
            ClassifierSettings::default(),
        );
        let set = examples("x");
        let key = tuner.fingerprint(&set);
        assert!(tuner.model("org", &key, &set).unwrap().is_none());
        assert_eq!(
            tuner.status(&key).unwrap(),
            TuningStatus::TooLarge {
                examples: 10,
                limit: 5
            }
        );
    }

    #[test]
    fn settings_are_read_from_the_environment_and_checked() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let on = TunerSettings::from_env(env(&[]))
            .unwrap()
            .expect("on by default");
        assert_eq!(on.tuning.rounds, TuningSettings::default().rounds);
        assert!(
            TunerSettings::from_env(env(&[("BLAIGENT_INTENT_TUNING", "off")]))
                .unwrap()
                .is_none()
        );
        let custom = TunerSettings::from_env(env(&[
            ("BLAIGENT_INTENT_TUNING", "on"),
            ("BLAIGENT_INTENT_TUNING_ROUNDS", "2"),
            ("BLAIGENT_INTENT_TUNING_MAX_PAIRS", "500"),
            ("BLAIGENT_INTENT_TUNED_MODELS", "1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                custom.tuning.rounds,
                custom.tuning.max_pairs,
                custom.max_loaded
            ),
            (2, 500, 1)
        );
        for bad in [
            &[("BLAIGENT_INTENT_TUNING", "sometimes")][..],
            &[("BLAIGENT_INTENT_TUNING_ROUNDS", "0")][..],
            &[("BLAIGENT_INTENT_TUNING_MAX_PAIRS", "many")][..],
        ] {
            let err = TunerSettings::from_env(env(bad)).expect_err("refused");
            assert!(err.contains(bad[0].0), "{err}");
        }
    }

    #[test]
    fn only_the_most_recently_used_models_stay_loaded() {
        let mut state = State::default();
        let paths = ModelPaths::from_env();
        let onnx = std::fs::read(paths.model_dir.join("model.onnx")).unwrap();
        let embedder = Arc::new(LocalEmbedder::from_onnx(&paths, onnx).unwrap());
        let set = examples("x");
        let vectors = embedder
            .embed(&set.iter().map(|e| e.text.clone()).collect::<Vec<_>>())
            .unwrap();
        let classifier = Arc::new(
            IntentClassifier::train(&set, &vectors, &ClassifierSettings::default()).unwrap(),
        );
        for (key, used) in [("a", 3), ("b", 1), ("c", 2)] {
            state.sets.insert(
                key.into(),
                Entry {
                    status: TuningStatus::Queued,
                    model: Some(Arc::new(TunedIntentModel {
                        embedder: embedder.clone(),
                        classifier: classifier.clone(),
                    })),
                    last_used: used,
                },
            );
        }
        evict(&mut state, 2);
        let mut kept: Vec<&String> = state.sets.keys().collect();
        kept.sort();
        assert_eq!(kept, ["a", "c"]);
    }
}
