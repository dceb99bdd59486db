//! Opening central's database, and the small record helpers every central operation uses.

use std::path::Path;
use std::sync::Arc;

use redb::{ReadableTable, Table, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::storage::codec::{decode, encode};
use crate::storage::store::{Layout, PreCommit};
use crate::storage::{Store, StoreError, StoreOptions, Tx};

/// File name of central's database inside its data dir.
pub const CENTRAL_DB_FILE: &str = "central.redb";

/// Opens central's store with the ledger invariants checked before every commit.
pub fn open_central(data_dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
    let pre_commit: PreCommit = Arc::new(finish_batch);
    Store::open(&data_dir.join(CENTRAL_DB_FILE), "central", options, LAYOUT, pre_commit)
}

/// Central's pre-commit step: settlement marks no answer took, then the ledger's check and
/// write-back.
fn finish_batch(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    super::settled_keys::write_pending(tx)?;
    super::ledger::finish_batch(tx)
}

/// Central's store on another redb backend, with the same tables and invariant checks: for
/// fault-injection tests, which wrap the file backend to fail writes and fsyncs on demand.
pub fn open_central_on_backend(
    backend: impl redb::StorageBackend,
    shown: &str,
    options: &StoreOptions,
) -> Result<Store, StoreError> {
    let pre_commit: PreCommit = Arc::new(finish_batch);
    Store::open_on_backend(backend, shown, "central", options, LAYOUT, pre_commit)
}

/// Central's store in memory (redb's `InMemoryBackend`), with the same tables and invariant
/// checks: for fuzzing the ledger against its model. Nothing is durable.
pub fn open_central_in_memory(options: &StoreOptions) -> Result<Store, StoreError> {
    let pre_commit: PreCommit = Arc::new(finish_batch);
    let backend = redb::backends::InMemoryBackend::new();
    Store::open_on_backend(backend, "<memory>", "central", options, LAYOUT, pre_commit)
}

/// Central's tables, and the upgrade of files written by older builds.
const LAYOUT: Layout = Layout { create_tables, migrate: super::migrate::migrate };

fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    use crate::storage::schema::*;
    txn.open_table(COUNTERS)?;
    for table in [CUSTOMERS, COMPANIES, SESSIONS, SERVICES, ACCOUNTS, WALLETS, TOP_UPS, HOLDS, CHARGES] {
        txn.open_table(table)?;
    }
    for table in [CUSTOMER_BY_EMAIL, COMPANY_BY_EMAIL, COMPANY_BY_NAME, LEDGER_BALANCES] {
        txn.open_table(table)?;
    }
    for table in [SERVICES_BY_COMPANY, ACCOUNTS_BY_CUSTOMER, ACCOUNTS_BY_COMPANY, CHARGES_BY_COMPANY] {
        txn.open_table(table)?;
    }
    txn.open_table(SERVICE_BY_NAME)?;
    txn.open_table(ACCOUNT_BY_PAIR)?;
    txn.open_table(TRANSFERS)?;
    txn.open_table(STATEMENT_LINES)?;
    txn.open_table(ACCOUNT_CHARGES)?;
    txn.open_table(IDEMPOTENCY)?;
    for table in [GRANTS, AUTH_REQUESTS, AUTH_CODES, REFRESH_TOKENS, REFRESH_FAMILIES, SIGNING_KEYS, CLAIMS] {
        txn.open_table(table)?;
    }
    txn.open_table(GRANT_BY_PAIR)?;
    txn.open_table(GRANTS_BY_CUSTOMER)?;
    txn.open_table(GRANTS_BY_COMPANY)?;
    txn.open_table(SIDECARS)?;
    txn.open_table(LEASES)?;
    txn.open_table(LEASES_BY_ACCOUNT)?;
    txn.open_table(LEASE_EXPIRY)?;
    txn.open_table(LEASE_REQUESTS)?;
    txn.open_table(USAGE_APPLIED)?;
    txn.open_table(USAGE_SEEN)?;
    txn.open_table(USAGE_QUARANTINE)?;
    txn.open_table(SETTLED_KEYS)?;
    txn.open_table(CLOSING_LEASES)?;
    txn.open_table(USAGE_QUARANTINE_BY_COMPANY)?;
    txn.open_table(REVOKED_TOKENS)?;
    txn.open_table(CHANGES)?;
    txn.open_table(OUTBOX)?;
    txn.open_table(WEBHOOK_DELIVERIES)?;
    txn.open_table(WEBHOOK_DELIVERIES_BY_COMPANY)?;
    txn.open_table(WEBHOOK_DELIVERIES_DUE)?;
    txn.open_table(HOLDS_BY_ACCOUNT)?;
    txn.open_table(HOLD_EXPIRY)?;
    Ok(())
}

/// The record under `key`, if any.
pub fn get_record<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &'static str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match table.get(key)? {
        Some(bytes) => decode(name, bytes.value()).map(Some),
        None => Ok(None),
    }
}

pub fn put_record<T: Serialize>(
    table: &mut Table<'_, &'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    table.insert(key, encode(value).as_slice())?;
    Ok(())
}
