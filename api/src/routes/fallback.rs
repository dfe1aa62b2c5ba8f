//! JSON answers for requests no route handles: unknown paths (404) and known paths with a
//! method they do not support (405).

use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

use crate::error::detail;

/// 404 for paths no route matches.
pub async fn not_found(uri: Uri) -> Response {
    detail(
        StatusCode::NOT_FOUND,
        format!("no route for {}", truncate(uri.path())),
    )
}

/// 405 for a known path with an unsupported method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", truncate(uri.path())),
    )
}

fn truncate(path: &str) -> String {
    path.chars().take(200).collect()
}
