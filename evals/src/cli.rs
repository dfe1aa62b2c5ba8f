//! The command line of `blaigent-eval`: global options, one subcommand per suite, and the
//! baseline comparison that sets the exit status.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use engine::encoder::tune::TuningSettings;
use engine::intent::ClassifierSettings;

use crate::cache::EmbeddingCache;
use crate::data::{self, Splits};
use crate::report::{describe, Baseline, Report};
use crate::suites::gate::Degrade;
use crate::suites::intent::IntentOptions;
use crate::suites::language::LanguageOptions;
use crate::suites::{self, Context};

/// Offline evaluation of the Blaigent engine: intent, out-of-scope, language, retrieval,
/// answers, policy and conversations suites, baselines and a CI gate.
#[derive(Debug, Parser)]
#[command(name = "blaigent-eval", version)]
pub struct Cli {
    /// Folder of the public data sets (default: BLAIGENT_EVALDATA or ../shared/evaldata).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Where report.md and report.json go (default: target/eval-reports/<suite>).
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Compare with this baseline; exit non-zero when a metric drops beyond its tolerance.
    #[arg(long, global = true)]
    pub baseline: Option<PathBuf>,
    /// Write the figures of this run as a baseline file.
    #[arg(long, global = true)]
    pub write_baseline: Option<PathBuf>,
    /// Allowed absolute drop per metric when writing a baseline.
    #[arg(long, global = true, default_value_t = 0.02)]
    pub tolerance: f64,
    /// Send the whole-agent suites to this running server instead of the in-process engine.
    #[arg(long, global = true, requires_all = ["api_key", "organization"])]
    pub server: Option<String>,
    /// API key for --server.
    #[arg(long, global = true, env = "BLAIGENT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The API key's organization id, for --server.
    #[arg(long, global = true)]
    pub organization: Option<String>,
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    #[command(subcommand)]
    pub suite: Suite,
}

/// Overrides of the shipped classifier settings (for tuning on validation splits).
#[derive(Debug, Clone, Args)]
pub struct ClassifierArgs {
    #[arg(long, global = true)]
    pub lexical_weight: Option<f32>,
    #[arg(long, global = true)]
    pub buckets: Option<u32>,
    #[arg(long, global = true)]
    pub epochs: Option<usize>,
    #[arg(long, global = true)]
    pub l2: Option<f32>,
    #[arg(long, global = true)]
    pub learning_rate: Option<f32>,
    #[arg(long, global = true)]
    pub batch_size: Option<usize>,
    #[arg(long, global = true)]
    pub threshold: Option<f32>,
    #[arg(long, global = true)]
    pub calibration_folds: Option<usize>,
    #[arg(long, global = true)]
    pub knn_weight: Option<f32>,
    #[arg(long, global = true)]
    pub min_steps: Option<usize>,
    #[arg(long, global = true)]
    pub similarity_floor: Option<f32>,
    /// Standardised energy floor of the out-of-scope rule (see `engine::intent::classifier`).
    #[arg(long, global = true, allow_negative_numbers = true)]
    pub energy_floor: Option<f32>,
    /// Fine-tune a copy of the embedding model on each run's training examples (intent, oos).
    #[arg(long, global = true)]
    pub tune_encoder: bool,
    /// Pairing passes over the examples when tuning.
    #[arg(long, global = true)]
    pub tune_rounds: Option<usize>,
    /// Most pairs a tuning run uses.
    #[arg(long, global = true)]
    pub tune_max_pairs: Option<usize>,
    /// Peak learning rate of a tuning run.
    #[arg(long, global = true)]
    pub tune_learning_rate: Option<f64>,
}

impl ClassifierArgs {
    fn tuning(&self) -> Option<TuningSettings> {
        if !self.tune_encoder {
            return None;
        }
        let mut s = TuningSettings::default();
        if let Some(v) = self.tune_rounds {
            s.rounds = v;
        }
        if let Some(v) = self.tune_max_pairs {
            s.max_pairs = v;
        }
        if let Some(v) = self.tune_learning_rate {
            s.learning_rate = v;
        }
        Some(s)
    }

