//! Expiring holds: every hold whose expiry has passed goes back to `available`, durably, and is
//! marked `expired` (the sweeper's work; the caller queues `hold.expired`).

use redb::ReadableTable;

use crate::domain::ledger::plan_release;
use crate::storage::central::ledger;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{HoldRecord, HoldStatus};
use crate::storage::schema::HOLD_EXPIRY;
use crate::storage::{StoreError, Tx};
use crate::vocab::time::Timestamp;

/// Expires at most `limit` holds due at `now`, oldest first; returns them.
pub fn expire_due(tx: &mut Tx<'_>, now: Timestamp, limit: usize) -> Result<Vec<HoldRecord>, StoreError> {
    let now_ms = u64::try_from(now.unix_ms()).unwrap_or(0);
    let mut due = Vec::new();
    for entry in tx.hold_expiry_table()?.range((0, "")..=(now_ms, "\u{10ffff}"))?.take(limit) {
        let (key, _) = entry?;
        due.push((key.value().0, key.value().1.to_owned()));
    }
    let mut expired = Vec::with_capacity(due.len());
    for (at, id) in due {
        // The entry read goes, whatever it names: a stale one (verify reports it) would
        // otherwise come back at every sweep and hold up the holds behind it.
        tx.hold_expiry_table()?.remove((at, id.as_str()))?;
        let hold: Option<HoldRecord> = get_record(&*tx.holds_table()?, "holds", &id)?;
        let Some(mut hold) = hold else { continue };
        if hold.status != HoldStatus::Held {
            continue;
        }
        ledger::post(tx, &plan_release(&hold.customer_id, hold.amount), now, &format!("expire {}", hold.id))?;
        hold.status = HoldStatus::Expired;
        put_record(&mut *tx.holds_table()?, hold.id.as_str(), &hold)?;
        expired.push(hold);
    }
    Ok(expired)
}

/// Whether any hold is due at `now` (a read, so an idle node does not commit every sweep).
pub fn any_due(reader: &crate::storage::Reader, now: Timestamp) -> Result<bool, StoreError> {
    let now_ms = u64::try_from(now.unix_ms()).unwrap_or(0);
    let table = reader.txn.open_table(HOLD_EXPIRY)?;
    let mut due = table.range((0, "")..=(now_ms, "\u{10ffff}"))?;
    Ok(due.next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;
    use crate::storage::central::open::open_central_in_memory;

    #[test]
    fn entries_naming_no_hold_are_dropped_not_met_again_at_every_sweep() {
        // Proves a stale entry (verify's finding) goes with the sweep that meets it: 300 of them
        // are gone after two batches of 256, so they cannot hold up the holds behind them.
        let store = open_central_in_memory(&StoreOptions::default()).expect("store");
        store
            .write_blocking(|tx| {
                let mut table = tx.hold_expiry_table()?;
                for n in 0..300u64 {
                    table.insert((1_000 + n, format!("hld_stale{n}").as_str()), ())?;
                }
                Ok(())
            })
            .expect("planted");
        let now = Timestamp::from_unix_ms(10_000);
        for _ in 0..2 {
            let expired = store.write_blocking(move |tx| expire_due(tx, now, 256)).expect("sweep");
            assert!(expired.is_empty(), "no hold behind them");
        }
        let left = store.read_blocking(|r| any_due(r, now)).expect("read");
        assert!(!left, "every stale entry is gone");
    }
}
