//! `/sync/v1/leases`: a sidecar reserves funds of one account (open), extends and raises them
//! (renew) and gives back what it did not use (close), each idempotent by `request_id` (DESIGN §7).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::central::error::{ApiResult, OrInternal};
use crate::central::sidecar_auth::SidecarAuth;
use crate::central::state::SharedState;
use crate::domain::idempotency::fingerprint;
use crate::http::json::ApiJson;
use crate::http::problem::{FieldErrors, Problem};
use crate::http::replay::{json_answer, replayed};
use crate::storage::central::leases::{self, LeaseError, LeaseTime, Reserved};
use crate::storage::central::records::{IdempotencyRecord, LeaseRecord, LeaseStatus};
use crate::storage::idempotency::{Recall, recall_lease_request, remember_lease_request};
use crate::storage::{StoreError, Tx};
use crate::vocab::ids::{AccountId, LeaseId};
use crate::vocab::json_text::JsonText;
use crate::vocab::limits::{lease_recall_poll_ms, lease_recall_wait_ms};
use crate::vocab::money::{Amount, Currency};
use crate::vocab::names::IdempotencyKey;
use crate::wire::leases::{CloseLease, LeaseClosed, LeaseGranted, OpenLease, RenewLease};

/// What one try of a lease call answered.
enum Step {
    /// Recalled leases may bring the funds: try again shortly (nothing stored).
    Wait,
    Answer(StatusCode, serde_json::Value),
}

enum Outcome {
    Answer(StatusCode, JsonText),
    Replay(IdempotencyRecord),
    Mismatch,
    Wait,
}

fn refusal(error: LeaseError) -> Problem {
    match error {
        LeaseError::AccountNotFound | LeaseError::LeaseNotFound => Problem::not_found(error.to_string()),
        LeaseError::GrantInactive(_) => Problem::forbidden(error.to_string()),
        LeaseError::LeaseNotOpen(_) => Problem::conflict("conflict", error.to_string()),
    }
}

fn problem_step(problem: Problem) -> Step {
    Step::Answer(problem.status_code(), serde_json::to_value(&problem).unwrap_or_default())
}

/// `account` names the account when no lease was created (open of nothing).
fn granted(lease: Option<&LeaseRecord>, account: &str, available: Amount, at: (Currency, u64)) -> LeaseGranted {
    let (currency, ttl_s) = at;
    LeaseGranted {
        lease_id: lease.map(|l| l.id.to_string()).unwrap_or_default(),
        account_id: lease.map_or_else(|| account.to_owned(), |l| l.account_id.to_string()),
        amount: lease.map_or(Amount::ZERO, |l| l.ceiling).to_wire(currency),
        ttl_s,
        available: available.to_wire(currency),
    }
}

fn reserved_step(reserved: Result<Reserved, LeaseError>, account: &str, created: bool, at: (Currency, u64)) -> Step {
    match reserved {
        Ok(Reserved::Wait) => Step::Wait,
        Ok(Reserved::Done { lease, available }) => {
            let status = if created && lease.is_some() { StatusCode::CREATED } else { StatusCode::OK };
            let body = granted(lease.as_deref(), account, available, at);
            Step::Answer(status, serde_json::to_value(body).unwrap_or_default())
        }
        Err(refused) => problem_step(refusal(refused)),
    }
}

fn request_id(errors: &mut FieldErrors, text: &str) -> Option<IdempotencyKey> {
    errors.check("request_id", IdempotencyKey::parse(text))
}

fn lease_id(id: &str) -> ApiResult<LeaseId> {
    LeaseId::parse(id).map_err(|_| Problem::not_found("no such lease"))
}

