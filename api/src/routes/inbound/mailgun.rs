//! Mailgun inbound route: `POST /api/v1/channels/{id}/mailgun`, the target of a Mailgun route's
//! `forward()` action.
//!
//! The body is `multipart/form-data` (attachments as files) or url-encoded. Before anything
//! is stored or run, the `timestamp`/`token`/`signature` fields are checked against the
//! channel's `signing_key`: the signature must match, the timestamp must be fresh and the
//! token unused (403 otherwise). The e-mail then runs through the shared inbound path,
//! deduplicated by its `Message-Id`; the reply goes out threaded through the outbound queue.

use std::sync::LazyLock;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use engine::channels::inbound::{self, ReplyMode, TurnResult};
use engine::channels::mailgun::{self, Attachment, TokenCache};
use engine::channels::Provider;
use engine::Error;
use serde_json::json;

use super::form_pairs;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::state::AppState;

/// Tokens of the requests accepted in the freshness window (this process).
static TOKENS: LazyLock<TokenCache> = LazyLock::new(TokenCache::default);

/// Most attachments noted from one e-mail.
const MAX_ATTACHMENTS: usize = 20;

/// Largest request accepted: Mailgun accepts messages up to 25 MB, and a route forwards them
/// whole with their attachments (read and dropped as they stream, never buffered whole).
/// The server-wide body limit would refuse most e-mails with an attachment, and a refused
/// e-mail is lost once Mailgun stops retrying.
const MAX_EMAIL_BYTES: usize = 26 * 1024 * 1024;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels/{id}/mailgun", post(receive_email))
        .layer(DefaultBodyLimit::max(MAX_EMAIL_BYTES))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::too_large(
            "the e-mail is larger than this server accepts",
        ))
    } else {
        ApiError(Error::invalid(format!(
            "the multipart body is invalid: {e}"
        )))
    }
}

/// Reads the form's text fields, and the names of its files.
async fn read_form(
    state: &AppState,
    request: Request,
) -> ApiResult<(Vec<(String, String)>, Vec<Attachment>)> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("multipart/form-data") {
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| {
                ApiError(Error::too_large(
                    "the e-mail is larger than this server accepts",
                ))
            })?;
        return Ok((form_pairs(&body)?, Vec::new()));
    }
    let mut multipart = Multipart::from_request(request, state).await.map_err(|e| {
        ApiError(Error::invalid(format!(
            "the multipart body is invalid: {e}"
        )))
    })?;
    let mut fields = Vec::new();
    let mut attachments = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        if let Some(filename) = field.file_name().map(str::to_owned) {
            let content_type = field.content_type().map(str::to_owned);
            // The file itself is not kept: its chunks are read and dropped.
            while field.chunk().await.map_err(multipart_error)?.is_some() {}
            if attachments.len() < MAX_ATTACHMENTS {
                attachments.push(Attachment {
                    filename,
                    content_type,
                });
            }
        } else {
            fields.push((name, field.text().await.map_err(multipart_error)?));
        }
    }
    Ok((fields, attachments))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Receives one e-mail.
#[tracing::instrument(skip_all, fields(channel = %id))]
pub async fn receive_email(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: Request,
) -> ApiResult<Response> {
    let channel = state.channels.load_inbound(&id, Provider::Mailgun).await?;
    let (fields, attachments) = read_form(&state, request).await?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let key = channel.secrets.signing_key.as_deref().unwrap_or_default();
    if let Err(rejection) = TOKENS.verify(
        key,
        field("timestamp"),
        field("token"),
        field("signature"),
        now_secs(),
    ) {
        tracing::warn!(channel = %channel.config.id, reason = rejection.as_str(), "Mailgun signature check failed");
        return Err(
            Error::forbidden("the request signature is missing, stale or does not match").into(),
        );
    }
    let email = mailgun::inbound::parse(&fields, attachments)?;
    let render = |_: Option<&TurnResult>| String::new();
    let answer = inbound::process(
        &state.channels,
        state.turns.as_ref(),
        &channel,
        mailgun::to_inbound(email),
        ReplyMode::Queue,
        &render,
    )
    .await?;
    Ok(Json(json!({ "duplicate": answer.duplicate })).into_response())
}
