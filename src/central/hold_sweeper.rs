//! The hold sweeper: releases holds whose expiry has passed on central's clock, durably, with a
//! `hold.expired` event in the same commit.

use std::time::Duration;

use crate::storage::Store;
use crate::storage::central::changes::queue_event;
use crate::storage::central::hold_expiry::{any_due, expire_due};
use crate::vocab::limits::{hold_expiry_batch_len_max, hold_sweep_interval_ms};
use crate::vocab::money::Currency;
use crate::vocab::time::ClockHandle;
use crate::wire::billing::Hold;

/// Runs until dropped.
pub async fn run(store: Store, clock: ClockHandle, currency: Currency) {
    let mut every = tokio::time::interval(Duration::from_millis(hold_sweep_interval_ms));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = clock.now();
        match store.read(move |r| any_due(r, now)).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(error = %error, "hold sweep could not read");
                continue;
            }
        }
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
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "expired holds released"),
            Err(error) => tracing::warn!(error = %error, "hold sweep failed"),
        }
    }
}
