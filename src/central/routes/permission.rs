//! `GET /api/v1/authorize?scope=…`: the permission check a partner asks before acting.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use crate::central::access;
use crate::central::error::ApiResult;
use crate::central::state::SharedState;
use crate::domain::token::scope::ScopeSet;
use crate::http::problem::Problem;
use crate::http::query::ApiQuery;
use crate::wire::oauth::Permission;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PermissionQuery {
    /// Space-separated scopes the action needs (`check`, `hold`, `charge`); empty asks only
    /// whether the token is live.
    pub scope: Option<String>,
}

/// 200 with the account and effective scope, 401 `invalid_token` or 403 `insufficient_scope`.
#[utoipa::path(get, path = "/api/v1/authorize", tag = "billing", params(PermissionQuery), security(("access_token" = [])),
    responses((status = 200, body = Permission), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn check(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<PermissionQuery>,
) -> ApiResult<Json<Permission>> {
    let wanted = ScopeSet::parse(query.scope.as_deref().unwrap_or_default())
        .map_err(|_| Problem::field("scope", "unknown scope; PROTUS has check, hold and charge"))?;
    // Central acts for the company the token was issued to; the sidecar pins its own company.
    let granted = access::authenticate(&state, &headers, None).await?;
    for scope in wanted.iter() {
        granted.require(scope)?;
    }
    Ok(Json(Permission {
        account_id: granted.claims.sub.to_string(),
        scope: granted.effective.to_string(),
        exp: granted.claims.exp,
    }))
}
