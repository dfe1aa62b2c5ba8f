//! `GET /api/v1/openapi.json`: the OpenAPI 3 document, generated from the handlers'
//! `#[utoipa::path]` annotations. Every route module exports an `ApiDoc`; [`document`] merges
//! them, so a new module adds one line there. The document is public (it holds no
//! organization's data), unlike the rest of `/api/v1`.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Blaigent API",
        description = "Self-hostable customer-service AI agent: chat, conversations, \
            configuration and keys. Authenticate with `Authorization: Bearer <API key>`."
    ),
    paths(openapi_json),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
struct BaseDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Returns the whole API description.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = BaseDoc::openapi();
    doc.merge(super::health::ApiDoc::openapi());
    doc.merge(super::chat::ApiDoc::openapi());
    doc.merge(super::memory::ApiDoc::openapi());
    doc.merge(super::conversations::ApiDoc::openapi());
    doc.merge(super::agent_config::ApiDoc::openapi());
    doc.merge(super::intents::ApiDoc::openapi());
    doc.merge(super::api_keys::ApiDoc::openapi());
    doc.merge(super::webhooks::ApiDoc::openapi());
    doc.merge(super::knowledge::ApiDoc::openapi());
    doc.merge(super::lifecycle::ApiDoc::openapi());
    doc.merge(super::inbox::ApiDoc::openapi());
    doc.merge(super::analytics::ApiDoc::openapi());
    doc.merge(super::channels::ApiDoc::openapi());
    doc.merge(super::actions::ApiDoc::openapi());
    doc.merge(super::recording::ApiDoc::openapi());
    // Other route modules: one `doc.merge(super::<module>::ApiDoc::openapi());` line each.
    crate::error::document_common_errors(&mut doc);
    doc
}

/// Serves the OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
