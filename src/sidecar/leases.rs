//! Leases at the sidecar (DESIGN §7): getting more of an account's funds from central when a
//! hold or charge needs them (synchronously, one request per account at a time), keeping leases
//! that are in use renewed ahead of their deadline, closing leases that are idle or recalled,
//! and expiring holds whose time or lease has run out. A deadline is the sidecar's monotonic
//! time when it *sent* the request plus the `ttl_s` central answered, so a slow answer only ever
//! shortens it.

use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::watch;

use crate::http::problem::Problem;
use crate::sidecar::client::SyncError;
use crate::sidecar::state::SharedState;
use crate::storage::StoreError;
use crate::storage::sidecar::money::{self, LeaseState, LocalLease};
use crate::storage::sidecar::sync_state::Enrolment;
use crate::vocab::limits::{
    lease_idle_close_s, lease_keeper_interval_ms, lease_low_water_parts, lease_low_water_recent_s, lease_renew_ahead_s,
    lease_safety_margin_s, request_amount_units_max, sync_request_timeout_s,
};
use crate::vocab::money::{Amount, Currency};
use crate::vocab::rng::random_bytes;
use crate::wire::leases::{CloseLease, LeaseGranted, OpenLease, RenewLease};

/// Why a lease could not be had.
#[derive(Debug)]
pub enum AcquireError {
    /// Central could not be asked (down, slow, or answering 5xx): 503 `central_unavailable`.
    Unavailable(String),
    /// Central reserved less than needed: the wallet cannot pay.
    NoFunds,
    /// Central reserved less than needed although the wallet had the funds: the grant's
    /// spending cap stopped it.
    CapReached,
    /// Central refused the account (its grant is no longer active there, or it is unknown).
    Refused(Problem),
    Store(StoreError),
}

impl From<StoreError> for AcquireError {
    fn from(error: StoreError) -> Self {
        AcquireError::Store(error)
    }
}

impl AcquireError {
    pub fn into_problem(self) -> Problem {
        match self {
            AcquireError::Unavailable(why) => {
                tracing::warn!(error = %why, "central is unreachable for a lease");
                central_unavailable()
            }
            AcquireError::NoFunds => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_funds",
                "the wallet's available funds do not cover the amount",
            ),
            AcquireError::CapReached => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "spending_cap_exceeded",
                "the grant's spending cap over 30 days would be exceeded",
            ),
            AcquireError::Refused(problem) => problem,
            AcquireError::Store(error) => {
                tracing::error!(error = %error, "storing a lease failed");
                Problem::internal()
            }
        }
    }
}

pub fn central_unavailable() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "central_unavailable",
        "this needs central, which the sidecar cannot reach now; retry later",
    )
    .with_retry_after(1)
}

fn request_id() -> String {
    format!("req_{}", hex::encode(random_bytes::<16>()))
}

fn unavailable(error: SyncError) -> AcquireError {
    match error {
        SyncError::Rejected { status: 403, .. } => AcquireError::Refused(
            Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", "the customer's grant is no longer active")
                .with_www_authenticate("Bearer error=\"invalid_token\""),
        ),
        SyncError::Rejected { status: 404, .. } => AcquireError::Refused(Problem::not_found("no such account")),
        // Any other refusal is a fault of this sidecar's request, which a retry would repeat.
        SyncError::Rejected { status, code } => {
            tracing::error!(status, code = %code, "central refused a lease request");
            AcquireError::Refused(Problem::internal())
        }
        other => AcquireError::Unavailable(other.to_string()),
    }
}

