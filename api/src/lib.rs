//! The Blaigent server (`blaigent`): HTTP API, authentication, rate limits and the operator
//! CLI, over the [`engine`].
//!
//! Map of the crate:
//! - [`config`] — settings from flags, environment and an optional TOML file.
//! - [`state`] — [`AppState`], the handles every handler shares, built in one place.
//! - [`routes`] — one module per resource, each with its router and OpenAPI fragment.
//! - [`auth`] — the API-key and rate-limit middleware in front of `/api/v1`.
//! - [`rate_limit`] — per-organization token buckets.
//! - [`limits`] — edge limits: header and request timeouts, connection cap, no compressed bodies.
//! - [`connections`] — the accept loop that applies them.
//! - [`extract`] — extractors whose rejections become `{"detail": ...}` bodies; [`extract::AuthOrg`].
//! - [`error`] — engine errors to HTTP statuses, in one `match`.
//! - [`cli`] — the `blaigent` command line (serve, org, key).
//! - [`dashboard`] — the web console at `/dashboard`: sign-in, roles, pages, audit log.
//! - [`telemetry`] — logging set-up.
//!
//! [`app`] builds the router and [`serve`] runs it, so tests bind `127.0.0.1:0` and run the
//! real server in-process.

pub mod agent_setup;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod limits;
pub mod overload;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod wire;

use std::future::Future;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use state::AppState;

/// Builds the whole HTTP application.
pub fn app(state: AppState) -> Router {
    let api = routes::authenticated().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_api_key,
    ));
    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(api)
        .merge(routes::public())
        .merge(routes::widget::public_router(state.clone()))
        .merge(dashboard::router(state.clone()))
        .fallback(routes::fallback::not_found)
        .method_not_allowed_fallback(routes::fallback::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            overload::Overload::new(&state.config.overload),
            overload::limit,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(
            // Outermost first: the request id exists before the span opens, the span covers
            // everything, the id is copied to the response, and a panic becomes a 500 inside
            // the span instead of a dropped connection.
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(axum::middleware::from_fn_with_state(
                    state.config.limits.request_timeout,
                    limits::request_timeout,
                ))
                .layer(axum::middleware::from_fn(limits::refuse_encoded_bodies)),
        )
        .with_state(state)
}

fn request_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        route,
        request_id,
        org = tracing::field::Empty,
    )
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %what, "a handler panicked");
    error::detail(
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong on our side; quote the X-Request-Id header when reporting it",
    )
}

/// Serves `state` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish before returning.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _dispatcher = routes::webhooks::start_dispatcher(&state);
    let _knowledge_worker = state
        .config
        .knowledge
        .run_worker
        .then(|| state.knowledge.spawn_worker());
    let _channel_dispatcher = routes::inbound::start_dispatcher(&state);
    let _auto_resolver = engine::service::lifecycle::spawn_auto_resolver(
        state.store.clone(),
        &state.config.auto_resolve,
    );
    let _delta_folder = engine::service::analytics::spawn_delta_folder(
        state.store.clone(),
        state.config.analytics_fold_interval,
    );
    let _bucket_pruner = rate_limit::spawn_pruner(state.limiter.clone());
    let limits = state.config.limits.clone();
    connections::serve_router(listener, app(state), &limits, shutdown).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// How long the binary waits for in-flight requests after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
