//! The dashboard: the web console where a business runs its agent, served at `/dashboard` by
//! the same server. Server-rendered HTML (every value escaped) with one small script for
//! progressive enhancement; assets are compiled into the binary, nothing comes from a CDN.
//!
//! Map:
//! - [`settings`] — cookie security and session lifetime (`BLAIGENT_DASHBOARD_*`).
//! - [`session`] — the session cookie, the [`session::Viewer`] of a page, the page middleware
//!   (sign-in required, CSRF on every state-changing request).
//! - [`api_auth`] — the JSON API with a session cookie instead of an API key (CSRF header,
//!   role check), called from [`crate::auth::require_api_key`].
//! - [`roles`] — which role each API path and page needs.
//! - [`login`] / [`login_limit`] — sign-in, sign-out, invitations; failed attempts limited per
//!   e-mail and per IP.
//! - [`audit`] — the configuration audit log (recording and the owners' page).
//! - [`html`] — escaping and the page layout; [`charts`] — inline SVG charts; [`assets`] —
//!   CSS and JS.
//! - one module per page: [`overview`], [`inbox`], [`conversations`], [`knowledge`],
//!   [`agent`], [`actions`], [`webhooks`], [`channels`], [`widget`], [`api_keys`], [`team`].

pub mod actions;
pub mod agent;
pub mod api_auth;
pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod channels;
pub mod charts;
pub mod conversations;
pub mod html;
pub mod inbox;
pub mod knowledge;
pub mod login;
pub mod login_limit;
pub mod overview;
pub mod roles;
pub mod session;
pub mod settings;
pub mod team;
pub mod webhooks;
pub mod widget;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// Shared dashboard state: its settings (sign-in limits live in the database).
#[derive(Debug, Default)]
pub struct DashboardState {
    pub settings: settings::DashboardSettings,
}

impl DashboardState {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<DashboardState> {
        Ok(DashboardState {
            settings: settings::DashboardSettings::from_env(|name| std::env::var(name).ok())?,
        })
    }
}

/// Every dashboard route: public ones (sign-in, invitations, assets) and the pages behind a
/// session.
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/dashboard", get(overview::page))
        .route("/dashboard/inbox", get(inbox::page))
        .route("/dashboard/inbox/feed", get(inbox::feed))
        .route("/dashboard/conversations", get(conversations::list_page))
        .route(
            "/dashboard/conversations/{id}",
            get(conversations::detail_page),
        )
        .route(
            "/dashboard/conversations/{id}/thread",
            get(conversations::thread),
        )
        .route("/dashboard/knowledge", get(knowledge::page))
        .route("/dashboard/knowledge/list", get(knowledge::list_fragment))
        .route("/dashboard/agent", get(agent::page))
        .route("/dashboard/actions", get(actions::page))
        .route("/dashboard/webhooks", get(webhooks::page))
        .route("/dashboard/channels", get(channels::page))
        .route("/dashboard/widget", get(widget::page))
        .route("/dashboard/api-keys", get(api_keys::page))
        .route("/dashboard/team", get(team::page).post(team::invite))
        .route("/dashboard/team/{id}/role", post(team::change_role))
        .route("/dashboard/team/{id}/remove", post(team::remove))
        .route("/dashboard/audit", get(audit::page))
        .route("/dashboard/logout", post(login::logout))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            session::require_session,
        ));
    Router::new()
        .merge(pages)
        .route("/dashboard/login", get(login::form).post(login::submit))
        .route(
            "/dashboard/invite/{token}",
            get(login::invite_form).post(login::accept_invite),
        )
        .route("/dashboard/assets/dashboard.css", get(assets::css))
        .route("/dashboard/assets/dashboard.js", get(assets::js))
}
