//! Keeping the sidecar current with central (DESIGN §7): enrol once (the credentials are kept in
//! redb, so later starts reuse them), take a snapshot when there is no stored state or the feed
//! answers 410, then long-poll the feed from the stored cursor. Every change is durable before
//! it is visible to token checks, and each feed page is applied with its new cursor in one
//! commit. Failed calls are retried with capped exponential backoff.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use crate::sidecar::backoff::Backoff;
use crate::sidecar::client::{CentralClient, SyncError};
use crate::sidecar::local::Local;
use crate::sidecar::state::SharedState;
use crate::storage::StoreError;
use crate::storage::sidecar::sync_state::{self, Enrolment};
use crate::vocab::ids::CompanyId;
use crate::vocab::limits::{sync_feed_wait_s, sync_prune_interval_s};
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;
use crate::wire::sync::{FeedEntry, FeedEvent, FeedPage};

/// Where the sync task starts from, as loaded from redb.
#[derive(Debug)]
pub struct Start {
    pub enrolment: Option<Enrolment>,
    pub cursor: Option<u64>,
}

/// Why one round of syncing stopped; every one is retried after a backoff.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Central(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("central enrolled this sidecar for company {0:?}, which is not a company id")]
    BadCompany(String),
}

/// Runs until `stop` turns true.
pub async fn run(state: SharedState, client: CentralClient, start: Start, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        () = sync_forever(&state, &client, start) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}

async fn sync_forever(state: &SharedState, client: &CentralClient, start: Start) {
    let Start { mut enrolment, mut cursor } = start;
    let mut backoff = Backoff::default();
    let mut next_prune = tokio::time::Instant::now();
    loop {
        let round = async {
            let me = match &enrolment {
                Some(me) => me.clone(),
                None => enrol(state, client).await?,
            };
            enrolment = Some(me.clone());
            let after = match cursor {
                Some(after) => after,
                None => snapshot(state, client, &me).await?,
            };
            cursor = Some(after);
            let page = match client.events(&me, after, sync_feed_wait_s).await {
                Err(SyncError::Gone) => {
                    tracing::warn!(cursor = after, "the feed no longer reaches our cursor; taking a new snapshot");
                    cursor = Some(snapshot(state, client, &me).await?);
                    return Ok::<(), RoundError>(());
                }
                other => other?,
            };
            cursor = Some(apply_page(state, page).await?);
            Ok(())
        };
        match round.await {
            Ok(()) => backoff.reset(),
            Err(error) => {
                state.metrics.sync_failures.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "sync with central failed");
                tokio::time::sleep(delay).await;
            }
        }
        if tokio::time::Instant::now() >= next_prune {
            next_prune = tokio::time::Instant::now() + Duration::from_secs(sync_prune_interval_s);
            prune(state).await;
        }
    }
}

async fn enrol(state: &SharedState, client: &CentralClient) -> Result<Enrolment, RoundError> {
    let me = client.enrol(&state.credentials).await?;
    let company = CompanyId::parse(&me.company_id).map_err(|_| RoundError::BadCompany(me.company_id.clone()))?;
    let stored = me.clone();
    state.store.write(move |tx| sync_state::put_enrolment(tx, &stored)).await?;
    let _ = state.company.set(company);
    let _ = state.enrolment.set(me.clone());
    tracing::info!(sidecar_id = %me.sidecar_id, company_id = %me.company_id, "enrolled with central");
    Ok(me)
}

