//! Idempotency of the sidecar's money-moving calls (DESIGN §5): the same rules as central's
//! (replay, 422 for another request under the same key, 409 while the first runs; 2xx and 4xx
//! kept, 5xx and 503 never), with one more step: when the local leases do not cover the work,
//! a lease is got from central and the work runs again, so its answer and stored record are
//! always written in the commit that does the work.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::idempotency::fingerprint;
use crate::http::billing_input::idempotency_key;
use crate::http::problem::Problem;
use crate::http::replay::{json_answer, replayed};
use crate::sidecar::leases::{self, AcquireError};
use crate::sidecar::metrics::MoneyOutcome;
use crate::sidecar::state::{SharedState, SidecarState};
use crate::storage::idempotency::{IdempotencyRecord, Recall, company_scope};
use crate::storage::sidecar::money::Shortfall;
use crate::storage::{StoreError, Tx};
use crate::vocab::json_text::JsonText;
use crate::vocab::limits::lease_attempts_max;
use crate::vocab::names::IdempotencyKey;

/// A request with its key and fingerprint.
#[derive(Debug, Clone)]
pub struct Keyed {
    key: IdempotencyKey,
    fingerprint: String,
}

impl Keyed {
    pub fn new(headers: &HeaderMap, path: &str, body: &serde_json::Value) -> Result<Keyed, Problem> {
        Ok(Keyed { key: idempotency_key(headers)?, fingerprint: fingerprint("POST", path, body) })
    }

    pub fn key(&self) -> &str {
        self.key.as_str()
    }
}

/// What one try of the work decided.
#[derive(Debug)]
pub enum Step {
    Answer(StatusCode, JsonText),
    /// A refusal; it must have written nothing that depends on being answered.
    Refuse(Problem),
    /// The leases do not cover it: get more from central and try again.
    Short(Shortfall),
}

enum Outcome {
    Answered(StatusCode, JsonText),
    Refused(Problem),
    Short(Shortfall),
    Replay(IdempotencyRecord),
    Mismatch,
}

/// Removes the in-flight mark however the request ends.
struct InFlight<'a> {
    state: &'a SidecarState,
    key: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.state.in_flight.lock() {
            set.remove(&self.key);
        }
    }
}

/// The idempotency scope: the sidecar acts for one company, as central scopes keys by company.
fn scope(state: &SidecarState) -> String {
    state.company.get().map_or_else(|| "company".to_owned(), company_scope)
}

/// Runs `work` once per key (more than once only when it fell short of its lease).
pub async fn run<F>(state: &SharedState, keyed: Keyed, work: F) -> Result<Response, Problem>
where
    F: Fn(&mut Tx<'_>) -> Result<Step, StoreError> + Send + Sync + Clone + 'static,
{
    {
        let mut set = state.in_flight.lock().map_err(|_| Problem::internal())?;
        if !set.insert(keyed.key().to_owned()) {
            return Err(Problem::conflict(
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being processed; retry later",
            )
            .with_retry_after(1));
        }
    }
    let _guard = InFlight { state, key: keyed.key().to_owned() };
    let scope = scope(state);
    for _ in 0..lease_attempts_max {
        let (work, tx_scope, tx_keyed, now) = (work.clone(), scope.clone(), keyed.clone(), state.now());
        let answers = state.answers.clone();
        let outcome = state
            .store
            .write(move |tx| {
                let (scope, keyed) = (tx_scope, tx_keyed);
                match answers.recall(tx, &scope, keyed.key(), &keyed.fingerprint)? {
                    Recall::Replay(record) => return Ok(Outcome::Replay(record)),
                    Recall::Mismatch => return Ok(Outcome::Mismatch),
                    Recall::Fresh => {}
                }
                let (status, body, outcome) = match work(tx)? {
                    Step::Short(shortfall) => return Ok(Outcome::Short(shortfall)),
                    Step::Answer(status, body) => (status, body.clone(), Outcome::Answered(status, body)),
                    Step::Refuse(problem) => (problem.status_code(), JsonText::of(&problem), Outcome::Refused(problem)),
                };
                if !status.is_server_error() {
                    let fingerprint = keyed.fingerprint.clone();
                    let record = IdempotencyRecord {
                        fingerprint,
                        status: status.as_u16(),
                        body,
                        created_at: now,
                        settled_charge: None,
                    };
                    answers.remember(tx, &scope, keyed.key(), &record)?;
                }
                Ok(outcome)
            })
            .await
            .map_err(|error| {
                tracing::error!(error = %error, "a billing write failed");
                Problem::internal()
            })?;
        match outcome {
            Outcome::Answered(status, body) => {
                state.metrics.money(MoneyOutcome::Accepted);
                return Ok(json_answer(status, body));
            }
            Outcome::Refused(problem) => {
                state.metrics.money(MoneyOutcome::Refused);
                return Ok(problem.into_response());
            }
            Outcome::Replay(record) => return Ok(replayed(record.status, record.body)),
            Outcome::Mismatch => {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used for a different request",
                ));
            }
            Outcome::Short(shortfall) => match leases::acquire(state, &shortfall.account_id, shortfall.need).await {
                Ok(()) => {}
                Err(AcquireError::NoFunds) => {
                    state.metrics.money(MoneyOutcome::InsufficientFunds);
                    return refuse_for_good(state, scope, keyed, AcquireError::NoFunds.into_problem()).await;
                }
                // A money rule's answer is final like any 4xx (DESIGN §5), as central keeps it.
                Err(AcquireError::CapReached) => {
                    state.metrics.money(MoneyOutcome::Refused);
                    return refuse_for_good(state, scope, keyed, AcquireError::CapReached.into_problem()).await;
                }
                Err(error) => {
                    let problem = error.into_problem();
                    let outcome = if problem.status_code() == StatusCode::SERVICE_UNAVAILABLE {
                        MoneyOutcome::CentralUnavailable
                    } else {
                        MoneyOutcome::Refused
                    };
                    state.metrics.money(outcome);
                    return Err(problem);
                }
            },
        }
    }
    // Others kept taking what each new lease brought: a retry will find its own.
    state.metrics.money(MoneyOutcome::CentralUnavailable);
    Err(leases::central_unavailable())
}

/// Stores a final refusal that came from outside the work (central found no funds, or the
/// grant's spending cap left no room).
async fn refuse_for_good(
    state: &SharedState,
    scope: String,
    keyed: Keyed,
    problem: Problem,
) -> Result<Response, Problem> {
    let body = JsonText::of(&problem);
    let record = IdempotencyRecord {
        fingerprint: keyed.fingerprint.clone(),
        status: problem.status_code().as_u16(),
        body,
        created_at: state.now(),
        settled_charge: None,
    };
    let answers = state.answers.clone();
    let store = move |tx: &mut Tx<'_>| {
        // The key is held in flight, so nothing else stored an answer under it since the work.
        match answers.recall(tx, &scope, keyed.key(), &keyed.fingerprint)? {
            Recall::Fresh => answers.remember(tx, &scope, keyed.key(), &record),
            Recall::Replay(_) | Recall::Mismatch => Ok(()),
        }
    };
    state.store.write(store).await.map_err(|_| Problem::internal())?;
    Ok(problem.into_response())
}
