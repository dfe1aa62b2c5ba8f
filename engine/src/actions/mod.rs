//! Action hooks: the agent calls an organization's own backend (order lookup, refund,
//! booking, CRM update) through typed action definitions. No prompt engineering: an action is
//! a JSON Schema, an endpoint and a few policy settings.
//!
//! Map of the module:
//! - [`schema`]: the JSON Schema subset, checked at registration and applied to parameters.
//! - [`spec`]: an action as registered (validated [`ActionSpec`] -> stored [`Action`]).
//! - [`manage`]: create, list, get, update, delete (the dashboard endpoints call these).
//! - [`select`]: which action fits a turn offline (trigger intents, example utterances).
//! - [`slots`]: parameters found in the message, the conversation, memory and metadata.
//! - [`dialogue`]: the turn-by-turn state machine (follow-up questions, confirmation,
//!   policy limits, execution) behind [`ActionEngine`], the agent's action stage.
//! - [`tools`]: the language-model path (schemas as tools, tool calls checked).
//! - [`executor`]: the signed HTTP call to the backend (idempotency key, timeout, retries).
//! - [`audit`]: the execution log and the `action.executed` event.
//! - [`render`]: response templates, result summaries and redaction of sensitive fields.
//!
//! The wire contract with a backend is documented in `docs/actions.md`.

pub mod audit;
pub mod dialogue;
pub mod executor;
pub mod manage;
pub mod render;
pub mod schema;
pub mod select;
pub mod slots;
pub mod spec;
pub mod tools;

pub use dialogue::ActionEngine;
pub use spec::{Action, ActionKind, ActionSecrets, ActionSpec, Limit};