/// Reserve up to `amount` of the account's `available` (bounded by its grant's cap). 201 with
/// the lease; 200 with `amount: "0"` and an empty `lease_id` when nothing can be reserved.
#[utoipa::path(post, path = "/sync/v1/leases", tag = "sync", security(("sidecar" = [])), request_body = OpenLease,
    responses((status = 201, body = LeaseGranted), (status = 200, description = "nothing could be reserved: amount \"0\", no lease", body = LeaseGranted),
        (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn open(
    State(state): State<SharedState>,
    auth: SidecarAuth,
    body: ApiJson<OpenLease>,
) -> ApiResult<Response> {
    let input = body.value;
    let mut errors = FieldErrors::default();
    let request = request_id(&mut errors, &input.request_id);
    let account = errors.check("account_id", AccountId::parse(&input.account_id));
    let amount = errors.check("amount", Amount::parse_request(&input.amount, state.currency));
    errors.finish()?;
    let (Some(request), Some(account), Some(amount)) = (request, account, amount) else {
        return Err(Problem::internal());
    };
    let print = fingerprint("POST", "/sync/v1/leases", &body.raw);
    let (at, currency, sidecar, company) = (
        LeaseTime { now: state.now(), ttl_s: state.lease_ttl_s },
        state.currency,
        auth.sidecar_id.clone(),
        auth.company_id.clone(),
    );
    run(&state, &auth, request, print, move |tx, may_wait| {
        let opened = leases::open(tx, &sidecar, &company, &account, amount, may_wait, at)?;
        Ok(reserved_step(opened, account.as_str(), true, (currency, at.ttl_s)))
    })
    .await
}

/// Move the deadline to now + `ttl_s` and, with `add_amount`, reserve up to that much more.
#[utoipa::path(post, path = "/sync/v1/leases/{id}/renew", tag = "sync", security(("sidecar" = [])), request_body = RenewLease,
    params(("id" = String, Path, description = "lease id")),
    responses((status = 200, body = LeaseGranted), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn renew(
    State(state): State<SharedState>,
    auth: SidecarAuth,
    Path(id): Path<String>,
    body: ApiJson<RenewLease>,
) -> ApiResult<Response> {
    let input = body.value;
    let mut errors = FieldErrors::default();
    let request = request_id(&mut errors, &input.request_id);
    let add =
        input.add_amount.as_deref().and_then(|a| errors.check("add_amount", Amount::parse_request(a, state.currency)));
    errors.finish()?;
    let Some(request) = request else { return Err(Problem::internal()) };
    let print = fingerprint("POST", &format!("/sync/v1/leases/{id}/renew"), &body.raw);
    let id = lease_id(&id)?;
    let (at, currency, sidecar) =
        (LeaseTime { now: state.now(), ttl_s: state.lease_ttl_s }, state.currency, auth.sidecar_id.clone());
    run(&state, &auth, request, print, move |tx, may_wait| {
        let renewed = leases::renew(tx, &sidecar, &id, add, may_wait, at)?;
        Ok(reserved_step(renewed, "", false, (currency, at.ttl_s)))
    })
    .await
}

/// Give the lease back: its unused remainder returns to `available` once this sidecar's usage
/// is applied through `through_seq` — at once (`closed`) or later (`closing`).
#[utoipa::path(post, path = "/sync/v1/leases/{id}/close", tag = "sync", security(("sidecar" = [])), request_body = CloseLease,
    params(("id" = String, Path, description = "lease id")),
    responses((status = 200, body = LeaseClosed), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn close(
    State(state): State<SharedState>,
    auth: SidecarAuth,
    Path(id): Path<String>,
    body: ApiJson<CloseLease>,
) -> ApiResult<Response> {
    let input = body.value;
    let mut errors = FieldErrors::default();
    let request = request_id(&mut errors, &input.request_id);
    errors.finish()?;
    let Some(request) = request else { return Err(Problem::internal()) };
    let print = fingerprint("POST", &format!("/sync/v1/leases/{id}/close"), &body.raw);
    let id = lease_id(&id)?;
    let (now, currency, sidecar, through) = (state.now(), state.currency, auth.sidecar_id.clone(), input.through_seq);
    run(&state, &auth, request, print, move |tx, _| {
        Ok(match leases::close(tx, &sidecar, &id, through, now)? {
            Ok(lease) => {
                Step::Answer(StatusCode::OK, serde_json::to_value(closed(&lease, currency)).unwrap_or_default())
            }
            Err(refused) => problem_step(refusal(refused)),
        })
    })
    .await
}

/// An expired lease answers `closed` too: its remainder is back, as after a close.
fn closed(lease: &LeaseRecord, currency: Currency) -> LeaseClosed {
    let status = if lease.status == LeaseStatus::Closing { "closing" } else { "closed" };
    LeaseClosed {
        lease_id: lease.id.to_string(),
        status: status.to_owned(),
        returned: lease.returned.map(|r| r.to_wire(currency)),
    }
}

/// Runs a lease call once per (sidecar, request id): a stored answer is replayed, a different
/// body with the same id is 422, and a call waiting for recalled leases is tried again every
/// `lease_recall_poll_ms` (outside the writer) for up to `lease_recall_wait_ms`.
async fn run<F>(
    state: &SharedState,
    auth: &SidecarAuth,
    request: IdempotencyKey,
    print: String,
    work: F,
) -> ApiResult<Response>
where
    F: Fn(&mut Tx<'_>, bool) -> Result<Step, StoreError> + Clone + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + Duration::from_millis(lease_recall_wait_ms);
    loop {
        let may_wait = tokio::time::Instant::now() < deadline;
        let (sidecar, request, print, work) = (auth.sidecar_id.clone(), request.clone(), print.clone(), work.clone());
        let now = state.now();
        let outcome = state
            .store
            .write(move |tx| {
                match recall_lease_request(tx, sidecar.as_str(), request.as_str(), &print)? {
                    Recall::Replay(record) => return Ok(Outcome::Replay(record)),
                    Recall::Mismatch => return Ok(Outcome::Mismatch),
                    Recall::Fresh => {}
                }
                let (status, body) = match work(tx, may_wait)? {
                    Step::Wait => return Ok(Outcome::Wait),
                    Step::Answer(status, body) => (status, JsonText::from(&body)),
                };
                let record = IdempotencyRecord {
                    fingerprint: print,
                    status: status.as_u16(),
                    body: body.clone(),
                    created_at: now,
                    settled_charge: None,
                };
                remember_lease_request(tx, sidecar.as_str(), request.as_str(), &record)?;
                Ok(Outcome::Answer(status, body))
            })
            .await
            .or_internal()?;
        match outcome {
            Outcome::Wait if may_wait => tokio::time::sleep(Duration::from_millis(lease_recall_poll_ms)).await,
            Outcome::Wait => return Err(Problem::internal()),
            Outcome::Answer(status, body) => return Ok(json_answer(status, body)),
            Outcome::Replay(record) => return Ok(replayed(record.status, record.body)),
            Outcome::Mismatch => {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this request_id was already used for a different request",
                ));
            }
        }
    }
}