/// Makes sure a usable lease of `account` has `need` unused: renews the lease that lives
/// longest (adding what is missing plus the chunk) or opens a new one.
pub async fn acquire(state: &SharedState, account: &str, need: Amount) -> Result<(), AcquireError> {
    let lock = state.lease_lock(account);
    let _one_at_a_time = lock.lock().await;
    let me = state.enrolment.get().cloned().ok_or_else(|| AcquireError::Unavailable("not enrolled".into()))?;
    let currency = currency(state).ok_or_else(|| AcquireError::Unavailable("no snapshot yet".into()))?;
    adopt_pending_open(state, &me, account, currency).await?;
    let owned = account.to_owned();
    let leases = state.store.read(move |r| money::leases_of(r, &owned)).await?;
    let now_ms = state.mono.now_ms();
    let usable = leases.iter().filter(|l| l.usable(now_ms));
    if usable.clone().any(|l| l.unused() >= need) {
        return Ok(());
    }
    let sent_ms = now_ms;
    let chunk = state.lease_chunk;
    let granted = match usable.max_by_key(|l| l.deadline_ms) {
        Some(lease) => {
            let add = at_most_requestable(need.saturating_sub(lease.unused()).checked_add(chunk).unwrap_or(need));
            let body = RenewLease { request_id: request_id(), add_amount: Some(add.to_wire(currency)) };
            match state.central.renew_lease(&me, &lease.id, &body).await {
                Ok(granted) => granted,
                // Central no longer has it (closed or expired there): stop using it, open anew.
                Err(SyncError::Rejected { status: 404 | 409, .. }) => {
                    let (account, id, now_ms) = (lease.account_id.clone(), lease.id.clone(), state.mono.now_ms());
                    state.store.write(move |tx| money::recall_lease(tx, &account, &id, now_ms)).await?;
                    open(state, &me, lease.account_id.clone(), need, chunk, currency).await?
                }
                Err(error) => return Err(unavailable(error)),
            }
        }
        None => open(state, &me, account.to_owned(), need, chunk, currency).await?,
    };
    let (lease, available) = record(state, granted, sent_ms, currency).await?;
    state.metrics.lease_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let unused = lease.as_ref().map_or(Amount::ZERO, LocalLease::unused);
    if unused >= need {
        return Ok(());
    }
    // Central reserves min(asked, available, cap room): with the funds there, the cap stopped it.
    match available.and_then(|a| a.checked_add(unused)) {
        Some(could_pay) if could_pay >= need => Err(AcquireError::CapReached),
        _ => Err(AcquireError::NoFunds),
    }
}

/// The chunk on top of a need never takes a lease request past the largest amount central
/// accepts (a need alone is within it: it passed the same check here).
fn at_most_requestable(amount: Amount) -> Amount {
    let max = Amount::from_decimal(rust_decimal::Decimal::from(request_amount_units_max)).unwrap_or(amount);
    amount.min(max)
}

async fn open(
    state: &SharedState,
    me: &Enrolment,
    account_id: String,
    need: Amount,
    chunk: Amount,
    currency: Currency,
) -> Result<LeaseGranted, AcquireError> {
    let amount = at_most_requestable(need.checked_add(chunk).unwrap_or(need));
    let body = OpenLease { request_id: request_id(), account_id, amount: amount.to_wire(currency) };
    let sent_ms = state.mono.now_ms();
    match state.central.open_lease(me, &body).await {
        Ok(granted) => Ok(granted),
        Err(error) => {
            if outcome_unknown(&error) {
                remember_pending_open(state, body, sent_ms);
            }
            Err(unavailable(error))
        }
    }
}

/// Whether central may have done what a call asked although no good answer came back: the
/// connection broke or timed out, central answered 5xx, or its answer could not be read.
fn outcome_unknown(error: &SyncError) -> bool {
    matches!(error, SyncError::Unreachable(_) | SyncError::Status(_) | SyncError::Malformed(_))
}

fn remember_pending_open(state: &SharedState, body: OpenLease, sent_ms: u64) {
    let mut pending = state.pending_opens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    pending.insert(body.account_id.clone(), (body, sent_ms));
}

/// Sends again, with its `request_id`, an open of `account` whose answer never came: central
/// answers what it did the first time, so a lease it committed is adopted instead of sitting
/// unknown in `leased` until its deadline and grace pass. Still no answer: 503, and it waits
/// for the next try.
async fn adopt_pending_open(
    state: &SharedState,
    me: &Enrolment,
    account: &str,
    currency: Currency,
) -> Result<(), AcquireError> {
    let pending = state.pending_opens.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(account);
    let Some((body, sent_ms)) = pending else { return Ok(()) };
    match state.central.open_lease(me, &body).await {
        Ok(granted) => {
            tracing::info!(account_id = %account, lease_id = %granted.lease_id, "adopted a lease whose open was not answered");
            // The deadline counts from the first send, as central's does.
            record(state, granted, sent_ms, currency).await?;
            Ok(())
        }
        Err(error) if outcome_unknown(&error) => {
            remember_pending_open(state, body, sent_ms);
            Err(unavailable(error))
        }
        // Refused now, so it never took effect (or its lease is gone): nothing to adopt.
        Err(error) => {
            tracing::warn!(account_id = %account, error = %error, "an unanswered lease open was refused when sent again");
            Ok(())
        }
    }
}

