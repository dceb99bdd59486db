//! `protus central backup`: a consistent copy of central's database, written from one read
//! transaction into a new redb file, so central keeps serving (and committing) while it runs.

use std::path::{Path, PathBuf};

use redb::{Database, Key, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, Value};
use serde::{Deserialize, Serialize};

use crate::storage::schema::*;
use crate::storage::{Reader, StoreError};
use crate::vocab::limits::db_cache_bytes_max;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The file written.
    pub path: String,
    /// Tables copied.
    pub tables: u64,
    /// Rows copied, over all tables.
    pub rows: u64,
    /// Size of the copy in bytes.
    pub bytes: u64,
}

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose a new file name")]
    Exists(String),
    #[error("the backup path must be absolute, got {0}")]
    NotAbsolute(String),
    #[error("table {0} is not known to backup; add it to storage/central/backup.rs")]
    UnknownTable(String),
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redb::Error> for BackupError {
    fn from(error: redb::Error) -> Self {
        BackupError::Store(error.into())
    }
}

/// Copies every table that `reader` sees into a new database at `to`, which must not exist.
/// The rows come from the one read transaction, so the copy is exactly one committed state. It is
/// written to `<to>.partial`, committed durably, then renamed, so `to` is complete or absent.
pub fn write_copy(reader: &Reader, to: &Path) -> Result<BackupReport, BackupError> {
    let shown = to.display().to_string();
    if !to.is_absolute() {
        return Err(BackupError::NotAbsolute(shown));
    }
    if to.exists() {
        return Err(BackupError::Exists(shown));
    }
    let partial = partial_path(to);
    let io = |source| BackupError::Io { path: shown.clone(), source };
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    let copied = copy_into(reader, &partial);
    let report = match copied {
        Ok(counts) => counts,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, to).map_err(io)?;
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    let bytes = std::fs::metadata(to).map_err(io)?.len();
    Ok(BackupReport { path: shown, tables: report.0, rows: report.1, bytes })
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    to.with_file_name(name)
}

/// Copies the tables; answers (tables, rows).
fn copy_into(reader: &Reader, partial: &Path) -> Result<(u64, u64), BackupError> {
    let db = Database::builder().set_cache_size(db_cache_bytes_max).create(partial).map_err(redb::Error::from)?;
    let txn = db.begin_write().map_err(redb::Error::from)?;
    let mut copy = Copy { from: reader, to: &txn, names: Vec::new(), rows: 0 };
    copy.table(META)?;
    copy.table(COUNTERS)?;
    for table in [CUSTOMERS, COMPANIES, SESSIONS, SERVICES, ACCOUNTS, WALLETS, TOP_UPS, HOLDS, CHARGES] {
        copy.table(table)?;
    }
    for table in [GRANTS, AUTH_REQUESTS, AUTH_CODES, REFRESH_TOKENS, REFRESH_FAMILIES, SIGNING_KEYS, CLAIMS] {
        copy.table(table)?;
    }
    for table in [WEBHOOK_DELIVERIES, SIDECARS, LEASES] {
        copy.table(table)?;
    }
    for table in [CUSTOMER_BY_EMAIL, COMPANY_BY_EMAIL, COMPANY_BY_NAME, LEDGER_BALANCES] {
        copy.table(table)?;
    }
    for table in [
        SERVICES_BY_COMPANY,
        ACCOUNTS_BY_CUSTOMER,
        ACCOUNTS_BY_COMPANY,
        CHARGES_BY_COMPANY,
        GRANTS_BY_CUSTOMER,
        GRANTS_BY_COMPANY,
        HOLDS_BY_ACCOUNT,
        WEBHOOK_DELIVERIES_BY_COMPANY,
        LEASES_BY_ACCOUNT,
        USAGE_SEEN,
    ] {
        copy.table(table)?;
    }
    for table in [SERVICE_BY_NAME, ACCOUNT_BY_PAIR, GRANT_BY_PAIR, SETTLED_KEYS] {
        copy.table(table)?;
    }
    for table in [IDEMPOTENCY, LEASE_REQUESTS] {
        copy.table(table)?;
    }
    for table in [TRANSFERS, CHANGES, OUTBOX] {
        copy.table(table)?;
    }
    copy.table(STATEMENT_LINES)?;
    copy.table(ACCOUNT_CHARGES)?;
    copy.table(USAGE_QUARANTINE)?;
    copy.table(USAGE_QUARANTINE_BY_COMPANY)?;
    copy.table(REVOKED_TOKENS)?;
    copy.table(HOLD_EXPIRY)?;
    copy.table(LEASE_EXPIRY)?;
    copy.table(WEBHOOK_DELIVERIES_DUE)?;
    copy.table(CLOSING_LEASES)?;
    copy.table(USAGE_APPLIED)?;
    let (names, rows) = (copy.names, copy.rows);
    // A table of the file that this list does not name would be silently missing from the copy.
    for handle in reader.txn.list_tables().map_err(redb::Error::from)? {
        if !names.iter().any(|n| *n == handle.name()) {
            return Err(BackupError::UnknownTable(handle.name().to_owned()));
        }
    }
    txn.commit().map_err(redb::Error::from)?;
    drop(db);
    Ok((names.len() as u64, rows))
}

struct Copy<'a> {
    from: &'a Reader,
    to: &'a redb::WriteTransaction,
    names: Vec<String>,
    rows: u64,
}

impl Copy<'_> {
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<(), BackupError> {
        let source = match self.from.txn.open_table(def) {
            Ok(table) => table,
            // A file written before a table existed: nothing to copy, and the copy's first open creates it.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(error) => return Err(redb::Error::from(error).into()),
        };
        let mut target = self.to.open_table(def).map_err(redb::Error::from)?;
        for entry in source.iter().map_err(redb::Error::from)? {
            let (key, value) = entry.map_err(redb::Error::from)?;
            target.insert(key.value(), value.value()).map_err(redb::Error::from)?;
        }
        self.rows += source.len().map_err(redb::Error::from)?;
        self.names.push(def.name().to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;
    use crate::storage::central::open::open_central;

    #[test]
    fn every_table_of_a_fresh_file_is_copied_and_an_unknown_one_is_refused() {
        // Proves the copy names every table central creates, and a table it does not know fails the backup instead of vanishing from it.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_central(dir.path(), &StoreOptions::default()).expect("open");
        let to = dir.path().join("copy.redb");
        let report = store.read_blocking(|r| Ok(write_copy(r, &to))).expect("read").expect("backup");
        let tables = store.read_blocking(|r| Ok(r.txn.list_tables()?.count())).expect("list");
        assert_eq!(report.tables, tables as u64);
        store
            .write_blocking(|tx| {
                let stray: TableDefinition<&str, &str> = TableDefinition::new("stray");
                tx.txn().open_table(stray)?.insert("a", "b")?;
                Ok(())
            })
            .expect("write");
        let again = dir.path().join("again.redb");
        let refused = store.read_blocking(|r| Ok(write_copy(r, &again))).expect("read");
        assert!(matches!(refused, Err(BackupError::UnknownTable(ref t)) if t == "stray"), "{refused:?}");
        assert!(!again.exists() && !partial_path(&again).exists());
        store.close();
    }
}
