//! The routes, one module per resource. Each module exports `router()` (its paths, with full
//! `/api/v1/...` paths for grep-ability) and `ApiDoc` (its OpenAPI fragment, merged in
//! [`openapi::document`]).
//!
//! To add a resource: create `routes/<name>.rs`, add `pub mod <name>;` here, one
//! `.merge(<name>::router())` line in [`authenticated`] (or [`public`] for routes that must
//! not require an API key), and one `doc.merge(...)` line in [`openapi::document`].

pub mod actions;
pub mod agent_config;
pub mod analytics;
pub mod api_keys;
pub mod channels;
pub mod chat;
pub mod chat_stream;
pub mod conversations;
pub mod fallback;
pub mod health;
pub mod inbound;
pub mod inbox;
pub mod intents;
pub mod knowledge;
pub mod lifecycle;
pub mod memory;
pub mod openapi;
pub mod recording;
pub mod webhooks;
pub mod widget;

use axum::Router;

use crate::state::AppState;

/// Routes behind `Authorization: Bearer <key>` and the organization's rate limit.
pub fn authenticated() -> Router<AppState> {
    Router::new()
        .merge(chat::router())
        .merge(actions::router())
        .merge(memory::router())
        .merge(conversations::router())
        .merge(agent_config::router())
        .merge(intents::router())
        .merge(api_keys::router())
        .merge(webhooks::router())
        .merge(widget::dashboard_router())
        .merge(knowledge::router())
        .merge(lifecycle::router())
        .merge(inbox::router())
        .merge(analytics::router())
        .merge(channels::router())
        .merge(recording::router())
}

/// Routes open to anyone: health checks and the API description.
pub fn public() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(inbound::router())
        .merge(openapi::router())
}
