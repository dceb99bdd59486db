//! Expiring holds: every hold whose expiry has passed goes back to `available`, durably, and is
//! marked `expired` (the sweeper's work; the caller queues `hold.expired`).

use redb::ReadableTable;

use crate::domain::ledger::plan_release;
use crate::storage::central::billing::expiry_key;
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
        due.push(key.value().1.to_owned());
    }
    let mut expired = Vec::with_capacity(due.len());
    for id in due {
        let hold: Option<HoldRecord> = get_record(&*tx.holds_table()?, "holds", &id)?;
        let Some(mut hold) = hold else { continue };
        tx.hold_expiry_table()?.remove((expiry_key(&hold), hold.id.as_str()))?;
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
