//! The Blaigent engine: the customer-service agent and the domain it works on, with no HTTP.
//!
//! Map of the crate:
//! - [`ids`]: typed, prefixed identifiers (`org_`, `conv_`, `msg_`, ...).
//! - [`error`]: the one error type with a transport-free kind.
//! - [`channel`], [`config`]: channels and an organization's agent configuration.
//! - [`agent`]: the turn pipeline ([`agent::Agent::handle`]) and its contract types.
//! - [`embed`]: text embeddings (the local all-MiniLM-L6-v2 model).

pub mod agent;
pub mod channel;
pub mod config;
pub mod embed;
pub mod error;
pub mod ids;

pub use error::{Error, ErrorKind, Result};
