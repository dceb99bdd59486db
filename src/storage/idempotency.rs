//! Stored answers to idempotent requests, looked up by (scope, key); and those of a sidecar's
//! lease calls, looked up by (sidecar, request id).

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::storage::codec::{decode, encode};
use crate::storage::schema::{IDEMPOTENCY, LEASE_REQUESTS};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{ChargeId, CompanyId};
use crate::vocab::json_text::JsonText;
use crate::vocab::time::Timestamp;

/// A stored final answer to an idempotent request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "StoredRecord")]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub status: u16,
    /// The body as sent (schema 5); stored as `body_json`.
    #[serde(rename = "body_json")]
    pub body: JsonText,
    pub created_at: Timestamp,
    /// Central, schema 3: the charge settled under this (company, key), when the mark was made
    /// in the batch that stored this answer (usually by this very request): the settlement mark
    /// of `central::settled_keys`, kept in the entry the request writes anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_charge: Option<ChargeId>,
}

/// An answer as stored by any schema: before 5 the body was a JSON value (`body`), from 5 on it
/// is the text sent (`body_json`).
#[derive(Deserialize)]
struct StoredRecord {
    fingerprint: String,
    status: u16,
    #[serde(default)]
    body: serde_json::Value,
    #[serde(default)]
    body_json: Option<JsonText>,
    created_at: Timestamp,
    #[serde(default)]
    settled_charge: Option<ChargeId>,
}

impl From<StoredRecord> for IdempotencyRecord {
    fn from(stored: StoredRecord) -> IdempotencyRecord {
        IdempotencyRecord {
            body: stored.body_json.unwrap_or_else(|| JsonText::from(&stored.body)),
            fingerprint: stored.fingerprint,
            status: stored.status,
            created_at: stored.created_at,
            settled_charge: stored.settled_charge,
        }
    }
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
    recall_from(&tx.txn().open_table(LEASE_REQUESTS)?, sidecar, request_id, fingerprint)
}

/// Stores a lease call's final answer, in the transaction of the call.
pub fn remember_lease_request(
    tx: &mut Tx<'_>,
    sidecar: &str,
    request_id: &str,
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    tx.txn().open_table(LEASE_REQUESTS)?.insert((sidecar, request_id), encode(record).as_slice())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as schema 4 and earlier stored it: the body as a JSON value.
    #[derive(Serialize)]
    struct ValueBodyAnswer {
        fingerprint: &'static str,
        status: u16,
        body: serde_json::Value,
        created_at: Timestamp,
    }

    #[test]
    fn an_answer_keeps_its_body_text_and_one_stored_with_a_value_body_still_reads() {
        // Proves the body is replayed byte for byte from schema 5 on, and that answers written
        // before (MessagePack or JSON, body as a value) read back with the same document.
        let created_at = Timestamp::from_unix_ms(1_800_000_000_000);
        let text = JsonText::of(&serde_json::json!({"id": "hld_1", "status": "held"}));
        let record = IdempotencyRecord {
            fingerprint: "f".into(),
            status: 201,
            body: text.clone(),
            created_at,
            settled_charge: None,
        };
        let read: IdempotencyRecord = decode("idempotency", &encode(&record)).expect("round trip");
        assert_eq!((read.fingerprint.as_str(), read.status, &read.body), ("f", 201, &text));

        let old = ValueBodyAnswer { fingerprint: "f", status: 409, body: text.to_value(), created_at };
        let from_msgpack: IdempotencyRecord = decode("idempotency", &encode(&old)).expect("schema 4 answer");
        let from_json: IdempotencyRecord =
            decode("idempotency", &serde_json::to_vec(&old).expect("json")).expect("schema 3 answer");
        for read in [from_msgpack, from_json] {
            assert_eq!((read.status, read.body.to_value()), (409, text.to_value()));
            assert_eq!(read.created_at, created_at);
        }
    }
}
