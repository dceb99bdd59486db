//! The callback a payment provider calls to complete a top-up; signed, replay-safe.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use crate::central::error::{ApiResult, OrInternal};
use crate::central::state::SharedState;
use crate::http::json::{ApiBytes, parse_body};
use crate::http::problem::Problem;
use crate::storage::central::top_ups::{self, CompleteError};
use crate::vocab::ids::TopUpId;
use crate::wire::money::{ProviderCallback, TopUp};

/// Completes a top-up. Authenticated by the provider's signature; a replay changes nothing.
#[utoipa::path(post, path = "/api/v1/providers/{provider}/callback", tag = "providers", request_body = ProviderCallback,
    params(("provider" = String, Path, description = "provider name, e.g. `test`")),
    responses((status = 200, body = TopUp), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn provider_callback(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<TopUp>> {
    let provider =
        state.providers.by_name(&name).cloned().ok_or_else(|| Problem::not_found("no such provider is enabled"))?;
    let now = state.now();
    if let Err(error) = provider.verify_callback(&headers, &body, now) {
        tracing::warn!(provider = %name, error = %error, "provider callback refused");
        return Err(Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", format!("callback refused: {error}")));
    }
    let callback = parse_body::<ProviderCallback>(&body)?.value;
    let id = TopUpId::parse(&callback.top_up_id).map_err(|_| Problem::not_found("no such top-up"))?;
    let amount = callback.amount.parse(state.currency).map_err(|e| Problem::field("amount", e.to_string()))?;
    let succeeded = match callback.status.as_str() {
        "succeeded" => true,
        "failed" => false,
        _ => return Err(Problem::field("status", "must be \"succeeded\" or \"failed\"")),
    };
    let provider_name = provider.name();
    let completed = state
        .store
        .write(move |tx| top_ups::complete(tx, &id, provider_name, amount, succeeded, now))
        .await
        .or_internal()?;
    match completed {
        Ok(top_up) => {
            tracing::info!(top_up_id = %top_up.id, status = ?top_up.status, "top-up completed");
            Ok(Json(TopUp::from_record(&top_up, state.currency)))
        }
        Err(CompleteError::NotFound) => Err(Problem::not_found("no such top-up")),
        Err(CompleteError::Mismatch) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            CompleteError::Mismatch.to_string(),
        )),
    }
}
