//! Billing at central: the balance check and holds (create, read, capture, release), with the
//! scope rules, the spending cap and Stripe-style idempotency (DESIGN §5, §5.1).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::central::access::{self, Access};
use crate::central::billing_auth::caller;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::events;
use crate::central::idempotency::{self, IdempotentRequest, WorkResult};
use crate::central::state::SharedState;
use crate::domain::token::scope::Scope;
use crate::http::billing_input::{CaptureAsk, HoldAsk, capture_ask, hold_ask};
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::storage::Tx;
use crate::storage::central::billing::{self, BillingError, ChargeInput, HoldInput};
use crate::storage::central::records::ChargeRecord;
use crate::storage::central::{leases, ledger, services, spending};
use crate::storage::idempotency::company_scope;
use crate::vocab::ids::HoldId;
use crate::vocab::money::Currency;
use crate::vocab::time::Timestamp;
use crate::wire::billing::{Balance, CaptureHold, CreateHold, Hold};
use crate::wire::money::Charge;

/// The problem answer of a billing refusal.
pub fn refusal(error: BillingError) -> Problem {
    match error {
        BillingError::AccountNotFound => Problem::not_found("no such account"),
        BillingError::HoldNotFound => Problem::not_found("no such hold"),
        BillingError::ServiceNotFound => Problem::not_found("no such service"),
        BillingError::Funds(refused) => {
            Problem::new(StatusCode::PAYMENT_REQUIRED, "insufficient_funds", refused.to_string())
        }
        BillingError::SpendingCapExceeded { .. } => {
            Problem::new(StatusCode::PAYMENT_REQUIRED, "spending_cap_exceeded", error.to_string())
        }
        BillingError::HoldNotOpen(_)
        | BillingError::HoldExpired
        | BillingError::NotCapturable
        | BillingError::ServiceInactive => Problem::conflict("conflict", error.to_string()),
        BillingError::CaptureExceedsHold => Problem::field("amount", error.to_string()),
    }
}

