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

/// The `Retry-After` of a 503 caused by an unavailable dependency, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

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
            ErrorKind::Unavailable => {
                // A dependency (usually the database) is away: clients and load balancers
                // should come back shortly rather than give up.
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
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

/// Documents, on every operation of `doc`, the error responses the shared layers can produce
/// whatever the handler: 400 (malformed JSON or query), 401 (no or bad key), 429 (rate limit),
/// 503 (database away, or chat capacity reached) and, for operations with a body, 413 (too
/// large) and 415 (not JSON). Handlers document their own statuses; this adds only the
/// missing ones, so clients and fuzzers see every status the server really sends.
pub fn document_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let authenticated = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let mut common = vec![(
                "503",
                "Temporarily unavailable (database away, or chat capacity reached); see Retry-After",
            )];
            if authenticated {
                common.extend([
                    ("400", "Malformed request (JSON, query string or path)"),
                    ("401", "Missing, unknown, revoked or expired credentials"),
                    ("429", "Rate limit or quota exhausted; see Retry-After"),
                ]);
            }
            if operation.request_body.is_some() {
                common.extend([
                    ("413", "The body is larger than the configured limit"),
                    (
                        "422",
                        "The body does not match the schema (missing, unknown or invalid field)",
                    ),
                    (
                        "415",
                        "The body must be sent with Content-Type: application/json",
                    ),
                ]);
            }
            for (status, description) in common {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            }
        }
    }
}
