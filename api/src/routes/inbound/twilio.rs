//! Twilio webhooks: messaging (SMS and WhatsApp) and Voice (incoming call, gather callbacks,
//! status callback). Every request's `X-Twilio-Signature` is checked against the channel's
//! auth token over the URL Twilio requested and the form parameters (403 on mismatch).
//! Messaging replies go by the Messages REST call through the outbound queue, so the webhook
//! answers with empty TwiML; voice answers with TwiML.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use engine::channels::inbound::{self, ReplyMode, TurnResult};
use engine::channels::{twilio, twiml, voice, LoadedChannel, Provider};
use serde::Deserialize;

use super::{form_pairs, requested_url, xml};
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/channels/{id}/twilio/messages",
            post(receive_message),
        )
        .route("/api/v1/channels/{id}/twilio/voice", post(incoming_call))
        .route(
            "/api/v1/channels/{id}/twilio/voice/gather",
            post(gather_speech),
        )
        .route(
            "/api/v1/channels/{id}/twilio/voice/status",
            post(call_status),
        )
}

/// Loads the channel and checks the request's signature; returns the channel and the params.
async fn verified(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    body: &[u8],
) -> ApiResult<(LoadedChannel, Vec<(String, String)>)> {
    let channel = state.channels.load_inbound(id, Provider::Twilio).await?;
    let params = form_pairs(body)?;
    let url = requested_url(state, headers, uri);
    let header = headers
        .get(twilio::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let token = channel.secrets.auth_token.as_deref().unwrap_or_default();
    if let Err(err) = twilio::verify(token, &url, &params, header) {
        tracing::warn!(channel = %channel.config.id, "Twilio signature check failed");
        return Err(err.into());
    }
    Ok((channel, params))
}

/// Receives an SMS or WhatsApp message.
#[tracing::instrument(skip_all, fields(channel = %id))]
pub async fn receive_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, params) = verified(&state, &id, &headers, &uri, &body).await?;
    let message = twilio::parse_message(&params)?;
    let render = |_: Option<&TurnResult>| twiml::empty();
    let answer = inbound::process(
        &state.channels,
        state.turns.as_ref(),
        &channel,
        message,
        ReplyMode::Queue,
        &render,
    )
    .await?;
    Ok(xml(StatusCode::OK, answer.body))
}

fn gather_url(state: &AppState, headers: &HeaderMap, id: &str, turn: u32, silent: bool) -> String {
    let base = crate::routes::channels::public_base(state, headers);
    let silent = if silent { "&silent=1" } else { "" };
    format!("{base}/api/v1/channels/{id}/twilio/voice/gather?turn={turn}{silent}")
}

/// Answers an incoming call: greeting and the first speech gather.
#[tracing::instrument(skip_all, fields(channel = %id))]
pub async fn incoming_call(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, _params) = verified(&state, &id, &headers, &uri, &body).await?;
    let url = gather_url(&state, &headers, &id, 1, false);
    let body = voice::incoming(&state.channels, &channel, &url).await?;
    Ok(xml(StatusCode::OK, body))
}

/// Query of a gather callback: which turn of the call, and whether the last one was silent.
#[derive(Debug, Default, Deserialize)]
pub struct GatherQuery {
    #[serde(default)]
    pub turn: Option<u32>,
    #[serde(default)]
    pub silent: Option<u8>,
}

/// Takes the caller's speech as one turn and answers with speech (and the next gather, or a
/// `<Dial>` to the handoff number).
#[tracing::instrument(skip_all, fields(channel = %id))]
pub async fn gather_speech(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<GatherQuery>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, params) = verified(&state, &id, &headers, &uri, &body).await?;
    let turn = query.turn.unwrap_or(1).clamp(1, 10_000);
    let next = {
        let state = state.clone();
        let headers = headers.clone();
        let id = id.clone();
        move |silent: bool| gather_url(&state, &headers, &id, turn + 1, silent)
    };
    let answer = voice::gathered(
        &state.channels,
        state.turns.as_ref(),
        &channel,
        &params,
        turn,
        query.silent.unwrap_or(0) == 1,
        &next,
    )
    .await?;
    Ok(xml(StatusCode::OK, answer.body))
}

/// Call status callback: a finished call closes its conversation.
#[tracing::instrument(skip_all, fields(channel = %id))]
pub async fn call_status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, params) = verified(&state, &id, &headers, &uri, &body).await?;
    voice::status(&state.channels, &channel, &params).await?;
    Ok(xml(StatusCode::OK, twiml::empty()))
}
