//! Assembles the [`Agent`] from the process's parts: the store (memory), the shared embedder
//! (sentence scoring), the knowledge base's retriever, the intent service (trained lazily per
//! organization on first use) and the optional language model.

use std::sync::Arc;

use anyhow::Context;
use engine::actions::executor::Executor;
use engine::actions::ActionEngine;
use engine::agent::Agent;
use engine::intent::tuner::IntentTuner;
use engine::intent::{ClassifierSettings, IntentService};
use engine::llm::openai::OpenAiChatModel;
use engine::store::Store;

use crate::config::Config;

/// Folder of the data directory where tuned intent models are saved.
pub const INTENT_MODELS_DIR: &str = "intent-models";

/// Builds the agent for `config`.
pub fn build_agent(
    config: &Config,
    store: &Store,
    knowledge: &ingest::Knowledge,
) -> anyhow::Result<Agent> {
    let embedder = ingest::shared_embedder().context("loading the embedding model")?;
    let mut intents = IntentService::new(store.clone(), embedder.clone());
    if let Some(settings) = &config.intent_tuning {
        let mut settings = settings.clone();
        let dir = settings
            .dir
            .get_or_insert_with(|| config.data_dir.join(INTENT_MODELS_DIR));
        tracing::info!(dir = %dir.display(), "intent sets get a fine-tuned encoder in the background");
        let tuner = IntentTuner::new(settings, ClassifierSettings::for_tuned_encoder());
        intents = intents.with_tuner(Arc::new(tuner));
    }
    let intents = Arc::new(intents);
    warm_up_in_background(intents.clone());
    let executor = Executor::new(config.webhooks.guard())
        .map_err(|e| anyhow::anyhow!(e.message().to_owned()))
        .context("building the action HTTP client")?;
    let actions = ActionEngine::new(store.clone(), executor, Some(embedder.clone()));
    let mut agent = Agent::new()
        .with_store(store.clone())
        .with_actions(Arc::new(actions))
        .with_embedder(embedder)
        .with_retriever(knowledge.retriever().clone())
        .with_intents(intents);
    if let Some(settings) = &config.llm {
        tracing::info!(base_url = %settings.base_url, model = %settings.model, "answers are written by a language model");
        let model = OpenAiChatModel::new(settings.clone())
            .map_err(|e| anyhow::anyhow!(e.message().to_owned()))
            .context("configuring the language model")?;
        agent = agent.with_model(Arc::new(model));
    }
    Ok(agent)
}

/// Trains the default intent classifier and loads the language models off the request path,
/// so the first customer does not wait for them. A failure here is only logged: the first
/// turn retries the same work and reports the error to its caller.
fn warm_up_in_background(intents: Arc<IntentService>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        if let Err(err) = tokio::task::spawn_blocking(engine::language::preload).await {
            tracing::warn!(error = %err, "loading the language models failed");
        }
        if let Err(err) = intents.warm_up().await {
            tracing::warn!(error = %err.chain(), "training the default intent classifier failed");
        }
    });
}