/// Takes a snapshot, stores it, and then makes it visible. Returns its cursor.
async fn snapshot(state: &SharedState, client: &CentralClient, me: &Enrolment) -> Result<u64, RoundError> {
    let snapshot = client.snapshot(me).await?;
    let now_s = state.now().unix_s();
    let snapshot = std::sync::Arc::new(snapshot);
    let stored = snapshot.clone();
    state.store.write(move |tx| sync_state::apply_snapshot(tx, &stored, now_s)).await?;
    *state.local_mut() = Some(Local::from_snapshot(&snapshot));
    state.metrics.cursor.store(snapshot.cursor, Ordering::Relaxed);
    state.metrics.last_sync_unix_ms.store(state.now().unix_ms(), Ordering::Relaxed);
    state.metrics.snapshots_applied.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        cursor = snapshot.cursor,
        keys = snapshot.keys.len(),
        grants = snapshot.grants.len(),
        revoked = snapshot.revoked.len(),
        "snapshot applied"
    );
    Ok(snapshot.cursor)
}

/// Stores a feed page with its cursor in one commit, then applies it in memory. Returns the cursor.
async fn apply_page(state: &SharedState, page: FeedPage) -> Result<u64, RoundError> {
    let now = state.now();
    let page = std::sync::Arc::new(page);
    if !page.events.is_empty() {
        let stored = page.clone();
        let now_s = now.unix_s();
        let now_ms = state.mono.now_ms();
        state.store.write(move |tx| sync_state::apply_page(tx, &stored.events, stored.cursor, now_s, now_ms)).await?;
        if let Some(local) = state.local_mut().as_mut() {
            for entry in &page.events {
                local.apply(&entry.event);
            }
        }
        if let Some(at) = page.events.last().and_then(|e| Timestamp::parse_rfc3339(&e.at)) {
            let lag_ms = state.now().unix_ms().saturating_sub(at.unix_ms());
            state.metrics.last_event_lag_ms.store(lag_ms, Ordering::Relaxed);
        }
        for entry in &page.events {
            money_event(state, entry);
        }
        state.metrics.events_applied.fetch_add(page.events.len() as u64, Ordering::Relaxed);
        tracing::debug!(events = page.events.len(), cursor = page.cursor, "feed page applied");
    } else if page.cursor != state.metrics.cursor.load(Ordering::Relaxed) {
        let cursor = page.cursor;
        let now_s = now.unix_s();
        state.store.write(move |tx| sync_state::apply_page(tx, &[], cursor, now_s, 0)).await?;
    }
    state.metrics.cursor.store(page.cursor, Ordering::Relaxed);
    state.metrics.last_sync_unix_ms.store(state.now().unix_ms(), Ordering::Relaxed);
    Ok(page.cursor)
}

/// The money side of a feed event, after the page is stored (a recall was applied to its lease
/// in that commit): the keeper is woken to close recalled leases, wallet figures go to `check`,
/// and revocations are timed for the propagation metric.
fn money_event(state: &SharedState, entry: &FeedEntry) {
    let at = Timestamp::parse_rfc3339(&entry.at);
    match &entry.event {
        FeedEvent::LeaseRecalled { lease_id, account_id } => {
            tracing::info!(lease_id = %lease_id, account_id = %account_id, "central recalled a lease");
            state.keeper_wake.notify_one();
        }
        FeedEvent::WalletAvailable { account_id, available } => {
            if let (Ok(available), Some(at)) = (Amount::parse_stored(available), at) {
                state.note_wallet(account_id, available, at);
            }
        }
        FeedEvent::TokenRevoked(_) => note_revocation(state, at),
        FeedEvent::Grant(grant) if grant.status != "active" => note_revocation(state, at),
        _ => {}
    }
}

fn note_revocation(state: &SharedState, at: Option<Timestamp>) {
    if let Some(at) = at {
        let lag_ms = state.now().unix_ms().saturating_sub(at.unix_ms());
        state.metrics.revocation_lag_ms.store(lag_ms, Ordering::Relaxed);
    }
}

async fn prune(state: &SharedState) {
    let now_s = state.now().unix_s();
    match state.store.write(move |tx| sync_state::prune_revoked(tx, now_s)).await {
        Ok(()) => {
            if let Some(local) = state.local_mut().as_mut() {
                local.prune_revoked(now_s);
            }
        }
        Err(error) => tracing::warn!(error = %error, "pruning expired revocations failed"),
    }
}
