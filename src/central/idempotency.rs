//! The idempotency layer of DESIGN §5, shared by every money-moving POST: the stored answer is
//! written in the same commit as the work, replayed for the same request, and refused for a
//! different request or while the first is still running.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::central::error::{ApiResult, OrInternal};
use crate::central::state::{AppState, SharedState};
use crate::domain::idempotency::fingerprint;
use crate::http::billing_input::idempotency_key;
use crate::http::problem::Problem;
use crate::http::replay::{json_answer, replayed};
use crate::storage::central::records::IdempotencyRecord;
use crate::storage::central::settled_keys;
use crate::storage::idempotency::{Recall, recall_in_tx, remember};
use crate::storage::{StoreError, Tx};
use crate::vocab::json_text::JsonText;
use crate::vocab::limits::{lease_recall_poll_ms, lease_recall_wait_ms};
use crate::vocab::names::IdempotencyKey;

/// A request that carries an `Idempotency-Key`, with its scope and fingerprint.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    scope: String,
    key: IdempotencyKey,
    fingerprint: String,
}

impl IdempotentRequest {
    /// Reads the required header; missing or malformed is 400.
    pub fn new(
        headers: &HeaderMap,
        scope: String,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> ApiResult<Self> {
        let key = idempotency_key(headers)?;
        Ok(IdempotentRequest { scope, key, fingerprint: fingerprint(method, path, body) })
    }
}

/// What the work answered: a success with its body and an extra value for after the commit,
/// or a refusal (which must have written nothing).
pub type WorkResult<X> = Result<Result<(StatusCode, serde_json::Value, X), Problem>, StoreError>;

enum Outcome<X> {
    Done(StatusCode, JsonText, Option<X>, Option<Problem>),
    Replay(IdempotencyRecord),
    Mismatch,
    /// The work recalled leases and asks to be tried again; nothing was stored under the key.
    Wait,
}

/// The `code` of the problem a work answers to say "leases were recalled, try me again"
/// (`run_recalling`); a 503, so it is never stored and never reaches a client.
const RECALL_PENDING: &str = "lease_recall_pending";

/// What a work answers when it could be served once recalled leases come back (DESIGN §7).
pub fn recall_pending() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, RECALL_PENDING, "waiting for recalled leases")
}

/// Removes the in-flight mark however the request ends.
struct InFlight<'a> {
    state: &'a AppState,
    entry: (String, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.state.in_flight.lock() {
            set.remove(&self.entry);
        }
    }
}

/// Runs `work` once per (scope, key). Returns the answer and, only when the work ran now and
/// succeeded, its extra value.
pub async fn run<X, F>(state: &SharedState, request: IdempotentRequest, work: F) -> ApiResult<(Response, Option<X>)>
where
    X: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> WorkResult<X> + Send + 'static,
{
    let _guard = mark_in_flight(state, &request)?;
    answer(run_once(state, request, work).await?)
}

/// Like `run`, for work that central could serve once recalled leases return (DESIGN §7
/// "leases never starve others"): while the work answers `recall_pending()` and
/// `lease_recall_wait_ms` has not passed, it is tried again every `lease_recall_poll_ms`,
/// outside the writer. The work's flag says whether it may still ask to wait; the last try
/// gives the final answer (a 402, stored as usual).
pub async fn run_recalling<X, F>(
    state: &SharedState,
    request: IdempotentRequest,
    work: F,
) -> ApiResult<(Response, Option<X>)>
where
    X: Send + 'static,
    F: Fn(&mut Tx<'_>, bool) -> WorkResult<X> + Clone + Send + 'static,
{
    // Marked once for all the tries: a request with the same key that comes while this one
    // waits for recalled leases gets 409, as it would during any one try.
    let _guard = mark_in_flight(state, &request)?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(lease_recall_wait_ms);
    loop {
        let may_wait = tokio::time::Instant::now() < deadline;
        let attempt = work.clone();
        match run_once(state, request.clone(), move |tx| attempt(tx, may_wait)).await? {
            Outcome::Wait if may_wait => tokio::time::sleep(Duration::from_millis(lease_recall_poll_ms)).await,
            outcome => return answer(outcome),
        }
    }
}

fn answer<X>(outcome: Outcome<X>) -> ApiResult<(Response, Option<X>)> {
    match outcome {
        Outcome::Done(_, _, _, Some(problem)) => Ok((problem.into_response(), None)),
        Outcome::Done(status, body, extra, None) => Ok((json_answer(status, body), extra)),
        Outcome::Mismatch => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        )),
        Outcome::Replay(record) => Ok((replayed(record.status, record.body), None)),
        Outcome::Wait => Err(Problem::internal()),
    }
}

/// Marks the request's (scope, key) as being answered until the guard drops; 409
/// `idempotency_key_in_use` when it already is.
fn mark_in_flight<'a>(state: &'a SharedState, request: &IdempotentRequest) -> ApiResult<InFlight<'a>> {
    let entry = (request.scope.clone(), request.key.as_str().to_owned());
    let mut set = state.in_flight.lock().map_err(|_| Problem::internal())?;
    if !set.insert(entry.clone()) {
        return Err(Problem::conflict(
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry later",
        )
        .with_retry_after(1));
    }
    Ok(InFlight { state, entry })
}

/// One try of the work in one write transaction; the caller holds the in-flight mark.
async fn run_once<X, F>(state: &SharedState, request: IdempotentRequest, work: F) -> ApiResult<Outcome<X>>
where
    X: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> WorkResult<X> + Send + 'static,
{
    let now = state.now();
    let IdempotentRequest { scope, key, fingerprint } = request;
    let outcome = state
        .store
        .write(move |tx| {
            match recall_in_tx(tx, &scope, key.as_str(), &fingerprint)? {
                Recall::Replay(record) => return Ok(Outcome::Replay(record)),
                Recall::Mismatch => return Ok(Outcome::Mismatch),
                Recall::Fresh => {}
            }
            let (status, body, extra, problem) = match work(tx)? {
                Ok((status, body, extra)) => (status, JsonText::from(&body), Some(extra), None),
                Err(problem) if problem.code == RECALL_PENDING => return Ok(Outcome::Wait),
                Err(problem) => (problem.status_code(), JsonText::of(&problem), None, Some(problem)),
            };
            // Only final answers are kept; a 5xx lets a retry do the work (DESIGN §5).
            if !status.is_server_error() {
                // A charge this request settled keeps its mark in this answer (schema 3).
                let settled_charge = settled_keys::take_for_answer(tx, &scope, key.as_str());
                let record = IdempotencyRecord {
                    fingerprint,
                    status: status.as_u16(),
                    body: body.clone(),
                    created_at: now,
                    settled_charge,
                };
                remember(tx, &scope, key.as_str(), &record)?;
            }
            Ok(Outcome::Done(status, body, extra, problem))
        })
        .await
        .or_internal()?;
    Ok(outcome)
}
