//! The sweeper: releases holds whose expiry has passed on central's clock, with a
//! `hold.expired` event in the same commit, and returns the remainder of leases whose deadline
//! and grace period have passed (DESIGN §7) — durably, in batches.

use std::time::Duration;

use crate::storage::Store;
use crate::storage::central::changes::queue_event;
use crate::storage::central::hold_expiry::{any_due, expire_due};
use crate::storage::central::leases;
use crate::vocab::limits::{hold_expiry_batch_len_max, lease_expiry_batch_len_max};
use crate::vocab::money::Currency;
use crate::vocab::time::{ClockHandle, Timestamp};
use crate::wire::billing::Hold;

/// Runs until dropped.
pub async fn run(store: Store, clock: ClockHandle, currency: Currency, interval: Duration) {
    let mut every = tokio::time::interval(interval.max(Duration::from_millis(1)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = clock.now();
        let due = store.read(move |r| Ok((any_due(r, now)?, leases::any_due(r, now)?))).await;
        match due {
            Ok((holds, leases)) => {
                // A full batch may leave more behind it: each look goes on until a batch comes
                // back short, so expired funds never wait for later looks however many there are.
                if holds {
                    while sweep_holds(&store, now, currency).await == hold_expiry_batch_len_max {}
                }
                if leases {
                    while sweep_leases(&store, now).await == lease_expiry_batch_len_max {}
                }
            }
            Err(error) => tracing::warn!(error = %error, "sweep could not read"),
        }
    }
}

/// One batch of expired holds released; answers how many (0 on an error, logged).
async fn sweep_holds(store: &Store, now: Timestamp, currency: Currency) -> usize {
    let swept = store
        .write(move |tx| {
            let expired = expire_due(tx, now, hold_expiry_batch_len_max)?;
            for hold in &expired {
                let data = serde_json::to_value(Hold::from_record(hold, currency)).unwrap_or_default();
                queue_event(tx, &hold.company_id, "hold.expired", data, now)?;
            }
            Ok(expired.len())
        })
        .await;
    match swept {
        Ok(0) => 0,
        Ok(count) => {
            tracing::info!(count, "expired holds released");
            count
        }
        Err(error) => {
            tracing::warn!(error = %error, "hold sweep failed");
            0
        }
    }
}

/// One batch of leases past their deadline and grace returned; answers how many (0 on an error).
async fn sweep_leases(store: &Store, now: Timestamp) -> usize {
    let swept = store.write(move |tx| leases::expire_due(tx, now, lease_expiry_batch_len_max)).await;
    match swept {
        Ok(expired) => {
            for lease in &expired {
                tracing::info!(lease_id = %lease.id, sidecar_id = %lease.sidecar_id, "lease expired; remainder returned");
            }
            expired.len()
        }
        Err(error) => {
            tracing::warn!(error = %error, "lease sweep failed");
            0
        }
    }
}
