//! The project's extractors. They wrap axum's so every rejection becomes the project's
//! `{"detail": ...}` body with the conventional status: malformed JSON 400, wrong types and
//! missing fields 422 (naming the field), wrong content type 415, too large 413, bad query
//! strings 400. [`AuthOrg`] hands handlers the organization the API key authenticated.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use engine::ids::{ApiKeyId, OrganizationId};
use engine::store::orgs::Plan;
use engine::Error;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body, deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError(json_rejection(&rejection))),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> Error {
    match rejection {
        JsonRejection::JsonDataError(e) => Error::unprocessable(strip(
            &e.body_text(),
            "Failed to deserialize the JSON body into the target type: ",
        )),
        JsonRejection::JsonSyntaxError(e) => Error::invalid(format!(
            "the body is not valid JSON: {}",
            strip(&e.body_text(), "Failed to parse the request body as JSON: ")
        )),
        JsonRejection::MissingJsonContentType(_) => Error::unsupported_media_type(
            "the body must be JSON, sent with Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Error::too_large("the request body is larger than this server accepts")
        }
        other => Error::invalid(format!("the body could not be read: {}", other.body_text())),
    }
}

fn strip(text: &str, prefix: &str) -> String {
    text.strip_prefix(prefix).unwrap_or(text).to_owned()
}

/// A query string, deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError(query_rejection(&rejection))),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> Error {
    Error::invalid(format!(
        "the query string is not valid: {}",
        strip(
            &rejection.body_text(),
            "Failed to deserialize query string: "
        )
    ))
}

/// Path parameters, deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError(path_rejection(&rejection))),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> Error {
    Error::invalid(format!("the path is not valid: {}", rejection.body_text()))
}

/// The organization an API key authenticated, placed in the request by the auth middleware
/// ([`crate::auth::require_api_key`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthOrg {
    pub organization_id: OrganizationId,
    pub key_id: ApiKeyId,
    pub plan: Plan,
    pub monthly_conversation_quota: Option<i64>,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthOrg {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AuthOrg>().cloned().ok_or_else(|| {
            // A route that needs an organization was mounted outside the authenticated group.
            ApiError(Error::internal(
                "AuthOrg requested on a route without the auth middleware",
            ))
        })
    }
}

/// Parses an optional JSON body: empty means `T::default()`; otherwise the same errors as
/// [`ApiJson`] (400 for malformed JSON, 422 naming the field).
pub fn json_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => Ok(value),
        Err(e) if e.inner().is_data() => Err(ApiError(Error::unprocessable(format!(
            "{}: {}",
            e.path(),
            e.inner()
        )))),
        Err(e) => Err(ApiError(Error::invalid(format!(
            "the body is not valid JSON: {}",
            e.inner()
        )))),
    }
}
