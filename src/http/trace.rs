//! One log line per request: method, matched route, status and latency. Never headers, bodies
//! or query strings, so no credential can reach the log. Central logs every request at `info`;
//! the sidecar, which answers its partner app on localhost many thousand times a second, logs
//! answered requests at `debug` (its `/metrics` counts them) and failures at `warn`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// How loudly a listener logs requests that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestLog {
    Info,
    Debug,
}

pub async fn log_request(request: Request, next: Next) -> Response {
    log_request_at(RequestLog::Info, request, next).await
}

pub async fn log_request_quietly(request: Request, next: Next) -> Response {
    log_request_at(RequestLog::Debug, request, next).await
}

async fn log_request_at(level: RequestLog, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The route template (`/api/v1/me/top-ups/{id}`) rather than the raw path keeps ids out too.
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if status >= 500 {
        tracing::warn!(%method, route, status, elapsed_ms, "request failed");
    } else if level == RequestLog::Info {
        tracing::info!(%method, route, status, elapsed_ms, "request");
    } else {
        tracing::debug!(%method, route, status, elapsed_ms, "request");
    }
    response
}
