//! The sidecar's HTTP routes: the permission check (same path, query and answers as central's),
//! and `/healthz`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::domain::token::scope::ScopeSet;
use crate::http::problem::Problem;
use crate::http::query::ApiQuery;
use crate::sidecar::access::{self, Refusal};
use crate::sidecar::metrics::Outcome;
use crate::sidecar::state::SharedState;
use crate::wire::oauth::Permission;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionQuery {
    /// Space-separated scopes the action needs; empty asks only whether the token is live.
    pub scope: Option<String>,
}

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/api/v1/authorize", get(authorize))
        .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// `GET /api/v1/authorize?scope=…`: 200 {account_id, scope, exp}, 401 `invalid_token` or 403
/// `insufficient_scope`, decided from local state.
async fn authorize(
    State(state): State<SharedState>,
    headers: HeaderMap,
    query: Result<ApiQuery<PermissionQuery>, Problem>,
) -> Result<Json<Permission>, Problem> {
    let wanted = query.and_then(|ApiQuery(query)| {
        ScopeSet::parse(query.scope.as_deref().unwrap_or_default())
            .map_err(|_| Problem::field("scope", "unknown scope; PROTUS has check, hold and charge"))
    });
    let wanted = wanted.inspect_err(|_| state.metrics.decided(Outcome::InvalidRequest))?;
    let decided = access::authenticate(&state, &headers).and_then(|granted| {
        for scope in wanted.iter() {
            granted.require(scope)?;
        }
        Ok(granted)
    });
    match decided {
        Ok(granted) => {
            state.metrics.decided(Outcome::Allowed);
            Ok(Json(Permission {
                account_id: granted.claims.sub.to_string(),
                scope: granted.effective.to_string(),
                exp: granted.claims.exp,
            }))
        }
        Err(Refusal { outcome, problem }) => {
            state.metrics.decided(outcome);
            Err(problem)
        }
    }
}

async fn readyz(State(state): State<SharedState>) -> Response {
    if state.is_ready() {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "not_ready" }))).into_response()
    }
}

async fn metrics(State(state): State<SharedState>) -> Response {
    let (hits, misses) = state.cache.hits_and_misses();
    let text = state.metrics.render(state.now().unix_ms(), hits, misses, state.is_ready());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
