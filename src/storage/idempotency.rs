//! Stored answers to idempotent requests, looked up by (scope, key); and those of a sidecar's
//! lease calls, looked up by (sidecar, request id).

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::storage::codec::{decode, encode};
use crate::storage::schema::{IDEMPOTENCY, LEASE_REQUESTS};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{ChargeId, CompanyId};
use crate::vocab::time::Timestamp;

/// A stored final answer to an idempotent request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub status: u16,
    pub body: serde_json::Value,
    pub created_at: Timestamp,
    /// Central, schema 3: the charge settled under this (company, key), when the mark was made
    /// in the batch that stored this answer (usually by this very request): the settlement mark
    /// of `central::settled_keys`, kept in the entry the request writes anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_charge: Option<ChargeId>,
}

/// The idempotency scope of the requests a company makes (its client credentials or its
/// customers' tokens): its keys are the company's, DESIGN §5.
pub fn company_scope(company: &CompanyId) -> String {
    format!("company:{company}")
}

/// What a key already means for a request with `fingerprint`.
#[derive(Debug, Clone)]
pub enum Recall {
    /// Never seen: do the work.
    Fresh,
    /// Same request seen: answer with the stored response.
    Replay(IdempotencyRecord),
    /// The key was used for another request.
    Mismatch,
}

fn recall_from(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Recall, StoreError> {
    let Some(bytes) = table.get((scope, key))? else { return Ok(Recall::Fresh) };
    let record: IdempotencyRecord = decode("idempotency", bytes.value())?;
    Ok(if record.fingerprint == fingerprint { Recall::Replay(record) } else { Recall::Mismatch })
}

pub fn recall(reader: &Reader, scope: &str, key: &str, fingerprint: &str) -> Result<Recall, StoreError> {
    recall_from(&reader.txn.open_table(IDEMPOTENCY)?, scope, key, fingerprint)
}

pub fn recall_in_tx(tx: &Tx<'_>, scope: &str, key: &str, fingerprint: &str) -> Result<Recall, StoreError> {
    recall_from(&*tx.idempotency_table()?, scope, key, fingerprint)
}

/// Stores the final answer, in the same transaction as the work it answers for.
pub fn remember(tx: &mut Tx<'_>, scope: &str, key: &str, record: &IdempotencyRecord) -> Result<(), StoreError> {
    tx.idempotency_table()?.insert((scope, key), encode(record).as_slice())?;
    Ok(())
}

/// A lease call's `request_id` as this sidecar used it before, if at all (DESIGN §7).
pub fn recall_lease_request(
    tx: &Tx<'_>,
    sidecar: &str,
    request_id: &str,
    fingerprint: &str,
) -> Result<Recall, StoreError> {
    recall_from(&tx.txn.open_table(LEASE_REQUESTS)?, sidecar, request_id, fingerprint)
}

/// Stores a lease call's final answer, in the transaction of the call.
pub fn remember_lease_request(
    tx: &mut Tx<'_>,
    sidecar: &str,
    request_id: &str,
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    tx.txn.open_table(LEASE_REQUESTS)?.insert((sidecar, request_id), encode(record).as_slice())?;
    Ok(())
}
