//! The billing API at the sidecar (DESIGN §5.1, §5.2): the same paths, bodies and errors as
//! central, answered from local state inside leases. Holds and direct charges take the
//! customer's token; capture, release and the GETs are local calls of the company (anything
//! that reaches the sidecar acts for it). Objects are the ones this sidecar decided.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::domain::token::scope::Scope;
use crate::http::billing_input::{CaptureAsk, ChargeAsk, HoldAsk, capture_ask, charge_ask, hold_ask};
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::sidecar::access::{self, Access, Refusal};
use crate::sidecar::idempotency::{self, Keyed, Step};
use crate::sidecar::leases::{self, AcquireError, central_unavailable};
use crate::sidecar::state::SharedState;
use crate::storage::sidecar::money::{
    self, At, CentralOutcome, ChargeDetails, HoldRefusal, LocalCharge, LocalHold, LocalHoldStatus, NewHold, status_word,
};
use crate::storage::{StoreError, Tx};
use crate::vocab::ids::{ChargeId, HoldId};
use crate::vocab::json_text::JsonText;
use crate::vocab::money::{Amount, Currency};
use crate::wire::billing::{Balance, CaptureHold, CreateCharge, CreateHold, Hold};
use crate::wire::money::Charge;
use crate::wire::sync::SyncService;

fn refused(refusal: Refusal) -> Problem {
    refusal.problem
}

/// The customer's token, checked for `scope`, with the deployment currency.
async fn token(state: &SharedState, headers: &HeaderMap, scope: Scope) -> Result<(Access, Currency), Problem> {
    let granted = access::authenticate_waiting(state, headers).await.and_then(|g| g.require(scope).map(|()| g));
    let granted = granted.inspect_err(|r| state.metrics.decided(r.outcome)).map_err(refused)?;
    Ok((granted, currency(state)?))
}

fn currency(state: &SharedState) -> Result<Currency, Problem> {
    leases::currency(state).ok_or_else(central_unavailable)
}

/// `INV-<the sidecar id's last 8 characters>-<seq>`: unique across sidecars, readable.
fn invoice_prefix(state: &SharedState) -> String {
    let id = state.enrolment.get().map(|e| e.sidecar_id.clone()).unwrap_or_default();
    id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect::<String>().to_uppercase()
}

fn hold_wire(hold: &LocalHold, currency: Currency) -> Hold {
    Hold {
        id: hold.id.to_string(),
        account_id: hold.account_id.clone(),
        amount: hold.amount.to_wire(currency),
        captured: hold.captured.to_wire(currency),
        capturable: hold.capturable,
        status: status_word(hold.status).to_owned(),
        description: hold.description.clone(),
        created_at: hold.created_at.to_rfc3339(),
        expires_at: hold.expires_at.to_rfc3339(),
    }
}

fn charge_wire(charge: &LocalCharge, currency: Currency) -> Charge {
    Charge {
        id: charge.id.to_string(),
        invoice_number: charge.invoice_number.clone(),
        account_id: charge.account_id.clone(),
        amount: charge.amount.to_wire(currency),
        service_id: charge.service_id.clone(),
        service_name: charge.service_name.clone(),
        description: charge.description.clone(),
        payload: charge.payload.clone(),
        status: match (charge.central_outcome, charge.settled) {
            (Some(CentralOutcome::Reversed), _) => "reversed",
            (_, true) => "settled",
            // Quarantined at central: accepted here, never settled.
            (_, false) => "accepted",
        }
        .to_owned(),
        created_at: charge.created_at.to_rfc3339(),
    }
}

fn hold_refusal(refusal: HoldRefusal) -> Problem {
    match refusal {
        HoldRefusal::NotFound => Problem::not_found("no such hold"),
        HoldRefusal::ExceedsHold => Problem::field("amount", refusal.to_string()),
        HoldRefusal::NotOpen(_) | HoldRefusal::Expired | HoldRefusal::NotCapturable => {
            Problem::conflict("conflict", refusal.to_string())
        }
    }
}

/// A service of the company that can be charged now.
fn chargeable_service(state: &SharedState, id: &str, currency: Currency) -> Result<(SyncService, Amount), Problem> {
    let local = state.local();
    let service =
        local.as_ref().and_then(|l| l.service(id)).cloned().ok_or_else(|| Problem::not_found("no such service"))?;
    if !service.active {
        return Err(Problem::conflict("conflict", "the service is inactive"));
    }
    let price = Amount::parse_request(&service.price, currency).map_err(|_| Problem::internal())?;
    Ok((service, price))
}

