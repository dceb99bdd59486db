//! Direct charges at central (`charge` scope): by service (its current price, name
//! snapshotted) or by amount and description, settled at once with `charge.settled`. Short of
//! funds while sidecars' leases hold some, the charge recalls them and waits up to 2 s.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::central::billing_auth::caller;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::idempotency;
use crate::central::routes::billing::{refusal, request_key, settled, token_request};
use crate::central::state::SharedState;
use crate::domain::token::scope::Scope;
use crate::http::billing_input::{ChargeAsk, charge_ask};
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::storage::central::billing::{self, BillingError, ChargeInput};
use crate::storage::central::{leases, services, settled_keys, spending};
use crate::vocab::ids::ChargeId;
use crate::wire::billing::CreateCharge;
use crate::wire::money::Charge;

/// Charge the token's account. Requires `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/billing/charges", tag = "billing", security(("access_token" = [])), request_body = CreateCharge,
    params(("Idempotency-Key" = String, Header, description = "1–255 printable characters, scoped to the company")),
    responses((status = 201, body = Charge), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 402, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: ApiJson<CreateCharge>,
) -> ApiResult<Response> {
    let (granted, request) =
        token_request(&state, &headers, Scope::Charge, "/api/v1/billing/charges", &body.raw).await?;
    let ChargeAsk { service_id, amount, description, payload } = charge_ask(body.value, state.currency)?;
    let (now, currency, key) = (state.now(), state.currency, request_key(&headers));
    let (company, account) = (granted.grant.company_id.clone(), granted.grant.account_id.clone());
    let (response, _) = idempotency::run_recalling(&state, request, move |tx, may_wait| {
        let cap = match granted.now_in(tx, Scope::Charge)? {
            Ok(now) => now.grant.spending_cap,
            Err(refused) => return Ok(Err(refused)),
        };
        let (amount, service) = match (&service_id, amount) {
            (Some(id), _) => match services::get_in_tx(tx, &company, id)? {
                Some(service) if service.active => (service.price, Some(service)),
                Some(_) => return Ok(Err(refusal(BillingError::ServiceInactive))),
                None => return Ok(Err(refusal(BillingError::ServiceNotFound))),
            },
            (None, Some(amount)) => (amount, None),
            (None, None) => return Ok(Err(Problem::internal())),
        };
        // A key already settled through a sidecar books a reversed duplicate, which spends
        // nothing: the cap does not apply to it.
        let duplicate = match &key {
            Some(key) => settled_keys::settled_under(tx, &company, key)?.is_some(),
            None => false,
        };
        if !duplicate && let Err(refused) = spending::check(tx, &account, cap, amount, now)? {
            return Ok(Err(refusal(refused)));
        }
        let input = ChargeInput {
            company_id: company.clone(),
            account_id: account.clone(),
            amount,
            service_name: service.as_ref().map(|s| s.name.as_str().to_owned()),
            service_id: service.map(|s| s.id),
            description: description.clone(),
            payload: payload.clone(),
            idempotency_key: key.clone(),
        };
        let booked = billing::charge(tx, input, now)?;
        // Short of funds while sidecars' leases hold some: recall them and try again (§7).
        if may_wait
            && matches!(booked, Err(BillingError::Funds(_)))
            && leases::recall_for_funds(tx, &account, None, now)?
        {
            return Ok(Err(idempotency::recall_pending()));
        }
        settled(tx, booked, currency, now)
    })
    .await?;
    Ok(response)
}

/// One charge, to its company (client credentials) or to a token of its account.
#[utoipa::path(get, path = "/api/v1/billing/charges/{id}", tag = "billing", security(("access_token" = []), ("client" = [])),
    params(("id" = String, Path, description = "charge id")),
    responses((status = 200, body = Charge), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Charge>> {
    let who = caller(&state, &headers).await?;
    let id = ChargeId::parse(&id).map_err(|_| Problem::not_found("no such charge"))?;
    let company = who.company_id().clone();
    let charge = state.store.read(move |r| billing::get_charge(r, &company, &id)).await.or_internal()?;
    let charge = charge.filter(|c| who.may_see(&c.account_id)).ok_or_else(|| Problem::not_found("no such charge"))?;
    Ok(Json(Charge::from_record(&charge, state.currency)))
}
