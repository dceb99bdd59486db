//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/jwks.json` (RFC 8037).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::central::state::SharedState;

/// Authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "RFC 8414 metadata", body = Object)))]
pub async fn metadata(State(state): State<SharedState>) -> Json<serde_json::Value> {
    let base = &state.public_url;
    Json(serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["check", "hold", "charge"],
        "authorization_response_iss_parameter_supported": true,
        "ui_locales_supported": ["en", "ru"],
    }))
}

/// The published signing keys (OKP / Ed25519).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth",
    responses((status = 200, description = "JWK set", body = Object)))]
pub async fn jwks(State(state): State<SharedState>) -> Response {
    let now = state.now();
    let set = state.keyring.snapshot(now).published(now);
    let mut response = Json(set).into_response();
    // Short caching: a rotation publishes the next key a pre-publication delay ahead.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response
}