/// Stores what central granted; `None` when it granted nothing. Also returns the wallet's
/// `available` central reported.
async fn record(
    state: &SharedState,
    granted: LeaseGranted,
    sent_ms: u64,
    currency: Currency,
) -> Result<(Option<LocalLease>, Option<Amount>), AcquireError> {
    let parse = |text: &str| {
        Amount::parse_request(text, currency).or_else(|_| Amount::parse_stored(text)).map_err(|e| {
            AcquireError::Unavailable(format!("central answered an amount that is not one ({text:?}): {e}"))
        })
    };
    let available = parse(&granted.available).ok();
    if let Some(available) = available {
        state.note_wallet(&granted.account_id, available, state.now());
    }
    if granted.lease_id.is_empty() || parse(&granted.amount).is_ok_and(|a| a.is_zero()) {
        return Ok((None, available));
    }
    let ceiling = parse(&granted.amount)?;
    let deadline_ms = sent_ms.saturating_add(granted.ttl_s.saturating_mul(1000));
    let lease = state
        .store
        .write(move |tx| money::grant_lease(tx, &granted.account_id, &granted.lease_id, ceiling, deadline_ms))
        .await?;
    Ok((Some(lease), available))
}

/// The deployment currency, once a snapshot told it.
pub fn currency(state: &SharedState) -> Option<Currency> {
    state.local().as_ref().and_then(|l| l.currency)
}

/// Tends leases and holds until `stop` turns true: every `lease_keeper_interval_ms`, and whenever
/// woken.
pub async fn keep(state: SharedState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(lease_keeper_interval_ms)) => {}
            () = state.keeper_wake.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(error) = tend(&state).await {
            tracing::warn!(error = %error, "tending leases failed; trying again shortly");
        }
    }
}

/// What to do with one lease now.
#[derive(Debug, PartialEq, Eq)]
enum Care {
    Nothing,
    Renew,
    /// Renew and raise the ceiling by a chunk: the lease is in use and nearly spent.
    Grow,
    Close,
}

/// The rule: a lease near its deadline is renewed while it backs holds or was used lately,
/// else closed (a recalled one too, while it backs holds); a lease in use whose unused part fell below `low_water` grows by a chunk
/// before a request has to wait for it; an idle lease with no holds is closed; a recalled one
/// is closed once its holds are done; a closing one is (re)sent.
fn care(lease: &LocalLease, now_ms: u64, low_water: Amount) -> Care {
    let renew_at = lease.deadline_ms.saturating_sub((lease_safety_margin_s + lease_renew_ahead_s) * 1000);
    let idle = now_ms.saturating_sub(lease.last_used_ms) > lease_idle_close_s * 1000;
    match lease.state {
        LeaseState::Closing { .. } => Care::Close,
        LeaseState::Recalled if lease.held.is_zero() => Care::Close,
        // Its holds stay capturable until they expire (§5.1), so the lease lives on for them.
        LeaseState::Recalled if now_ms >= renew_at && now_ms < lease.deadline_ms => Care::Renew,
        LeaseState::Recalled => Care::Nothing,
        LeaseState::Open if now_ms >= lease.deadline_ms => {
            if lease.held.is_zero() {
                Care::Close
            } else {
                Care::Nothing
            }
        }
        LeaseState::Open if now_ms >= renew_at => {
            if !lease.held.is_zero() || !idle {
                Care::Renew
            } else {
                Care::Close
            }
        }
        LeaseState::Open if idle && lease.held.is_zero() => Care::Close,
        LeaseState::Open
            if lease.unused() < low_water
                && now_ms.saturating_sub(lease.last_used_ms) <= lease_low_water_recent_s * 1000 =>
        {
            Care::Grow
        }
        LeaseState::Open => Care::Nothing,
    }
}

