//! The signed-in company's webhook delivery log, with every attempt, and manual retry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use crate::central::auth::CompanyAuth;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::state::SharedState;
use crate::http::problem::Problem;
use crate::http::query::{ApiQuery, PageParams};
use crate::storage::central::deliveries::{self, AttemptRecord, DeliveryRecord, DeliveryStatus};
use crate::vocab::ids::DeliveryId;
use crate::wire::list::List;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusWire {
    /// Waiting for its first attempt or for a manual retry.
    Pending,
    /// The last attempt failed; the next is at `next_attempt_at`.
    Failed,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every scheduled attempt failed; only a manual retry sends it again.
    Exhausted,
}

impl From<DeliveryStatus> for DeliveryStatusWire {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => DeliveryStatusWire::Pending,
            DeliveryStatus::Failed => DeliveryStatusWire::Failed,
            DeliveryStatus::Succeeded => DeliveryStatusWire::Succeeded,
            DeliveryStatus::Exhausted => DeliveryStatusWire::Exhausted,
        }
    }
}

/// One POST to the webhook URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    pub at: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why no answer came: timeout, connection error, refused target.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// One event's delivery: `{id, event_id, event_type, status, attempts, next_attempt_at, created_at}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatusWire,
    /// Oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
}

impl Delivery {
    fn from_record(d: &DeliveryRecord) -> Self {
        let attempt = |a: &AttemptRecord| DeliveryAttempt {
            at: a.at.to_rfc3339(),
            status_code: a.status_code,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
        };
        Delivery {
            id: d.id.to_string(),
            event_id: d.event_id.to_string(),
            event_type: d.event_type.clone(),
            status: d.status.into(),
            attempts: d.attempts.iter().map(attempt).collect(),
            next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339()),
            created_at: d.created_at.to_rfc3339(),
        }
    }
}

/// The company's webhook deliveries, newest first, each with every attempt.
#[utoipa::path(get, path = "/api/v1/company/webhooks/deliveries", tag = "webhooks", security(("session" = [])), params(PageParams),
    responses((status = 200, body = List<Delivery>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_deliveries(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<List<Delivery>>> {
    let (cursor, limit) = page.parse()?;
    let company = auth.company.id;
    let page =
        state.store.read(move |r| deliveries::list_for_company(r, &company, cursor, limit)).await.or_internal()?;
    Ok(Json(List::from_page(page, |d| Delivery::from_record(&d))))
}

/// Send a delivery again now, whatever its status (also an exhausted one). 409 when no webhook URL is set.
#[utoipa::path(post, path = "/api/v1/company/webhooks/deliveries/{id}/retry", tag = "webhooks", security(("session" = [])),
    params(("id" = String, Path, description = "delivery id")),
    responses((status = 202, body = Delivery), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn retry_delivery(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    let id = DeliveryId::parse(&id).map_err(|_| Problem::not_found("no such delivery"))?;
    if auth.company.webhook_url.is_none() {
        return Err(Problem::conflict("conflict", "set a webhook URL before retrying a delivery"));
    }
    let now = state.now();
    let company = auth.company.id;
    let retried = state.store.write(move |tx| deliveries::retry(tx, &company, &id, now)).await.or_internal()?;
    let delivery = retried.ok_or_else(|| Problem::not_found("no such delivery"))?;
    Ok((StatusCode::ACCEPTED, Json(Delivery::from_record(&delivery))))
}
