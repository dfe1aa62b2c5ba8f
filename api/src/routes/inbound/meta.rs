//! Meta webhooks (WhatsApp Cloud API and Instagram messaging): one URL per channel,
//! `/api/v1/channels/{id}/meta`.
//!
//! - `GET`: the subscription handshake; the challenge is echoed when `hub.verify_token` is the
//!   channel's `verify_token`, 403 otherwise.
//! - `POST`: a delivery, accepted only when `X-Hub-Signature-256` signs the raw body with the
//!   channel's `app_secret` (403 and nothing stored otherwise). Each customer message runs
//!   through the shared inbound path (duplicate deliveries answered once); replies go out
//!   through the outbound queue, so the webhook answers `200` at once with a count.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::channels::inbound::{self, ReplyMode, TurnResult};
use engine::channels::meta::{self, Handshake};
use engine::channels::{LoadedChannel, Provider};
use engine::{Error, ErrorKind};
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/channels/{id}/meta",
        get(verify_subscription).post(receive_delivery),
    )
}

/// Loads the channel `id`, a WhatsApp or an Instagram channel (404 for anything else).
async fn meta_channel(state: &AppState, id: &str) -> ApiResult<LoadedChannel> {
    match state
        .channels
        .load_inbound(id, Provider::MetaWhatsapp)
        .await
    {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(state
            .channels
            .load_inbound(id, Provider::MetaInstagram)
            .await?),
        other => Ok(other?),
    }
}

/// Answers Meta's subscription handshake.
#[tracing::instrument(skip_all, fields(channel = %id))]
pub async fn verify_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(handshake): ApiQuery<Handshake>,
) -> ApiResult<Response> {
    let channel = meta_channel(&state, &id).await?;
    let expected = channel.secrets.verify_token.as_deref().unwrap_or_default();
    let Some(challenge) = meta::verify_handshake(&handshake, expected) else {
        tracing::warn!(channel = %channel.config.id, "Meta handshake refused");
        return Err(Error::forbidden("the verify token does not match").into());
    };
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        challenge.to_owned(),
    )
        .into_response())
}

/// Receives a signed delivery and runs each customer message it carries.
#[tracing::instrument(skip_all, fields(channel = %id))]
pub async fn receive_delivery(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let channel = meta_channel(&state, &id).await?;
    let secret = channel.secrets.app_secret.as_deref().unwrap_or_default();
    let signature = headers
        .get(meta::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if !meta::verify_signature(secret, signature, &body) {
        tracing::warn!(channel = %channel.config.id, "Meta signature check failed");
        return Err(Error::forbidden("the request signature is missing or does not match").into());
    }
    let delivery = meta::parse(&body)?;
    let received = delivery.messages.len();
    // Messages for another business number or account of the same Meta app are not this
    // channel's: they are skipped, never answered.
    let messages = meta::inbound_for(&channel, delivery.messages);
    let skipped = delivery.ignored + (received - messages.len());
    let render = |_: Option<&TurnResult>| String::new();
    let mut processed = 0;
    let mut duplicates = 0;
    for message in messages {
        let answer = inbound::process(
            &state.channels,
            state.turns.as_ref(),
            &channel,
            message,
            ReplyMode::Queue,
            &render,
        )
        .await?;
        if answer.duplicate {
            duplicates += 1;
        } else {
            processed += 1;
        }
    }
    tracing::info!(processed, duplicates, skipped, "Meta delivery handled");
    Ok(Json(json!({
        "processed": processed,
        "duplicates": duplicates,
        "ignored": skipped,
    }))
    .into_response())
}