async fn tend(state: &SharedState) -> Result<(), StoreError> {
    let now_ms = state.mono.now_ms();
    let recall_before_ms = now_ms.saturating_sub(sync_request_timeout_s * 2 * 1000);
    // A durable write only when something is due: an idle sidecar does not commit on every look.
    // The leases are read once, with that check, unless the write may have changed them.
    let (due, mut leases) = state
        .store
        .read(move |r| {
            let leases = money::all_leases(r)?;
            Ok((money::keeping_due(r, &leases, now_ms, recall_before_ms)?, leases))
        })
        .await?;
    if due {
        let expired = state
            .store
            .write(move |tx| {
                money::prune_recalls(tx, recall_before_ms)?;
                money::expire_holds(tx, now_ms)
            })
            .await?;
        if expired > 0 {
            tracing::info!(holds = expired, "holds expired");
        }
        leases = state.store.read(money::all_leases).await?;
    }
    let (Some(me), Some(currency)) = (state.enrolment.get().cloned(), currency(state)) else { return Ok(()) };
    state.metrics.note_leases(&leases);
    let low_water =
        Amount::from_decimal(state.lease_chunk.decimal() / rust_decimal::Decimal::from(lease_low_water_parts))
            .unwrap_or(Amount::ZERO);
    for lease in leases {
        // Growing asks central for more; not when the wallet is known to be short of a chunk,
        // as that would only make central recall others' leases for nothing.
        let wallet_has_a_chunk =
            state.wallet(&lease.account_id).is_some_and(|(available, _)| available >= state.lease_chunk);
        let low_water = if wallet_has_a_chunk { low_water } else { Amount::ZERO };
        match care(&lease, now_ms, low_water) {
            Care::Nothing => {}
            Care::Renew => renew(state, &me, &lease, None, currency).await?,
            Care::Grow => renew(state, &me, &lease, Some(state.lease_chunk), currency).await?,
            Care::Close => close(state, &me, lease).await?,
        }
    }
    Ok(())
}

/// Renews a lease, adding `add` to its ceiling when given.
async fn renew(
    state: &SharedState,
    me: &Enrolment,
    lease: &LocalLease,
    add: Option<Amount>,
    currency: Currency,
) -> Result<(), StoreError> {
    let lock = state.lease_lock(&lease.account_id);
    let _one_at_a_time = lock.lock().await;
    let sent_ms = state.mono.now_ms();
    let body = RenewLease { request_id: request_id(), add_amount: add.map(|a| a.to_wire(currency)) };
    match state.central.renew_lease(me, &lease.id, &body).await {
        Ok(granted) => {
            if let Err(error) = record(state, granted, sent_ms, currency).await {
                tracing::warn!(lease_id = %lease.id, error = ?error, "recording a renewed lease failed");
            }
        }
        Err(SyncError::Rejected { status: 404 | 409, .. }) => {
            let (account, id, now_ms) = (lease.account_id.clone(), lease.id.clone(), state.mono.now_ms());
            state.store.write(move |tx| money::recall_lease(tx, &account, &id, now_ms)).await?;
        }
        Err(error) => tracing::warn!(lease_id = %lease.id, error = %error, "renewing a lease failed"),
    }
    Ok(())
}

