//! Assembles the [`Agent`] from the process's parts: the store (memory), the shared embedder
//! (sentence scoring), the knowledge base's retriever, the intent service (trained lazily per
//! organization on first use) and the optional language model.

use std::sync::Arc;

use anyhow::Context;
use engine::agent::Agent;
use engine::intent::IntentService;
use engine::llm::openai::OpenAiChatModel;
use engine::store::Store;

use crate::config::Config;

/// Builds the agent for `config`.
pub fn build_agent(
    config: &Config,
    store: &Store,
    knowledge: &ingest::Knowledge,
) -> anyhow::Result<Agent> {
    let embedder = ingest::shared_embedder().context("loading the embedding model")?;
    let intents = Arc::new(IntentService::new(store.clone(), embedder.clone()));
    let mut agent = Agent::new()
        .with_store(store.clone())
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