    fn apply(&self, mut s: ClassifierSettings) -> ClassifierSettings {
        if let Some(v) = self.lexical_weight {
            s.lexical_weight = v;
        }
        if let Some(v) = self.buckets {
            s.buckets = v;
        }
        if let Some(v) = self.epochs {
            s.train.epochs = v;
        }
        if let Some(v) = self.l2 {
            s.train.l2 = v;
        }
        if let Some(v) = self.learning_rate {
            s.train.learning_rate = v;
        }
        if let Some(v) = self.batch_size {
            s.train.batch_size = v;
        }
        if let Some(v) = self.threshold {
            s.threshold = v;
        }
        if let Some(v) = self.calibration_folds {
            s.calibration_folds = v;
        }
        if let Some(v) = self.knn_weight {
            s.knn_weight = v;
        }
        if let Some(v) = self.similarity_floor {
            s.similarity_floor = v;
        }
        if let Some(v) = self.energy_floor {
            s.energy_floor = Some(v);
        }
        if let Some(v) = self.min_steps {
            s.train.min_steps = v;
        }
        s
    }
}

#[derive(Debug, Subcommand)]
pub enum Suite {
    /// Intent accuracy, macro-F1, per-intent scores, confusions, latency.
    Intent(IntentArgs),
    /// Out-of-scope detection at the shipped threshold and over a curve.
    Oos {
        /// clinc150 or banking77-oos.
        #[arg(long, default_value = "clinc150")]
        dataset: String,
    },
    /// Language identification on the lingua test data.
    Language {
        /// At most this many samples per language and kind.
        #[arg(long)]
        limit: Option<usize>,
        /// Only sentences, word-pairs or single-words.
        #[arg(long)]
        kind: Option<String>,
    },
    /// Recall@1/5/10, MRR and nDCG@10 of keyword, vector and hybrid retrieval.
    Retrieval {
        /// `stackfaq` (built in) or a JSON file of documents and queries.
        #[arg(long, default_value = "stackfaq")]
        dataset: String,
        /// Also score the fusion settings and the relevance cut-off.
        #[arg(long)]
        sweep: bool,
        /// Only the first N queries.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Whole-agent answers over a knowledge base: pass rate and groundedness.
    Answers {
        /// JSON array of answer cases.
        #[arg(long, default_value = "evals/data/answers/cases.json")]
        cases: PathBuf,
        /// Folder of the knowledge base (.md/.txt); in-process only (upload it to a server).
        #[arg(long, default_value = "evals/data/answers/kb")]
        kb: PathBuf,
    },
    /// Red-team and ordinary messages: expected block / redact / escalate / allow.
    Policy {
        /// The policy data file (guardrails and cases).
        #[arg(long, default_value = "evals/data/policy/cases.json")]
        cases: PathBuf,
    },
    /// Scripted multi-turn action conversations against a loopback backend: task success rate.
    Conversations {
        /// The conversations data file (actions and cases).
        #[arg(long, default_value = "evals/data/conversations/cases.json")]
        cases: PathBuf,
    },
    /// The fast CI gate (compare with --baseline evals/baselines/gate.json).
    Gate {
        /// Deliberately weaken the classifier (to see the gate fail).
        #[arg(long, value_enum, default_value_t = DegradeArg::None)]
        degrade: DegradeArg,
    },
    /// Validates an answers, policy or conversations case file without running it.
    Cases {
        #[arg(long, value_enum)]
        kind: CaseKind,
        #[arg(long)]
        file: PathBuf,
    },
    /// Embeds every public benchmark into the cache.
    Warm,
    /// Replays a recorded conversation against the current engine, with the recorded action
    /// results and model responses, and reports every stage that changed. Exit status: 0
    /// nothing changed, 1 something changed, 2 the replay could not run.
    Replay(ReplayArgs),
}

/// Options of `replay` (the global `--organization` names the conversation's organization;
/// without it the recording says).
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recorded database (`sqlite://...` or `postgres://...`); only read.
    #[arg(long, env = "BLAIGENT_DATABASE_URL", hide_env_values = true)]
    pub database: String,
    /// The recorded conversation (`conv_...`).
    #[arg(long)]
    pub conversation: String,
    /// The server's data folder, whose `qdrant` folder is the embedded vector index (ignored
    /// when BLAIGENT_QDRANT_URL names a Qdrant server).
    #[arg(long, env = "BLAIGENT_DATA_DIR", default_value = "data")]
    pub index_dir: PathBuf,
    /// Also write the conversation as a regression case of the conversations suite.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IntentArgs {
    /// A built-in data set: banking77, clinc150, banking77-oos, bitext, bitext-defaults.
    #[arg(long, conflicts_with_all = ["train", "test"])]
    pub dataset: Option<String>,
    /// A `text,label` CSV or JSON file to train on.
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// A `text,label` file to score.
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// An optional validation file (calibration; scored with --dev).
    #[arg(long)]
    pub validation: Option<PathBuf>,
    /// Examples per intent sampled from train.
    #[arg(long)]
    pub shots: Option<usize>,
    /// Seeds of the sampling (one run each).
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Score the validation split (tuning), never the test split.
    #[arg(long)]
    pub dev: bool,
    /// Messages timed one by one, embedding included (with --server: messages sent; 0 = all).
    #[arg(long, default_value_t = 200)]
    pub latency_samples: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DegradeArg {
    None,
    OneExample,
    Shuffled,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CaseKind {
    Answers,
    Policy,
    Conversations,
}

fn load_intent_splits(args: &IntentArgs, data_dir: &Path) -> Result<Splits> {
    if let Some(name) = &args.dataset {
        return data::dataset(name, data_dir);
    }
    let (Some(train), Some(test)) = (&args.train, &args.test) else {
        bail!("give --dataset NAME or --train FILE --test FILE");
    };
    Ok(Splits {
        name: train
            .file_stem()
            .map_or("custom".into(), |s| s.to_string_lossy().into_owned()),
        train: data::load_labelled_file(train)?,
        validation: match &args.validation {
            Some(path) => data::load_labelled_file(path)?,
            None => Vec::new(),
        },
        test: data::load_labelled_file(test)?,
    })
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let data_dir = data::data_dir(cli.data_dir.as_deref());
    if let Suite::Cases { kind, file } = &cli.suite {
        return validate_cases(*kind, file);
    }
    if let Suite::Replay(args) = &cli.suite {
        return Ok(match run_replay(&cli, args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("replay failed: {e:#}");
                2
            }
        });
    }
    let embedder: Arc<dyn engine::embed::Embedder> = Arc::new(
        engine::embed::local::LocalEmbedder::load_default()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("loading the embedding model")?,
    );
    // With a tuned encoder the shipped settings are the tuned encoder's (its out-of-scope
    // rule was chosen on validation with that encoder).
    let mut defaults = if cli.classifier.tune_encoder {
        ClassifierSettings::for_tuned_encoder()
    } else {
        ClassifierSettings::default()
    };
    if !matches!(cli.suite, Suite::Gate { .. }) {
        // The benchmark suites fit the temperature on a validation split themselves.
        defaults.calibration_folds = 0;
    }
    let ctx = Context {
        data_dir: data_dir.clone(),
        cache: EmbeddingCache::new(embedder, cli.no_cache),
        settings: cli.classifier.apply(defaults),
        tuning: cli.classifier.tuning(),
    };
    let report = match &cli.suite {
        Suite::Intent(args) if cli.server.is_some() => {
            let splits = load_intent_splits(args, &data_dir)?;
            let target = server_target(&cli)?.context("--server is set")?;
            let limit = (args.latency_samples > 0).then_some(args.latency_samples);
            suites::target::runtime()?.block_on(suites::remote_intent::run(
                &target,
                &splits.name,
                &splits.test,
                limit,
            ))?
        }
        Suite::Intent(args) => {
            let splits = load_intent_splits(args, &data_dir)?;
            let options = IntentOptions {
                shots: args.shots,
                seeds: args.seeds,
                dev: args.dev,
                latency_samples: args.latency_samples,
            };
            suites::intent::run(&ctx, &splits, &options)?
        }
        Suite::Oos { dataset } => suites::oos::run(&ctx, &data::dataset(dataset, &data_dir)?)?,
        Suite::Language { limit, kind } => suites::language::run(
            &ctx,
            &LanguageOptions {
                per_language_limit: *limit,
                kind: kind.clone(),
            },
        )?,
        Suite::Retrieval {
            dataset,
            sweep,
            limit,
        } => suites::retrieval::run(
            &ctx,
            &suites::retrieval::dataset(dataset, &data_dir)?,
            &suites::retrieval::RetrievalOptions {
                sweep: *sweep,
                limit: *limit,
            },
        )?,
        Suite::Answers { cases, kb } => {
            let cases = suites::answers::load_cases(&workspace_path(cases))?;
            let runtime = suites::target::runtime()?;
            runtime.block_on(async {
                match server_target(&cli)? {
                    Some(target) => {
                        suites::answers::run(&target, &cases, &Default::default()).await
                    }
                    None => {
                        let (target, texts, _kb) =
                            suites::answers::in_process(&ctx, &workspace_path(kb)).await?;
                        suites::answers::run(&target, &cases, &texts).await
                    }
                }
            })?
        }
        Suite::Policy { cases } => {
            let set = suites::policy::load(&workspace_path(cases))?;
            let target = match server_target(&cli)? {
                Some(target) => target,
                None => suites::policy::in_process(&set),
            };
            suites::target::runtime()?.block_on(suites::policy::run(&target, &set))?
        }
        Suite::Conversations { cases } => {
            let set = suites::conversations::load(&workspace_path(cases))?;
            let embedder = ctx.cache.embedder().clone();
            suites::target::runtime()?.block_on(suites::conversations::run(&set, embedder))?
        }
        Suite::Gate { degrade } => {
            let how = match degrade {
                DegradeArg::None => Degrade::None,
                DegradeArg::OneExample => Degrade::OneExamplePerIntent,
                DegradeArg::Shuffled => Degrade::ShuffledLabels,
            };
            suites::gate::run(&ctx, how)?
        }
        Suite::Warm => {
            warm(&ctx)?;
            return Ok(0);
        }
        Suite::Cases { .. } | Suite::Replay(_) => return Ok(0),
    };
    finish(&cli, &report)
}

/// The server of `--server`, when given.
fn server_target(cli: &Cli) -> Result<Option<suites::target::Target>> {
    let Some(url) = &cli.server else {
        return Ok(None);
    };
    let (Some(key), Some(org)) = (&cli.api_key, &cli.organization) else {
        bail!("--server needs --api-key (or BLAIGENT_API_KEY) and --organization");
    };
    Ok(Some(suites::target::Target::Server(
        suites::target::Server::connect(url, key, org)?,
    )))
}

/// A relative path as given, else relative to the workspace root (the defaults name files of
/// the repository, so they work from any folder).
fn workspace_path(path: &Path) -> PathBuf {
    if path.exists() || path.is_absolute() {
        return path.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Writes the report, prints it, and compares with the baseline.
fn finish(cli: &Cli, report: &Report) -> Result<i32> {
    let out = cli.out.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("eval-reports")
            .join(&report.suite)
    });
    report.write(&out)?;
    println!("{}", report.markdown());
    eprintln!("report written to {}", out.display());
    if let Some(path) = &cli.write_baseline {
        Baseline::from_report(report, cli.tolerance).save(path)?;
        eprintln!("baseline written to {}", path.display());
    }
    if let Some(path) = &cli.baseline {
        let regressions = Baseline::load(path)?.compare(report);
        if !regressions.is_empty() {
            eprintln!(
                "FAILED: metrics below the baseline {}:\n{}",
                path.display(),
                describe(&regressions)
            );
            return Ok(1);
        }
        eprintln!(
            "passed: no metric dropped beyond its tolerance ({})",
            path.display()
        );
    }
    Ok(0)
}

fn warm(ctx: &Context) -> Result<()> {
    for name in [
        "banking77",
        "clinc150",
        "banking77-oos",
        "bitext",
        "bitext-defaults",
    ] {
        let splits = data::dataset(name, &ctx.data_dir)?;
        for rows in [&splits.train, &splits.validation, &splits.test] {
            if !rows.is_empty() {
                ctx.cache.embed(&suites::intent::texts(rows))?;
            }
        }
    }
    Ok(())
}

/// Runs `replay`: writes `replay.md` and `replay.json` under `--out` (default
/// `target/eval-reports/replay`), prints the Markdown, saves the regression case when asked,
/// and returns 0 (unchanged) or 1 (changed).
fn run_replay(cli: &Cli, args: &ReplayArgs) -> Result<i32> {
    let options = crate::replay::ReplayOptions {
        database_url: args.database.clone(),
        conversation: args.conversation.clone(),
        organization: cli.organization.clone(),
        data_dir: args.index_dir.clone(),
    };
    let runtime = suites::target::runtime()?;
    let report = runtime.block_on(async {
        let report = crate::replay::replay(&options).await?;
        if let Some(path) = &args.save {
            crate::replay::save_case(&report, &args.database, path).await?;
            eprintln!("regression case written to {}", path.display());
        }
        anyhow::Ok(report)
    })?;
    let out = cli.out.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/eval-reports/replay")
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let markdown = report.markdown();
    std::fs::write(out.join("replay.md"), &markdown)?;
    std::fs::write(
        out.join("replay.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{markdown}");
    eprintln!("report written to {}", out.display());
    Ok(report.exit_code())
}

fn validate_cases(kind: CaseKind, file: &Path) -> Result<i32> {
    let count = match kind {
        CaseKind::Answers => crate::suites::answers::load_cases(file)?.len(),
        CaseKind::Policy => crate::suites::policy::load(file)?.cases.len(),
        CaseKind::Conversations => crate::suites::conversations::load(file)?.cases.len(),
    };
    println!(
        "{count} {kind:?} cases parsed from {}; they were validated, not executed (run them with the suite's subcommand)",
        file.display()
    );
    Ok(0)
}
