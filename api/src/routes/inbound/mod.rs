//! Inbound provider webhooks: `/api/v1/channels/{channel_id}/<provider>/...`. Public (providers
//! carry no API key): each request is authenticated by the provider's signature, checked with
//! the channel's own credentials, before anything is stored or run; a bad signature is 403.
//! The channel id in the path names the organization.
//!
//! One file per provider ([`twilio`]; Meta and Mailgun add theirs); each parses, verifies,
//! and calls `engine::channels::inbound::process`.

pub mod mailgun;
pub mod meta;
pub mod twilio;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use engine::Error;

use crate::state::AppState;

/// Routes of every provider.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(twilio::router())
        .merge(meta::router())
        .merge(mailgun::router())
}

/// The URL the provider requested, as it signed it: `BLAIGENT_PUBLIC_URL` (or the request's
/// scheme and host) followed by the path and query.
pub fn requested_url(state: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let base = super::channels::public_base(state, headers);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{base}{path}")
}

/// Parses a form-encoded body into its pairs, in order (repeated names kept).
pub fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, Error> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map_err(|_| {
        Error::invalid("the body is not form-encoded (application/x-www-form-urlencoded)")
    })
}

/// An XML (TwiML) response.
pub fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Stops the channel dispatcher when dropped (at the end of [`crate::serve`]).
#[derive(Debug)]
pub struct ChannelDispatcherGuard(tokio::task::JoinHandle<()>);

impl Drop for ChannelDispatcherGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the outbound channel dispatcher unless `BLAIGENT_CHANNEL_DISPATCHER=off`.
pub fn start_dispatcher(state: &AppState) -> Option<ChannelDispatcherGuard> {
    if !state.channels.settings().dispatch {
        tracing::info!("channel dispatcher off by configuration");
        return None;
    }
    Some(ChannelDispatcherGuard(
        engine::channels::outbound::spawn_dispatcher(state.channels.clone()),
    ))
}