/// What the account can spend now (`check`): central's `available` as of the last contact plus
/// this sidecar's unused leases of the account.
#[utoipa::path(get, path = "/api/v1/billing/balance", tag = "billing", security(("access_token" = [])),
    responses((status = 200, body = Balance), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn balance(State(state): State<SharedState>, headers: HeaderMap) -> Result<Json<Balance>, Problem> {
    let (granted, currency) = token(&state, &headers, Scope::Check).await?;
    let account = granted.claims.sub.to_string();
    if state.wallet(&account).is_none() {
        // Nothing heard about this wallet yet: a lease call brings central's figure, whatever
        // it reserves (nothing for a grant without `hold` or `charge`, or past its cap).
        match leases::acquire(&state, &account, state.lease_chunk).await {
            Ok(()) | Err(AcquireError::NoFunds | AcquireError::CapReached) => {}
            Err(error) => return Err(error.into_problem()),
        }
    }
    let owned = account.clone();
    let leases = state.store.read(move |r| money::leases_of(r, &owned)).await.map_err(internal)?;
    let now_ms = state.mono.now_ms();
    let unused = leases
        .iter()
        .filter(|l| l.usable(now_ms))
        .fold(Amount::ZERO, |total, l| total.checked_add(l.unused()).unwrap_or(total));
    let (central, as_of) = state.wallet(&account).unwrap_or((Amount::ZERO, state.now()));
    Ok(Json(Balance {
        account_id: account,
        currency: currency.code().to_owned(),
        available: central.checked_add(unused).unwrap_or(central).to_wire(currency),
        as_of: as_of.to_rfc3339(),
    }))
}

fn internal(error: StoreError) -> Problem {
    tracing::error!(error = %error, "reading the sidecar's store failed");
    Problem::internal()
}

/// The decision clocks, read afresh for each try.
fn at<'a>(state: &SharedState, prefix: &'a str) -> At<'a> {
    At { now: state.now(), now_ms: state.mono.now_ms(), invoice_prefix: prefix }
}

/// Block funds until captured, released or expired (`hold`). Requires `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/billing/holds", tag = "billing", security(("access_token" = [])), request_body = CreateHold,
    params(("Idempotency-Key" = String, Header, description = "1–255 printable characters")),
    responses((status = 201, body = Hold), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 402, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn create_hold(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: ApiJson<CreateHold>,
) -> Result<Response, Problem> {
    let (granted, currency) = token(&state, &headers, Scope::Hold).await?;
    let keyed = Keyed::new(&headers, "/api/v1/billing/holds", &body.raw)?;
    let HoldAsk { amount, ttl_s, description } = hold_ask(body.value, currency)?;
    let new = NewHold {
        account_id: granted.claims.sub.to_string(),
        amount,
        capturable: granted.effective.contains(Scope::Charge),
        description,
        ttl_s,
    };
    let (task_state, prefix) = (state.clone(), invoice_prefix(&state));
    idempotency::run(&state, keyed, move |tx: &mut Tx<'_>| {
        Ok(match money::place_hold(tx, new.clone(), at(&task_state, &prefix))? {
            Ok(hold) => Step::Answer(StatusCode::CREATED, JsonText::of(&hold_wire(&hold, currency))),
            Err(short) => Step::Short(short),
        })
    })
    .await
}

fn parse_hold_id(id: &str) -> Result<HoldId, Problem> {
    HoldId::parse(id).map_err(|_| Problem::not_found("no such hold"))
}

