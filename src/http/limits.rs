//! The limits every listener carries: body size, whole-request deadline, concurrency, and
//! problem+json answers for unknown paths and methods.

use std::time::Duration;

use crate::http::trace::RequestLog;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::limit::GlobalConcurrencyLimitLayer;

use crate::http::problem::Problem;
use crate::vocab::limits::{listener_concurrency_max, request_body_bytes_max, request_timeout_s};

async fn deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(Duration::from_secs(request_timeout_s), next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "request_timeout", "the request took too long; retry it")
                .with_retry_after(1)
                .into_response()
        }
    }
}

async fn not_found() -> Problem {
    Problem::not_found("no such endpoint")
}

async fn method_not_allowed() -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "this endpoint does not accept that method")
}

/// Wraps a role's router with the listener limits, logging each request at `log`'s level.
pub fn with_listener_limits(router: Router, log: RequestLog) -> Router {
    let router =
        router.fallback(not_found).method_not_allowed_fallback(method_not_allowed).layer(middleware::from_fn(deadline));
    let router = match log {
        RequestLog::Info => router.layer(middleware::from_fn(crate::http::trace::log_request)),
        RequestLog::Debug => router.layer(middleware::from_fn(crate::http::trace::log_request_quietly)),
    };
    router
        .layer(DefaultBodyLimit::max(request_body_bytes_max))
        .layer(GlobalConcurrencyLimitLayer::new(listener_concurrency_max))
}
