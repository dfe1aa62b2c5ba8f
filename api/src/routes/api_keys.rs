//! `POST|GET /api/v1/dashboard/api-keys`, `DELETE /api/v1/dashboard/api-keys/{id}` and
//! `POST /api/v1/dashboard/api-keys/{id}/rotate`. Secrets appear only in the responses that
//! create them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use engine::ids::ApiKeyId;
use engine::service::keys::{self, IssuedKey};
use engine::store::keys::ApiKey;
use engine::store::now_ms;
use engine::Error;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{json_or_default, ApiPath, AuthOrg};
use crate::state::AppState;
use crate::wire::{opt_timestamp, timestamp};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/dashboard/api-keys",
            get(list_keys).post(create_key),
        )
        .route("/api/v1/dashboard/api-keys/{id}", delete(revoke_key))
        .route("/api/v1/dashboard/api-keys/{id}/rotate", post(rotate_key))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_key, list_keys, revoke_key, rotate_key),
    components(schemas(CreateKeyRequest, ApiKeyBody, IssuedKeyBody, ApiKeyListResponse))
)]
pub struct ApiDoc;

/// A new key's name.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A label for the key (at most 100 characters), e.g. `backend-prod`.
    #[serde(default)]
    pub name: Option<String>,
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyBody {
    pub id: String,
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// `active`, `expiring` (rotated, still inside its grace period), `expired` or `revoked`.
    pub status: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub expires_at: Option<String>,
    pub replaced_by: Option<String>,
}

impl From<ApiKey> for ApiKeyBody {
    fn from(k: ApiKey) -> Self {
        let now = now_ms();
        let status = match (k.revoked_at, k.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now => "expired",
            (None, Some(_)) => "expiring",
            (None, None) => "active",
        };
        ApiKeyBody {
            id: k.id.into_string(),
            name: k.name,
            prefix: k.prefix,
            status: status.to_owned(),
            created_at: timestamp(k.created_at),
            last_used_at: opt_timestamp(k.last_used_at),
            revoked_at: opt_timestamp(k.revoked_at),
            expires_at: opt_timestamp(k.expires_at),
            replaced_by: k.replaced_by.map(ApiKeyId::into_string),
        }
    }
}

/// A key just issued, with its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKeyBody {
    #[serde(flatten)]
    pub key: ApiKeyBody,
    /// The secret: send it as `Authorization: Bearer <api_key>`. It cannot be shown again.
    pub api_key: String,
}

impl From<IssuedKey> for IssuedKeyBody {
    fn from(issued: IssuedKey) -> Self {
        IssuedKeyBody {
            key: issued.key.into(),
            api_key: issued.secret,
        }
    }
}

/// The organization's keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyListResponse {
    pub api_keys: Vec<ApiKeyBody>,
}

/// Creates an API key.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/api-keys",
    tag = "dashboard",
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "The new key with its secret", body = IssuedKeyBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_key(
    State(state): State<AppState>,
    auth: AuthOrg,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<IssuedKeyBody>)> {
    // The body is optional: an empty POST creates a key named `default`.
    let request: CreateKeyRequest = json_or_default(&body)?;
    let name = request.name.unwrap_or_default();
    let issued = keys::create_key(&state.store, &auth.organization_id, &name).await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Lists the organization's API keys (prefix and last use, never the secret).
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/api-keys",
    tag = "dashboard",
    responses(
        (status = 200, description = "The keys", body = ApiKeyListResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<Json<ApiKeyListResponse>> {
    let keys = keys::list_keys(&state.store, &auth.organization_id).await?;
    Ok(Json(ApiKeyListResponse {
        api_keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Revokes an API key at once.
#[utoipa::path(
    delete,
    path = "/api/v1/dashboard/api-keys/{id}",
    tag = "dashboard",
    params(("id" = String, Path, description = "Key id (key_...)")),
    responses(
        (status = 200, description = "The revoked key", body = ApiKeyBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such key in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ApiKeyBody>> {
    let id = parse_key_id(&id)?;
    let key = keys::revoke_key(&state.store, &auth.organization_id, &id).await?;
    Ok(Json(key.into()))
}

/// Issues a new secret; the old one keeps working for the configured grace period.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/api-keys/{id}/rotate",
    tag = "dashboard",
    params(("id" = String, Path, description = "Key id (key_...)")),
    responses(
        (status = 201, description = "The replacement key with its secret", body = IssuedKeyBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such key in this organization", body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn rotate_key(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<IssuedKeyBody>)> {
    let id = parse_key_id(&id)?;
    let issued = keys::rotate_key(
        &state.store,
        &auth.organization_id,
        &id,
        state.config.key_rotation_grace_secs,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

fn parse_key_id(raw: &str) -> Result<ApiKeyId, Error> {
    ApiKeyId::parse(raw).map_err(|_| {
        Error::not_found(format!(
            "no API key '{}' in this organization",
            raw.chars().take(40).collect::<String>()
        ))
    })
}
