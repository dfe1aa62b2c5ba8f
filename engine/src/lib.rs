//! The Blaigent engine: the customer-service agent and the domain it works on, with no HTTP.
//!
//! Map of the crate:
//! - [`ids`]: typed, prefixed identifiers (`org_`, `conv_`, `msg_`, ...).
//! - [`error`]: the one error type with a transport-free kind.
//! - [`channel`], [`config`]: channels and an organization's agent configuration.
//! - [`channels`]: provider channels (Twilio, Meta, Mailgun): config, identities, inbound, outbound.
//! - [`actions`]: action hooks (typed backend actions: selection, slot filling, signed calls).
//! - [`agent`]: the turn pipeline ([`agent::Agent::handle`]) and its contract types.
//! - [`embed`]: text embeddings (the local all-MiniLM-L6-v2 model).
//! - [`encoder`]: the same model in candle, fine-tuned on an organization's intent examples.
//! - [`knowledge`]: knowledge-base documents, chunks and scored passages.
//! - [`index`]: the vector index (embedded Qdrant or a Qdrant server) and BM25 keyword index.
//! - [`retrieval`]: hybrid retrieval (vectors + BM25, reciprocal-rank fusion, relevance cut-off).
//! - [`llm`]: the optional language model (OpenAI-compatible) and its prompts.
//! - [`memory`]: customer facts and conversation summaries, extracted and recalled.
//! - [`language`]: language identification (ISO 639-1) with a fallback to the default.
//! - [`intent`]: intent classification with calibrated confidence and out-of-scope detection.
//! - [`policy`]: guardrails on the way in (PII, injection, blocked topics, escalation) and out.
//! - [`text`]: word, stem and sentence helpers shared by the stages.
//! - [`service`]: plain async functions behind every endpoint and CLI command.
//! - [`rewrite`]: follow-up questions made self-contained for retrieval.
//! - [`respond`]: the offline grounded responder and channel shaping.
//! - [`store`]: relational storage over SQLite or PostgreSQL (one `sqlx::AnyPool`).
//! - [`events`]: the event types and the durable outbox other code writes events to.
//! - [`webhooks`]: signed, retried delivery of events to subscribed endpoints.
//! - [`ssrf`]: the one SSRF policy for every URL the server connects to on an organization's behalf.
//! - [`signing`]: the HMAC-SHA256 hex helper shared by webhook, Meta and Mailgun signatures.
//! - [`widget`]: the embed widget's origin checks, visitor tokens and customer signatures.

pub mod actions;
pub mod agent;
pub mod channel;
pub mod channels;
pub mod config;
pub mod embed;
pub mod encoder;
pub mod error;
pub mod events;
pub mod ids;
pub mod index;
pub mod intent;
pub mod knowledge;
pub mod language;
pub mod llm;
pub mod memory;
pub mod policy;
pub mod respond;
pub mod retrieval;
pub mod rewrite;
pub mod service;
pub mod signing;
pub mod ssrf;
pub mod store;
pub mod text;
pub mod webhooks;
pub mod widget;

pub use error::{Error, ErrorKind, Result};
