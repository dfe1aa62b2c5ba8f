//! The embed widget's server side, as plain functions (no HTTP): which pages may embed an
//! organization's agent, who the visitor is, and the short-lived tokens that stand in for an
//! API key in the browser (the secret API key never reaches a browser).
//!
//! - [`origin`] — normalises a page's `Origin` and checks it against `allowed_origins`.
//! - [`signature`] — verifies `data-customer-signature` (hex HMAC-SHA256 of the customer id
//!   with the organization's widget secret) and makes new secrets.
//! - [`token`] — stateless visitor session tokens: HMAC-signed, bound to an organization, a
//!   customer id and an origin, expiring after [`token::DEFAULT_TTL_SECS`].
//! - [`session`] — the service functions behind the widget endpoints: public configuration,
//!   starting a visitor session, authenticating a token, chatting, polling the thread, rating
//!   the conversation (CSAT) and rotating the widget secret.

pub mod origin;
pub mod session;
pub mod signature;
pub mod token;
