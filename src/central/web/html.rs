//! HTML answers with the headers every page carries: no caching, no framing, a strict content
//! security policy (no script at all, styles only from `/static/`) and no referrer (page URLs
//! can carry one-time tokens).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A rendered template as a response.
pub fn page(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    let Ok(body) = rendered else {
        tracing::error!("a page template failed to render");
        return (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response();
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        // No `form-action`: Chrome and Safari apply it to the 302 back to the partner as well.
        HeaderValue::from_static("default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    response
}
