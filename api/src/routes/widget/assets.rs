//! The widget's script and the demo page.
//!
//! - `GET /static/widget.js` — the stable URL of the snippet; cached for 5 minutes, so a new
//!   release reaches pages quickly.
//! - `GET /static/widget.v{WIDGET_VERSION}.js` — the versioned URL: immutable for a year, for
//!   pages that pin a version (and can add a Subresource Integrity hash, since the bytes of a
//!   version never change).
//! - `GET /demo` — a page embedding the widget for a local organization (`?org=org_...`, or the
//!   first organization), served only when [`super::settings::WidgetSettings::demo`] is on.
//!
//! Both script URLs carry an ETag (a hash of the bytes) and answer `If-None-Match` with 304.
//! The script is compiled into the binary: nothing is read from disk or fetched at run time.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use engine::ids::OrganizationId;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The widget's source, hand-written, no build step.
pub const WIDGET_JS: &str = include_str!("../../../static/widget.js");

/// The version in the immutable URL; bump it whenever `widget.js` changes.
pub const WIDGET_VERSION: u32 = 1;

/// The demo page's template; `{{ORG_ID}}` is replaced by a validated organization id.
const DEMO_HTML: &str = include_str!("../../../static/demo.html");

/// Cache lifetime of the stable URL: short, so releases propagate.
const STABLE_MAX_AGE_SECS: u32 = 300;

fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let digest = Sha256::digest(WIDGET_JS.as_bytes());
        format!("\"{}\"", hex::encode(&digest[..12]))
    })
}

/// Serves the script at its stable URL.
pub async fn widget_js(headers: HeaderMap) -> Response {
    script(&headers, &format!("public, max-age={STABLE_MAX_AGE_SECS}"))
}

/// Serves the script at its versioned URL.
pub async fn widget_js_versioned(headers: HeaderMap) -> Response {
    script(&headers, "public, max-age=31536000, immutable")
}

fn script(request: &HeaderMap, cache_control: &str) -> Response {
    let tag = etag();
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, WIDGET_JS).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, value);
    }
    if let Ok(value) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, value);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Any site may load the script; what it may do is decided by the origin checks of the
    // widget API.
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// Query of the demo page.
#[derive(Debug, Default, Deserialize)]
pub struct DemoQuery {
    pub org: Option<String>,
}

/// Serves the demo page when enabled (404 otherwise, as if it did not exist).
pub async fn demo_page(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DemoQuery>,
) -> ApiResult<Response> {
    if !state.config.widget.demo {
        return Err(ApiError(engine::Error::not_found(
            "the demo page is off; start the server with BLAIGENT_DEMO=1",
        )));
    }
    let org = match query.org {
        Some(raw) => Some(OrganizationId::parse(&raw)?),
        None => state
            .store
            .organizations()
            .await?
            .into_iter()
            .next()
            .map(|o| o.id),
    };
    let Some(org) = org else {
        return Ok(Html(NO_ORG_HTML).into_response());
    };
    // An organization id is a prefix and [A-Za-z0-9_-] only (checked by `parse` or minted by
    // us), so it is safe inside an HTML attribute as is.
    let page = DEMO_HTML
        .replace("{{ORG_ID}}", org.as_str())
        .replace("{{WIDGET_VERSION}}", &WIDGET_VERSION.to_string());
    Ok(Html(page).into_response())
}

const NO_ORG_HTML: &str = "<!doctype html><meta charset=utf-8><title>Blaigent demo</title>\
<body style=\"font-family:system-ui;max-width:40rem;margin:3rem auto\"><h1>No organization yet</h1>\
<p>Create one, then reload this page:</p><pre>blaigent org create --name \"My shop\"</pre></body>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_small_and_loads_nothing_from_elsewhere() {
        assert!(WIDGET_JS.len() < 120 * 1024, "{} bytes", WIDGET_JS.len());
        assert!(!WIDGET_JS.contains("import("), "no dynamic imports");
        assert!(!WIDGET_JS.contains("innerHTML"), "no innerHTML anywhere");
        assert!(etag().starts_with('"') && etag().len() == 26);
    }

    #[tokio::test]
    async fn a_matching_etag_gets_304_and_the_versioned_url_is_immutable() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(etag()));
        let response = widget_js(headers).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response = widget_js_versioned(HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
}
