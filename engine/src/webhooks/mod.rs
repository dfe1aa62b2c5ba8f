//! Webhooks: signed, durable, retried delivery of [events](crate::events) to the HTTP
//! endpoints an organization subscribes.
//!
//! - [`signing`]: secrets, the HMAC-SHA256 signature and its headers, verification.
//! - [`schedule`]: the retry ladder with jitter.
//! - [`guard`]: the SSRF guard for endpoint URLs (at creation and at every connection).
//! - [`dispatcher`]: the background worker that claims due deliveries and sends them.
//! - [`settings`]: timeouts, retry ladder, limits, allowlist; read from `BLAIGENT_WEBHOOK_*`.
//! - [`manage`]: the plain async functions behind the subscription API (create, update,
//!   rotate, test, delivery log, replay).
//!
//! Life of a delivery: the event's transaction queues one `pending` row per subscribed
//! endpoint; a dispatcher claims it (`delivering`, with a lease), POSTs the stored body and
//! records the attempt: `succeeded` on any 2xx, else `failed` with the next retry time, or
//! `dead` once the ladder is exhausted. A dispatcher that dies mid-delivery loses its lease and
//! another one (or the restarted process) takes the delivery over, with the same event id.

pub mod dispatcher;
pub mod guard;
pub mod manage;
pub mod schedule;
pub mod settings;
pub mod signing;

pub use dispatcher::Dispatcher;
pub use guard::UrlGuard;
pub use schedule::RetrySchedule;
pub use settings::WebhookSettings;
