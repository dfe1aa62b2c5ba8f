//! The dashboard's stylesheet and script, compiled into the binary (no CDN, nothing read
//! from disk at run time). Cached for five minutes so a release reaches browsers quickly.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");
const CACHE: &str = "public, max-age=300";

/// `GET /dashboard/assets/dashboard.css`.
pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
        .into_response()
}

/// `GET /dashboard/assets/dashboard.js`.
pub async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
        .into_response()
}