/// One hold decided by this sidecar.
#[utoipa::path(get, path = "/api/v1/billing/holds/{id}", tag = "billing",
    params(("id" = String, Path, description = "hold id")),
    responses((status = 200, body = Hold), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn get_hold(State(state): State<SharedState>, Path(id): Path<String>) -> Result<Json<Hold>, Problem> {
    let currency = currency(&state)?;
    let id = parse_hold_id(&id)?;
    let hold = state.store.read(move |r| money::get_hold(r, &id)).await.map_err(internal)?;
    let mut hold = hold.ok_or_else(|| Problem::not_found("no such hold"))?;
    // Shown as it is now, even before the sweeper gets to it.
    if hold.status == LocalHoldStatus::Held && state.mono.now_ms() >= hold.expires_ms {
        hold.status = LocalHoldStatus::Expired;
    }
    Ok(Json(hold_wire(&hold, currency)))
}

/// Capture all or part of a hold as a charge; the rest is released. One capture per hold.
#[utoipa::path(post, path = "/api/v1/billing/holds/{id}/capture", tag = "billing", request_body = CaptureHold,
    params(("id" = String, Path, description = "hold id"), ("Idempotency-Key" = String, Header, description = "1–255 printable characters")),
    responses((status = 201, body = Charge), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn capture(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: ApiJson<CaptureHold>,
) -> Result<Response, Problem> {
    let currency = currency(&state)?;
    let keyed = Keyed::new(&headers, &format!("/api/v1/billing/holds/{id}/capture"), &body.raw)?;
    let hold_id = parse_hold_id(&id)?;
    let CaptureAsk { amount, service_id, description, payload } = capture_ask(body.value, currency)?;
    let details =
        ChargeDetails { description, payload, idempotency_key: keyed.key().to_owned(), ..ChargeDetails::default() };
    let (task_state, prefix) = (state.clone(), invoice_prefix(&state));
    let response = idempotency::run(&state, keyed, move |tx: &mut Tx<'_>| {
        let at = at(&task_state, &prefix);
        let mut details = details.clone();
        // Inside the idempotent work, so a retry replays the first answer whatever the service
        // became since, and a refusal is stored like central's.
        if let Some(id) = &service_id {
            match chargeable_service(&task_state, id.as_str(), currency) {
                Ok((service, _)) => (details.service_id, details.service_name) = (Some(service.id), Some(service.name)),
                Err(problem) => return Ok(Step::Refuse(problem)),
            }
        }
        Ok(match money::capture(tx, &hold_id, amount, details, at)? {
            Ok(charge) => Step::Answer(StatusCode::CREATED, JsonText::of(&charge_wire(&charge, currency))),
            Err(refusal) => Step::Refuse(hold_refusal(refusal)),
        })
    })
    .await;
    state.usage_wake.notify_one();
    response
}

/// Release a hold: its whole amount goes back to the lease.
#[utoipa::path(post, path = "/api/v1/billing/holds/{id}/release", tag = "billing",
    params(("id" = String, Path, description = "hold id"), ("Idempotency-Key" = String, Header, description = "1–255 printable characters")),
    responses((status = 200, body = Hold), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn release(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let currency = currency(&state)?;
    let keyed = Keyed::new(&headers, &format!("/api/v1/billing/holds/{id}/release"), &serde_json::Value::Null)?;
    let hold_id = parse_hold_id(&id)?;
    let mono = state.mono.clone();
    idempotency::run(&state, keyed, move |tx: &mut Tx<'_>| {
        Ok(match money::release(tx, &hold_id, mono.now_ms())? {
            Ok(hold) => Step::Answer(StatusCode::OK, JsonText::of(&hold_wire(&hold, currency))),
            Err(refusal) => Step::Refuse(hold_refusal(refusal)),
        })
    })
    .await
}

/// Charge the token's account. Requires `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/billing/charges", tag = "billing", security(("access_token" = [])), request_body = CreateCharge,
    params(("Idempotency-Key" = String, Header, description = "1–255 printable characters")),
    responses((status = 201, body = Charge), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 402, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn create_charge(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: ApiJson<CreateCharge>,
) -> Result<Response, Problem> {
    let (granted, currency) = token(&state, &headers, Scope::Charge).await?;
    let keyed = Keyed::new(&headers, "/api/v1/billing/charges", &body.raw)?;
    let ChargeAsk { service_id, amount, description, payload } = charge_ask(body.value, currency)?;
    let details =
        ChargeDetails { description, payload, idempotency_key: keyed.key().to_owned(), ..ChargeDetails::default() };
    let account = granted.claims.sub.to_string();
    let (task_state, prefix) = (state.clone(), invoice_prefix(&state));
    let response = idempotency::run(&state, keyed, move |tx: &mut Tx<'_>| {
        let at = at(&task_state, &prefix);
        let mut details = details.clone();
        // The service is read inside the idempotent work, as in a capture.
        let amount = match (&service_id, amount) {
            (Some(id), _) => match chargeable_service(&task_state, id.as_str(), currency) {
                Ok((service, price)) => {
                    (details.service_id, details.service_name) = (Some(service.id), Some(service.name));
                    price
                }
                Err(problem) => return Ok(Step::Refuse(problem)),
            },
            (None, Some(amount)) => amount,
            (None, None) => return Ok(Step::Refuse(Problem::internal())),
        };
        Ok(match money::place_charge(tx, &account, amount, details, at)? {
            Ok(charge) => Step::Answer(StatusCode::CREATED, JsonText::of(&charge_wire(&charge, currency))),
            Err(short) => Step::Short(short),
        })
    })
    .await;
    state.usage_wake.notify_one();
    response
}

/// One charge accepted by this sidecar (`accepted` until central acknowledged it, then `settled`).
#[utoipa::path(get, path = "/api/v1/billing/charges/{id}", tag = "billing",
    params(("id" = String, Path, description = "charge id")),
    responses((status = 200, body = Charge), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn get_charge(State(state): State<SharedState>, Path(id): Path<String>) -> Result<Json<Charge>, Problem> {
    let currency = currency(&state)?;
    let id = ChargeId::parse(&id).map_err(|_| Problem::not_found("no such charge"))?;
    let charge = state.store.read(move |r| money::get_charge(r, &id)).await.map_err(internal)?;
    let charge = charge.ok_or_else(|| Problem::not_found("no such charge"))?;
    Ok(Json(charge_wire(&charge, currency)))
}
