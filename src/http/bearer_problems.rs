//! The RFC 6750 answers of a resource server, shared by central and the sidecar so both answer
//! a bad or too-narrow token with the same status, code and `WWW-Authenticate` challenge.

use axum::http::StatusCode;

use crate::domain::token::scope::Scope;
use crate::http::problem::Problem;

/// 401 `invalid_token` (RFC 6750 §3.1).
pub fn invalid_token(description: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
        .with_www_authenticate(&format!("Bearer error=\"invalid_token\", error_description=\"{description}\""))
}

/// 403 `insufficient_scope` naming the missing scope (RFC 6750 §3.1).
pub fn insufficient_scope(scope: Scope) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "insufficient_scope", format!("the token does not allow {scope}"))
        .with_www_authenticate(&format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""))
}

/// 401 `unauthorized` when no bearer token was sent.
pub fn missing_token() -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "send the customer's access token as Authorization: Bearer")
        .with_www_authenticate("Bearer")
}
