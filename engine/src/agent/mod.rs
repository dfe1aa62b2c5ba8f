//! The agent: one customer turn in, one reply out. [`Agent::handle`] runs the stages of
//! DESIGN.md in order (language, policy in, intent, memory, retrieval, action selection,
//! response, policy out); each stage is a plain function in its own module so a turn can be
//! traced, tested and replayed stage by stage.
//!
//! This file holds the contract ([`Turn`], [`Reply`]) that the API and the evaluation harness
//! call; the stages fill it in.

mod types;

pub use types::*;

use crate::error::Result;

/// The customer-service agent of one process; shared by every organization (per-organization
/// state is loaded per turn).
#[derive(Default)]
pub struct Agent {}

impl Agent {
    pub fn new() -> Self {
        Self {}
    }

    /// Handles one customer turn. Minimal placeholder until the engine stages land: it echoes
    /// the configured greeting and reports intent `other`.
    #[tracing::instrument(skip_all, fields(org = %turn.organization_id, conversation = %turn.conversation_id))]
    pub async fn handle(&self, turn: &Turn) -> Result<Reply> {
        Ok(Reply {
            response: turn.config.greeting.clone(),
            intent: "other".into(),
            confidence: 0.0,
            language: turn
                .language
                .clone()
                .unwrap_or_else(|| turn.config.default_language.clone()),
            stored_message: turn.message.clone(),
            ..Reply::default()
        })
    }
}
