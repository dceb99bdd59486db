//! The usage flusher (DESIGN §7): sends the outbox's oldest records to central in batches,
//! and deletes them (marking their charges settled) only after central acknowledged them.
//! A record is sent until acknowledged, so it may reach central twice; central applies each
//! (sidecar, seq) once. At shutdown a last flush runs within a deadline.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use crate::sidecar::backoff::Backoff;
use crate::sidecar::client::SyncError;
use crate::sidecar::state::SharedState;
use crate::storage::StoreError;
use crate::storage::sidecar::money::{self, CentralOutcome};
use crate::vocab::limits::usage_flush_idle_ms;
use crate::wire::leases::UsageBatch;

#[derive(Debug, thiserror::Error)]
enum FlushError {
    #[error(transparent)]
    Central(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("central acknowledged nothing of a batch starting at seq {0}")]
    NoProgress(u64),
}

/// What one flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flushed {
    sent: usize,
    /// The batch was as long as central takes: more records may be waiting.
    full: bool,
}

/// One batch: read, send, delete what central acknowledged. Sends nothing when the outbox is
/// empty or the sidecar is not enrolled yet.
async fn flush_once(state: &SharedState) -> Result<Flushed, FlushError> {
    let none = Flushed { sent: 0, full: false };
    let Some(me) = state.enrolment.get().cloned() else { return Ok(none) };
    // The currency and central's batch bound come with the view from central, before any
    // charge can be taken.
    let Some((currency, batch_len)) =
        state.local().as_ref().and_then(|local| Some((local.currency?, local.usage_batch_len)))
    else {
        return Ok(none);
    };
    let records = state.store.read(move |r| money::usage_batch(r, batch_len, currency)).await?;
    let (Some(first), Some(last)) = (records.first().map(|r| r.seq), records.last().map(|r| r.seq)) else {
        state.metrics.outbox_depth.store(0, Ordering::Relaxed);
        return Ok(none);
    };
    let sent = records.len();
    let ack = state.central.report_usage(&me, &UsageBatch { records }).await?;
    for rejected in &ack.rejected {
        tracing::warn!(seq = rejected.seq, reason = %rejected.reason, "central quarantined a usage record");
    }
    if ack.applied_through < first {
        return Err(FlushError::NoProgress(first));
    }
    // Only what was sent can be deleted: central ahead of it means a second sidecar reports
    // under this one's id (a copied data dir), and the records written since must still go.
    if ack.applied_through > last {
        tracing::error!(
            applied_through = ack.applied_through,
            last_sent = last,
            "central has applied usage this sidecar never sent: is its data dir in use twice?"
        );
    }
    let through = ack.applied_through.min(last);
    let outcomes: Vec<(u64, CentralOutcome)> = ack
        .rejected
        .iter()
        .map(|r| (r.seq, CentralOutcome::Quarantined))
        .chain(ack.reversed.iter().map(|&seq| (seq, CentralOutcome::Reversed)))
        .collect();
    let acked = state.store.write(move |tx| money::ack_usage(tx, through, &outcomes)).await?;
    state.metrics.usage_batches.fetch_add(1, Ordering::Relaxed);
    state.metrics.usage_acked.fetch_add(acked as u64, Ordering::Relaxed);
    state.metrics.usage_rejected.fetch_add(ack.rejected.len() as u64, Ordering::Relaxed);
    let depth = state.store.read(money::outbox_depth).await?;
    state.metrics.outbox_depth.store(depth, Ordering::Relaxed);
    // A closing lease may be waiting for these records.
    state.keeper_wake.notify_one();
    Ok(Flushed { sent, full: sent >= batch_len })
}

/// Flushes until `stop` turns true. After a charge wakes it, it lingers `usage_flush_idle_ms`
/// so that charges arriving together travel in one request.
pub async fn flush(state: SharedState, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    loop {
        let delay = match flush_once(&state).await {
            Ok(Flushed { full: true, .. }) => {
                backoff.reset();
                continue;
            }
            Ok(_) => {
                backoff.reset();
                tokio::select! {
                    () = state.usage_wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                Duration::from_millis(usage_flush_idle_ms)
            }
            Err(error) => {
                state.metrics.sync_failures.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "reporting usage failed");
                delay
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The last flush at shutdown: sends until the outbox is empty, central fails, or `within` passes.
pub async fn final_flush(state: &SharedState, within: Duration) {
    let flushed = tokio::time::timeout(within, async {
        loop {
            match flush_once(state).await {
                Ok(Flushed { sent: 0, .. }) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
    })
    .await;
    match flushed {
        Ok(Ok(())) => tracing::info!("usage flushed"),
        Ok(Err(error)) => tracing::warn!(error = %error, "the last usage flush failed; the records stay in the outbox"),
        Err(_) => tracing::warn!("the last usage flush ran out of time; the records stay in the outbox"),
    }
}
