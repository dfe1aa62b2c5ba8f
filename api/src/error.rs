//! The HTTP face of engine errors: one exhaustive `match` from [`ErrorKind`] to a status, and
//! always the body `{"detail": "..."}`. Server-side failures (5xx) say only that something
//! failed; their cause chain is logged once, here, inside the request's span (which carries
//! the request id).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::{Error, ErrorKind};
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a human; names the offending field for validation errors.
    pub detail: String,
}

/// An engine error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

/// A handler result.
pub type ApiResult<T> = Result<T, ApiError>;

/// Returns the status of an error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Builds a `{"detail": ...}` response.
pub fn detail(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            detail: message.into(),
        }),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status = status_of(err.kind());
        let message = if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %err.chain(), "request failed");
            match err.kind() {
                ErrorKind::Unavailable => {
                    "the service is temporarily unavailable; retry shortly".to_owned()
                }
                _ => "something went wrong on our side; quote the X-Request-Id header when \
                      reporting it"
                    .to_owned(),
            }
        } else {
            tracing::debug!(status = status.as_u16(), error = %err.chain(), "request refused");
            err.message().to_owned()
        };
        let mut response = detail(status, message);
        match err.kind() {
            ErrorKind::RateLimited { retry_after_secs } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                );
            }
            ErrorKind::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