/// What the account can spend now (`check`).
#[utoipa::path(get, path = "/api/v1/billing/balance", tag = "billing", security(("access_token" = [])),
    responses((status = 200, body = Balance), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn balance(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<Json<Balance>> {
    let granted = access::authenticate(&state, &headers, None).await?;
    granted.require(Scope::Check)?;
    let customer = granted.grant.customer_id.clone();
    let wallet = state.store.read(move |r| ledger::wallet(r, &customer)).await.or_internal()?;
    Ok(Json(Balance {
        account_id: granted.claims.sub.to_string(),
        currency: state.currency.code().to_owned(),
        available: wallet.available.to_wire(state.currency),
        as_of: state.now().to_rfc3339(),
    }))
}

/// Block funds until captured, released or expired (`hold`). Requires `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/billing/holds", tag = "billing", security(("access_token" = [])), request_body = CreateHold,
    params(("Idempotency-Key" = String, Header, description = "1–255 printable characters, scoped to the company")),
    responses((status = 201, body = Hold), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 402, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_hold(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: ApiJson<CreateHold>,
) -> ApiResult<Response> {
    let (granted, request) = token_request(&state, &headers, Scope::Hold, "/api/v1/billing/holds", &body.raw).await?;
    let HoldAsk { amount, ttl_s, description } = hold_ask(body.value, state.currency)?;
    let (now, currency) = (state.now(), state.currency);
    let (response, _) = idempotency::run_recalling(&state, request, move |tx, may_wait| {
        let granted = match granted.now_in(tx, Scope::Hold)? {
            Ok(granted) => granted,
            Err(refused) => return Ok(Err(refused)),
        };
        let hold = HoldInput {
            company_id: granted.grant.company_id.clone(),
            account_id: granted.grant.account_id.clone(),
            amount,
            capturable: granted.effective.contains(Scope::Charge),
            description: description.clone(),
            expires_at: now.plus_s(ttl_s),
        };
        if let Err(refused) = spending::check(tx, &hold.account_id, granted.grant.spending_cap, amount, now)? {
            return Ok(Err(refusal(refused)));
        }
        match billing::hold(tx, hold, now)? {
            Ok(hold) => Ok(Ok((
                StatusCode::CREATED,
                serde_json::to_value(Hold::from_record(&hold, currency)).unwrap_or_default(),
                (),
            ))),
            // Short of funds while sidecars' leases hold some: recall them and try again (§7).
            Err(BillingError::Funds(_))
                if may_wait && leases::recall_for_funds(tx, &granted.grant.account_id, None, now)? =>
            {
                Ok(Err(idempotency::recall_pending()))
            }
            Err(refused) => Ok(Err(refusal(refused))),
        }
    })
    .await?;
    Ok(response)
}

/// A money-moving POST made with a customer's token: the token checked for `scope`, and the
/// request's idempotency scoped to the token's company.
pub async fn token_request(
    state: &SharedState,
    headers: &HeaderMap,
    scope: Scope,
    path: &str,
    body: &serde_json::Value,
) -> ApiResult<(Access, IdempotentRequest)> {
    let granted = access::authenticate(state, headers, None).await?;
    granted.require(scope)?;
    let request = IdempotentRequest::new(headers, company_scope(&granted.grant.company_id), "POST", path, body)?;
    Ok((granted, request))
}

fn parse_hold_id(id: &str) -> ApiResult<HoldId> {
    HoldId::parse(id).map_err(|_| Problem::not_found("no such hold"))
}

/// One hold, to its company (client credentials) or to a token of its account.
#[utoipa::path(get, path = "/api/v1/billing/holds/{id}", tag = "billing", security(("access_token" = []), ("client" = [])),
    params(("id" = String, Path, description = "hold id")),
    responses((status = 200, body = Hold), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_hold(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Hold>> {
    let who = caller(&state, &headers).await?;
    let id = parse_hold_id(&id)?;
    let company = who.company_id().clone();
    let hold = state.store.read(move |r| billing::get_hold(r, &company, &id)).await.or_internal()?;
    let hold = hold.filter(|h| who.may_see(&h.account_id)).ok_or_else(|| Problem::not_found("no such hold"))?;
    Ok(Json(Hold::from_record(&hold, state.currency)))
}

/// Capture all or part of a hold as a charge; the rest is released. One capture per hold.
#[utoipa::path(post, path = "/api/v1/billing/holds/{id}/capture", tag = "billing", security(("access_token" = []), ("client" = [])), request_body = CaptureHold,
    params(("id" = String, Path, description = "hold id"), ("Idempotency-Key" = String, Header, description = "1–255 printable characters")),
    responses((status = 201, body = Charge), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn capture(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: ApiJson<CaptureHold>,
) -> ApiResult<Response> {
    let who = caller(&state, &headers).await?;
    let path = format!("/api/v1/billing/holds/{id}/capture");
    let request = IdempotentRequest::new(&headers, company_scope(who.company_id()), "POST", &path, &body.raw)?;
    let hold_id = parse_hold_id(&id)?;
    let CaptureAsk { amount, service_id, description, payload } = capture_ask(body.value, state.currency)?;
    let (now, currency, company) = (state.now(), state.currency, who.company_id().clone());
    let key = request_key(&headers);
    let (response, _) = idempotency::run(&state, request, move |tx| {
        let Some(hold) = billing::get_hold_in_tx(tx, &company, &hold_id)?.filter(|h| who.may_see(&h.account_id)) else {
            return Ok(Err(refusal(BillingError::HoldNotFound)));
        };
        let service = match &service_id {
            Some(id) => match services::get_in_tx(tx, &company, id)? {
                Some(service) if service.active => Some(service),
                Some(_) => return Ok(Err(refusal(BillingError::ServiceInactive))),
                None => return Ok(Err(refusal(BillingError::ServiceNotFound))),
            },
            None => None,
        };
        let charge = ChargeInput {
            company_id: company.clone(),
            account_id: hold.account_id.clone(),
            amount: amount.unwrap_or(hold.amount),
            service_name: service.as_ref().map(|s| s.name.as_str().to_owned()),
            service_id: service.map(|s| s.id),
            description: description.or(hold.description.clone()),
            payload,
            idempotency_key: key,
        };
        let booked = billing::capture(tx, &hold_id, charge, now)?;
        settled(tx, booked, currency, now)
    })
    .await?;
    Ok(response)
}

/// Release a hold: its whole amount goes back to the wallet.
#[utoipa::path(post, path = "/api/v1/billing/holds/{id}/release", tag = "billing", security(("access_token" = []), ("client" = [])),
    params(("id" = String, Path, description = "hold id"), ("Idempotency-Key" = String, Header, description = "1–255 printable characters")),
    responses((status = 200, body = Hold), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn release(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let who = caller(&state, &headers).await?;
    let path = format!("/api/v1/billing/holds/{id}/release");
    let request =
        IdempotentRequest::new(&headers, company_scope(who.company_id()), "POST", &path, &serde_json::Value::Null)?;
    let hold_id = parse_hold_id(&id)?;
    let (now, currency, company) = (state.now(), state.currency, who.company_id().clone());
    let (response, _) = idempotency::run(&state, request, move |tx| {
        if billing::get_hold_in_tx(tx, &company, &hold_id)?.filter(|h| who.may_see(&h.account_id)).is_none() {
            return Ok(Err(refusal(BillingError::HoldNotFound)));
        }
        match billing::release(tx, &company, &hold_id, now)? {
            Ok(hold) => Ok(Ok((
                StatusCode::OK,
                serde_json::to_value(Hold::from_record(&hold, currency)).unwrap_or_default(),
                (),
            ))),
            Err(refused) => Ok(Err(refusal(refused))),
        }
    })
    .await?;
    Ok(response)
}

/// The request's `Idempotency-Key`, kept on the charge for settlement-time dedupe (DESIGN §5).
pub fn request_key(headers: &HeaderMap) -> Option<String> {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The answer to a booked charge: 201 with the charge, and `charge.settled` (or, for a duplicate
/// of a key a sidecar already settled, `charge.reversed`) queued in the same commit; or the
/// refusal, which wrote nothing.
pub fn settled(
    tx: &mut Tx<'_>,
    booked: Result<ChargeRecord, BillingError>,
    currency: Currency,
    now: Timestamp,
) -> WorkResult<()> {
    let charge = match booked {
        Ok(charge) => charge,
        Err(refused) => return Ok(Err(refusal(refused))),
    };
    let body = serde_json::to_value(Charge::from_record(&charge, currency)).unwrap_or_default();
    events::charge(tx, &charge, currency, now)?;
    Ok(Ok((StatusCode::CREATED, body, ())))
}
