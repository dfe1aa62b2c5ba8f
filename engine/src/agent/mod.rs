//! The agent: one customer turn in, one reply out. [`Agent::handle`] runs the stages of
//! DESIGN.md in order; each stage is a plain function in its own module so a turn can be
//! traced, tested and replayed stage by stage:
//!
//! 1. language ([`crate::language::resolve`]): the request's, else detected, else the
//!    organization default;
//! 2. policy in ([`crate::policy::inspect`]): PII redaction, injection, blocked topics,
//!    escalation;
//! 3. intent ([`IntentDetector`], with [`smalltalk`] rules);
//! 4. memory ([`crate::memory`]): facts extracted from the message, recalled from the store;
//! 5. retrieval with follow-up rewriting ([`crate::rewrite`], [`crate::retrieval`]);
//! 6. action selection ([`action`]);
//! 7. response ([`answer`]): the offline grounded responder, or the language model
//!    ([`model_path`]) with fallback;
//! 8. policy out: grounding and leak checks, channel shaping ([`crate::respond::channel`]);
//!
//! then the memory writes (facts, conversation summary). [`Agent::handle_streaming`] does the
//! same while sending the answer's pieces on a channel ([`stream`]).
//!
//! Every part is optional so the agent also runs without a database (evaluations), without
//! an index (an empty knowledge base) and without a model (the default).

pub mod action;
mod answer;
pub(crate) mod cache;
mod model_path;
mod pipeline;
pub mod recorder;
pub mod smalltalk;
pub mod stream;
pub mod trace;
mod types;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use action::{
    ActionContext, ActionReply, ActionSelector, ActionStage, ActionTurn, HandoffSelector,
    SelectedAction, HUMAN_HANDOFF,
};
pub use stream::StreamEvent;
pub use types::*;

use crate::embed::Embedder;
use crate::error::Result;
use crate::ids::OrganizationId;
use crate::intent::IntentPrediction;
use crate::llm::ChatModel;
use crate::retrieval::Retriever;
use crate::store::Store;

/// Passages retrieved per turn.
pub const TOP_K: usize = 5;

/// Detects the intent of a message for an organization (its own intent set).
#[async_trait]
pub trait IntentDetector: Send + Sync {
    async fn detect(&self, org: &OrganizationId, text: &str) -> Result<IntentPrediction>;

    /// Where the organization's intent set stands with background encoder tuning.
    async fn tuning_status(
        &self,
        _org: &OrganizationId,
    ) -> Result<crate::intent::tuner::TuningStatus> {
        Ok(crate::intent::tuner::TuningStatus::Off)
    }
}

/// The customer-service agent of one process; shared by every organization (per-organization
/// state is loaded per turn). Built once with the parts the process has.
#[derive(Default)]
pub struct Agent {
    store: Option<Store>,
    embedder: Option<Arc<dyn Embedder>>,
    retriever: Option<Arc<Retriever>>,
    intents: Option<Arc<dyn IntentDetector>>,
    model: Option<Arc<dyn ChatModel>>,
    selectors: Vec<Arc<dyn ActionSelector>>,
    actions: Option<Arc<dyn ActionStage>>,
    cache: cache::EmbeddingCache,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("store", &self.store.is_some())
            .field(
                "embedder",
                &self.embedder.as_ref().map(|e| e.model_name().to_string()),
            )
            .field("retriever", &self.retriever.is_some())
            .field("intents", &self.intents.is_some())
            .field(
                "model",
                &self.model.as_ref().map(|m| m.model_name().to_string()),
            )
            .finish()
    }
}

impl Agent {
    /// An agent with no parts: it still redacts, detects injections, escalates, greets and
    /// says honestly that it cannot answer. Add parts with the `with_*` methods.
    pub fn new() -> Self {
        Self {
            selectors: vec![Arc::new(HandoffSelector)],
            ..Self::default()
        }
    }

    /// Memory (facts, summaries) is read and written through `store`.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Sentences are scored by embedding similarity with `embedder` (keywords only without).
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// Knowledge passages come from `retriever`.
    pub fn with_retriever(mut self, retriever: Arc<Retriever>) -> Self {
        self.retriever = Some(retriever);
        self
    }

    /// Intents come from `intents` (small-talk rules only without).
    pub fn with_intents(mut self, intents: Arc<dyn IntentDetector>) -> Self {
        self.intents = Some(intents);
        self
    }

    /// Where the organization's intent set stands with background encoder tuning (`Off`
    /// without an intent detector).
    pub async fn intent_tuning(
        &self,
        org: &OrganizationId,
    ) -> Result<crate::intent::tuner::TuningStatus> {
        match &self.intents {
            Some(intents) => intents.tuning_status(org).await,
            None => Ok(crate::intent::tuner::TuningStatus::Off),
        }
    }

    /// Answers are written by `model` (with the offline responder as fallback). Its calls
    /// are noted when a turn is recorded ([`crate::llm::traced`]).
    pub fn with_model(mut self, model: Arc<dyn ChatModel>) -> Self {
        self.model = Some(Arc::new(crate::llm::traced::TracedModel::new(model)));
        self
    }

    /// Adds an action selector after the built-in handoff selector.
    pub fn with_action_selector(mut self, selector: Arc<dyn ActionSelector>) -> Self {
        self.selectors.push(selector);
        self
    }

    /// Organization actions (action hooks) run through `stage`.
    pub fn with_actions(mut self, stage: Arc<dyn ActionStage>) -> Self {
        self.actions = Some(stage);
        self
    }

    /// Handles one customer turn.
    #[tracing::instrument(skip_all, fields(org = %turn.organization_id, conversation = %turn.conversation_id, channel = %turn.channel))]
    pub async fn handle(&self, turn: &Turn) -> Result<Reply> {
        self.run(turn, None).await
    }

    /// Handles one customer turn, sending the answer's pieces on `events` as they are ready;
    /// returns the full reply at the end.
    #[tracing::instrument(skip_all, fields(org = %turn.organization_id, conversation = %turn.conversation_id, channel = %turn.channel))]
    pub async fn handle_streaming(
        &self,
        turn: &Turn,
        events: mpsc::Sender<StreamEvent>,
    ) -> Result<Reply> {
        self.run(turn, Some(events)).await
    }
}
