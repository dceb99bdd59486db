//! The append-only change log (for the sidecars' feed) and the webhook outbox, both written in
//! the same transaction as the change they record.

use redb::ReadableTable;
use serde::Serialize;

use crate::storage::central::oauth_records::{Change, ChangeRecord, EventRecord};
use crate::storage::codec::{decode, encode};
use crate::storage::schema::{CHANGES, OUTBOX};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{CompanyId, EventId};
use crate::vocab::time::Timestamp;

/// Appends a change; returns its sequence number (the feed cursor).
pub fn record_change(
    tx: &mut Tx<'_>,
    company_id: Option<&CompanyId>,
    change: Change,
    at: Timestamp,
) -> Result<u64, StoreError> {
    let seq = tx.next("change")?;
    let record = ChangeRecord { at, company_id: company_id.cloned(), change };
    tx.changes_table()?.insert(seq, encode(&record).as_slice())?;
    Ok(seq)
}

/// Changes after `cursor`, oldest first, at most `limit`.
pub fn changes_after(reader: &Reader, cursor: u64, limit: usize) -> Result<Vec<(u64, ChangeRecord)>, StoreError> {
    let table = reader.txn.open_table(CHANGES)?;
    let mut out = Vec::new();
    for entry in table.range(cursor.saturating_add(1)..)?.take(limit) {
        let (seq, bytes) = entry?;
        out.push((seq.value(), decode("changes", bytes.value())?));
    }
    Ok(out)
}

/// Queues a webhook event for `company`; `data` is its wire object.
pub fn queue_event<Data: Serialize>(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    kind: &str,
    data: Data,
    at: Timestamp,
) -> Result<EventId, StoreError> {
    let seq = tx.next("event")?;
    let event = EventRecord {
        id: EventId::generate_at(at),
        company_id: company.clone(),
        kind: kind.to_owned(),
        data,
        created_at: at,
    };
    tx.outbox_table()?.insert(seq, encode(&event).as_slice())?;
    Ok(event.id)
}

/// Every queued event, oldest first (for tests and, later, the dispatcher).
pub fn queued_events(reader: &Reader) -> Result<Vec<EventRecord>, StoreError> {
    let mut out = Vec::new();
    for entry in reader.txn.open_table(OUTBOX)?.iter()? {
        let (_, bytes) = entry?;
        out.push(decode("outbox", bytes.value())?);
    }
    Ok(out)
}
