//! The sidecar's HTTP routes with their OpenAPI descriptions: the permission check (same path,
//! query and answers as central's), direct users (forwarded to central), and `/healthz`,
//! `/readyz`, `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::token::scope::ScopeSet;
use crate::http::problem::Problem;
use crate::http::query::ApiQuery;
use crate::sidecar::access::{self, Refusal};
use crate::sidecar::metrics::Outcome;
use crate::sidecar::state::SharedState;
use crate::sidecar::{billing, direct_users};
use crate::wire::oauth::Permission;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PermissionQuery {
    /// Space-separated scopes the action needs (`check`, `hold`, `charge`); empty asks only
    /// whether the token is live.
    pub scope: Option<String>,
}

/// Every route with its OpenAPI operation.
pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(billing::balance))
        .routes(routes!(billing::create_hold))
        .routes(routes!(billing::get_hold))
        .routes(routes!(billing::capture))
        .routes(routes!(billing::release))
        .routes(routes!(billing::create_charge))
        .routes(routes!(billing::get_charge))
        .routes(routes!(direct_users::create))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The permission check, decided from local state: 200 with the account and effective scope,
/// 401 `invalid_token` or 403 `insufficient_scope` exactly as central answers, 503
/// `central_unavailable` until the sidecar has synchronised.
#[utoipa::path(get, path = "/api/v1/authorize", tag = "billing", params(PermissionQuery), security(("access_token" = [])),
    responses((status = 200, body = Permission), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
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
    let decided = access::authenticate_waiting(&state, &headers).await.and_then(|granted| {
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
        Err(Refusal { outcome, problem, .. }) => {
            state.metrics.decided(outcome);
            Err(problem)
        }
    }
}

/// Liveness: 200 while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "operation", responses((status = 200, description = "the sidecar is alive", body = serde_json::Value)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 once enrolled, keys loaded and the first snapshot applied; 503 before.
#[utoipa::path(get, path = "/readyz", tag = "operation", responses(
    (status = 200, description = "ready to answer", body = serde_json::Value),
    (status = 503, description = "not synchronised with central yet", body = serde_json::Value)))]
async fn readyz(State(state): State<SharedState>) -> Response {
    if state.is_ready() {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "not_ready" }))).into_response()
    }
}

/// Counters and gauges in the Prometheus text format (version 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "operation", responses(
    (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4")))]
async fn metrics(State(state): State<SharedState>) -> Response {
    let (hits, misses) = state.cache.hits_and_misses();
    let text = state.metrics.render(state.now().unix_ms(), hits, misses, state.is_ready());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
