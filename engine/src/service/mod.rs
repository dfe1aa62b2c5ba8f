//! Plain async functions behind every endpoint and CLI command: the HTTP handlers, the CLI,
//! the evaluation harness and the tests call the very same code, so behaviour cannot drift
//! between them.
//!
//! - [`orgs`] — create and list organizations (with their first API key).
//! - [`keys`] — issue, authenticate, list, revoke and rotate API keys.
//! - [`chat`] — one chat turn end to end (customer record, quota, agent, persistence).
//! - [`conversations`] — list conversations with cursor pagination, read threads.
//! - [`agent_config`] — read and patch an organization's agent configuration.
//! - [`lifecycle`] — handoff, assign, human reply, return to agent, resolve, close, auto-resolve.
//! - [`inbox`] — the human inbox and the quiet turn while a human holds a conversation.
//! - [`csat`] — customer satisfaction ratings.
//! - [`analytics`] — the analytics summary (SQL aggregates).
//! - [`users`] — dashboard team members: passwords, sign-in, sessions, invitations, roles.

pub mod agent_config;
pub mod analytics;
pub mod chat;
pub mod conversations;
pub mod csat;
pub mod inbox;
pub mod keys;
pub mod lifecycle;
pub mod orgs;
pub mod users;