/// Marks the lease closing (unless a hold still needs it) and asks central to close it
/// through the latest usage seq; forgets it once central took the close.
async fn close(state: &SharedState, me: &Enrolment, lease: LocalLease) -> Result<(), StoreError> {
    let lock = state.lease_lock(&lease.account_id);
    let _one_at_a_time = lock.lock().await;
    let (account, id) = (lease.account_id.clone(), lease.id.clone());
    let closing = state.store.write(move |tx| money::start_closing(tx, &account, &id, request_id())).await?;
    let Some(LocalLease { state: LeaseState::Closing { request_id, through_seq }, .. }) = closing else {
        return Ok(());
    };
    match state.central.close_lease(me, &lease.id, &CloseLease { request_id, through_seq }).await {
        Ok(closed) => {
            tracing::debug!(lease_id = %lease.id, status = %closed.status, "lease closed");
            let (account, id) = (lease.account_id.clone(), lease.id.clone());
            state.store.write(move |tx| money::forget_lease(tx, &account, &id)).await?;
        }
        Err(SyncError::Rejected { status: 404, .. }) => {
            let (account, id) = (lease.account_id.clone(), lease.id.clone());
            state.store.write(move |tx| money::forget_lease(tx, &account, &id)).await?;
        }
        Err(error) => tracing::warn!(lease_id = %lease.id, error = %error, "closing a lease failed; will retry"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(state: LeaseState, held: &str, deadline_ms: u64, last_used_ms: u64) -> LocalLease {
        let amount = |t: &str| Amount::parse_stored(t).expect("amount");
        LocalLease {
            id: "lse_1".into(),
            account_id: "acct_1".into(),
            ceiling: amount("100"),
            charged: Amount::ZERO,
            held: amount(held),
            deadline_ms,
            state,
            last_used_ms,
        }
    }

    fn care_at(lease: &LocalLease, now_ms: u64) -> Care {
        care(lease, now_ms, Amount::ZERO)
    }

    #[test]
    fn a_lease_in_use_grows_before_it_runs_dry() {
        // Proves the low-water rule: a recently used lease with little left grows by a chunk; an unused one or one with enough left does not.
        let low_water = Amount::parse_stored("10").expect("amount");
        let mut nearly_spent = lease(LeaseState::Open, "0", 1_000_000, 5_000);
        nearly_spent.charged = Amount::parse_stored("95").expect("amount");
        assert_eq!(care(&nearly_spent, 6_000, low_water), Care::Grow);
        assert_eq!(care(&nearly_spent, 5_000 + lease_low_water_recent_s * 1000 + 1, low_water), Care::Nothing);
        assert_eq!(care(&lease(LeaseState::Open, "0", 1_000_000, 5_000), 6_000, low_water), Care::Nothing);
        let recalled = LocalLease { state: LeaseState::Recalled, ..nearly_spent.clone() };
        assert_eq!(care(&recalled, 6_000, low_water), Care::Close);
        assert_eq!(care(&nearly_spent, 6_000, Amount::ZERO), Care::Nothing, "no growing without the funds");
    }

    #[test]
    fn leases_are_renewed_while_in_use_and_closed_when_idle_or_recalled() {
        // Proves the keeper's rule for each state: renew near the deadline only when holds or recent use need it, close idle and recalled leases, never close one with live holds.
        let deadline = 1_000_000;
        let near = deadline - (lease_safety_margin_s + lease_renew_ahead_s) * 1000 + 1;
        let idle_since = near - lease_idle_close_s * 1000 - 1;
        assert_eq!(care_at(&lease(LeaseState::Open, "0", deadline, near), near), Care::Renew);
        assert_eq!(care_at(&lease(LeaseState::Open, "5", deadline, idle_since), near), Care::Renew);
        assert_eq!(care_at(&lease(LeaseState::Open, "0", deadline, idle_since), near), Care::Close);
        assert_eq!(care_at(&lease(LeaseState::Open, "0", deadline, 0), 1 + lease_idle_close_s * 1000), Care::Close);
        assert_eq!(care_at(&lease(LeaseState::Open, "0", deadline, 10), 20), Care::Nothing);
        assert_eq!(care_at(&lease(LeaseState::Open, "5", deadline, 0), deadline), Care::Nothing);
        assert_eq!(care_at(&lease(LeaseState::Recalled, "5", deadline, 0), 10), Care::Nothing);
        assert_eq!(care_at(&lease(LeaseState::Recalled, "5", deadline, 0), near), Care::Renew, "its holds need it");
        assert_eq!(care_at(&lease(LeaseState::Recalled, "5", deadline, 0), deadline), Care::Nothing);
        assert_eq!(care_at(&lease(LeaseState::Recalled, "0", deadline, 0), 10), Care::Close);
        let closing = LeaseState::Closing { request_id: "req_1".into(), through_seq: 3 };
        assert_eq!(care_at(&lease(closing, "0", deadline, 0), 10), Care::Close);
    }
}
