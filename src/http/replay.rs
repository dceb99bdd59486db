//! Answers whose body is JSON text already (`JsonText`): a fresh idempotent answer, and the
//! answer replayed for a repeated request (DESIGN §5): the stored status and body, marked
//! `Idempotent-Replayed: true`, problems with their media type. Both roles answer so.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::vocab::json_text::JsonText;

/// `body` as an `application/json` answer (`application/problem+json` for a 4xx or 5xx).
pub fn json_answer(status: StatusCode, body: JsonText) -> Response {
    let media = if status.is_client_error() || status.is_server_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut response = Response::new(Body::from(body.into_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    response
}

pub fn replayed(status: u16, body: JsonText) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = json_answer(status, body);
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
