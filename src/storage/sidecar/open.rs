//! Opening the sidecar's database.

use std::path::Path;
use std::sync::Arc;

use redb::WriteTransaction;

use crate::storage::sidecar::lease_batch;
use crate::storage::store::{Layout, PreCommit};
use crate::storage::{Store, StoreError, StoreOptions};

/// File name of the sidecar's database inside its data dir.
pub const SIDECAR_DB_FILE: &str = "sidecar.redb";
/// File name of the database's redo log inside the data dir (`storage/redo_log.rs`).
pub const SIDECAR_REDO_FILE: &str = "sidecar.redo";

/// Opens (creating if absent) the sidecar's store in `data_dir`.
pub fn open_sidecar(data_dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
    // The batch's changed leases are written once, after its last operation.
    let pre_commit: PreCommit = Arc::new(lease_batch::write_changed);
    // Holds and charges are made durable by a small redo record per batch, redb by one
    // durable commit in `redo_batches_per_sync` (docs/design.md, "The sidecar's redo log").
    let options = StoreOptions { redo_log: Some(data_dir.join(SIDECAR_REDO_FILE)), ..options.clone() };
    Store::open(&data_dir.join(SIDECAR_DB_FILE), "sidecar", &options, LAYOUT, pre_commit)
}

/// The sidecar's tables. Its tables have not changed since version 1, so an older file needs
/// nothing but the new version stamp.
const LAYOUT: Layout = Layout { create_tables, migrate: |_, _| Ok(()) };

fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    use crate::storage::schema::*;
    txn.open_table(COUNTERS)?;
    for table in [SIDECAR_STATE, SIDECAR_KEYS, SIDECAR_GRANTS, SIDECAR_SERVICES, SIDECAR_HOLDS] {
        txn.open_table(table)?;
    }
    txn.open_table(SIDECAR_LEASES)?;
    txn.open_table(SIDECAR_HOLD_EXPIRY)?;
    txn.open_table(SIDECAR_RECALLS)?;
    txn.open_table(SIDECAR_USAGE_OUTBOX)?;
    txn.open_table(IDEMPOTENCY)?;
    txn.open_table(SIDECAR_ANSWER_LOG)?;
    txn.open_table(SIDECAR_ANSWER_RUNS)?;
    txn.open_table(SIDECAR_ANSWER_FILTERS)?;
    for table in [SIDECAR_CHARGES, SIDECAR_TOKENS] {
        txn.open_table(table)?;
    }
    txn.open_table(SIDECAR_REVOKED)?;
    Ok(())
}
