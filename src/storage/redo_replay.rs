//! Opening a store's redo log: the batches logged after redb's last durable commit (those a crash
//! took from redb) are applied again, in one durable commit, before anything reads the database.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableError};

use crate::storage::StoreError;
use crate::storage::kept_tables;
use crate::storage::redo_log::RedoLog;
use crate::storage::redo_ops::ops_of;
use crate::storage::schema::{COUNTERS, META, SCHEMA_VERSION};
use crate::vocab::rng;

/// Counter of the last batch numbered for the redo log; a durable commit's value says which
/// records it already holds.
pub(crate) const REDO_BATCH: &str = "redo_batch";
/// `META` key of the database's redo salt (hex), made at the first open with a redo log.
const REDO_SALT: &str = "redo_salt";

/// Opens the log at `path` for `db` (shown as `shown`, of `role`), applies the records after the
/// last durable commit, and returns the log, started again. A database of another role or of a
/// newer schema is refused before anything is written to it, and one of an older schema whose
/// log holds batches to apply is refused too (those batches need the binary that wrote them).
pub fn open_and_replay(db: &Database, shown: &str, role: &str, path: &Path) -> Result<RedoLog, StoreError> {
    let Stamps { salt, role: found_role, version } = stamps(db)?;
    if let Some(found) = found_role.filter(|found| found != role) {
        return Err(StoreError::WrongRole { path: shown.to_owned(), found, expected: role.to_owned() });
    }
    if let Some(found) = version.as_ref().filter(|v| v.parse::<u64>().map_or(true, |v| v > SCHEMA_VERSION)) {
        return Err(StoreError::UnknownSchemaVersion {
            path: shown.to_owned(),
            found: found.clone(),
            supported: SCHEMA_VERSION,
        });
    }
    let salt = match salt {
        Some(salt) => salt,
        // A database that never had a log has nothing to replay; a log file beside it is
        // another database's, and its records do not checksum with the new salt.
        None => make_salt(db)?,
    };
    let mut log = RedoLog::open(path, salt)?;
    let durable = {
        let read = db.begin_read()?;
        match read.open_table(COUNTERS) {
            Ok(counters) => counters.get(REDO_BATCH)?.map_or(0, |v| v.value()),
            Err(TableError::TableDoesNotExist(_)) => 0,
            Err(other) => return Err(other.into()),
        }
    };
    let records = log.records_after(durable)?;
    let current = SCHEMA_VERSION.to_string();
    if let Some(found) = version.filter(|v| !records.is_empty() && *v != current) {
        // The records hold the tables as that version defined them; this binary would apply
        // them to its own definitions.
        return Err(StoreError::Engine(format!(
            "{shown} was written by schema version {found} and its redo log {} holds batches that \
             are not yet in it: start the version that wrote them once and stop it cleanly, then \
             start this one",
            path.display()
        )));
    }
    if let Some(last) = records.last() {
        let txn = db.begin_write()?;
        for record in &records {
            for op in ops_of(&record.ops) {
                kept_tables::replay(&txn, op?)?;
            }
        }
        txn.open_table(COUNTERS)?.insert(REDO_BATCH, last.batch)?;
        txn.commit()?;
        tracing::info!(
            path = %path.display(),
            batches = records.len(),
            through = last.batch,
            "applied the redo log's batches that redb's last durable commit did not hold"
        );
    }
    log.restart();
    Ok(log)
}

/// What `meta` says of the database, each if stamped.
#[derive(Default)]
struct Stamps {
    salt: Option<u64>,
    role: Option<String>,
    version: Option<String>,
}

fn stamps(db: &Database) -> Result<Stamps, StoreError> {
    let read = db.begin_read()?;
    let meta = match read.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => return Ok(Stamps::default()),
        Err(other) => return Err(other.into()),
    };
    let text = |key: &str| -> Result<Option<String>, StoreError> { Ok(meta.get(key)?.map(|v| v.value().to_owned())) };
    let salt = text(REDO_SALT)?
        .map(|hex| u64::from_str_radix(&hex, 16))
        .transpose()
        .map_err(|_| StoreError::Corrupt { table: "meta", detail: format!("{REDO_SALT} is not hex") })?;
    Ok(Stamps { salt, role: text("role")?, version: text("schema_version")? })
}

fn make_salt(db: &Database) -> Result<u64, StoreError> {
    let salt = u64::from_le_bytes(rng::id_bytes());
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(REDO_SALT, format!("{salt:016x}").as_str())?;
    txn.commit()?;
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use redb::ReadableTableMetadata;

    use super::*;
    use crate::storage::schema::{SIDECAR_HOLDS, SIDECAR_RECALLS};
    use crate::storage::store::Layout;
    use crate::storage::{Store, StoreOptions};
    use crate::vocab::limits::redo_batches_per_sync;

    const NO_TABLES: Layout = Layout { create_tables: |_| Ok(()), migrate: |_, _| Ok(()) };

    fn try_open_store(dir: &Path) -> Result<Store, StoreError> {
        let options = StoreOptions { redo_log: Some(dir.join("db.redo")), ..StoreOptions::default() };
        Store::open(&dir.join("db.redb"), "sidecar", &options, NO_TABLES, Arc::new(|_| Ok(())))
    }

    fn open_store(dir: &Path) -> Store {
        try_open_store(dir).expect("open")
    }

    /// A store in `dir` after batches `1..=last`, each `put` alone.
    fn store_after(dir: &Path, last: u64) -> Store {
        let store = open_store(dir);
        for n in 1..=last {
            put(&store, n, false);
        }
        store
    }

    /// The files as a crash would leave them now: copied while the store is open.
    fn crash_image(from: &Path) -> tempfile::TempDir {
        let to = tempfile::tempdir().expect("temp dir");
        for file in ["db.redb", "db.redo"] {
            std::fs::copy(from.join(file), to.path().join(file)).expect("copy");
        }
        to
    }

    fn put(store: &Store, n: u64, unlogged: bool) {
        store
            .write_blocking(move |tx| {
                tx.sidecar_holds_table()?.insert(format!("hold_{n:04}").as_str(), b"held".as_slice())?;
                if unlogged {
                    tx.txn().open_table(SIDECAR_RECALLS)?.insert(format!("lse_{n}").as_str(), n)?;
                }
                tx.next("n").map(drop)
            })
            .expect("write");
    }

    /// Which of `hold_0001..=hold_{last}` the file at `path` holds, opened by redb alone.
    fn holds_without_the_log(path: &Path, last: u64) -> Vec<u64> {
        let db = Database::create(path).expect("redb opens the crash image");
        let read = db.begin_read().expect("read");
        let holds = match read.open_table(SIDECAR_HOLDS) {
            Ok(holds) => holds,
            Err(TableError::TableDoesNotExist(_)) => return Vec::new(),
            Err(other) => panic!("holds: {other}"),
        };
        (1..=last).filter(|n| holds.get(format!("hold_{n:04}").as_str()).expect("get").is_some()).collect()
    }

    #[test]
    fn a_crash_loses_no_answered_batch_and_the_log_puts_back_what_redb_had_not_synced() {
        // Proves the redo log is what makes answered batches durable: in a crash image redb alone
        // lacks the batches after its last durable commit (a batch that wrote a table the record
        // does not follow committed durably), and opening the store applies them again, exactly
        // once, with the counters where they were.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(dir.path());
        let unlogged_batch = u64::from(redo_batches_per_sync) + 25;
        let last = unlogged_batch + 45;
        for n in 1..=last {
            put(&store, n, n == unlogged_batch);
        }
        let (plain, logged) = (crash_image(dir.path()), crash_image(dir.path()));
        store.close();

        let without_log = holds_without_the_log(&plain.path().join("db.redb"), last);
        assert_eq!(
            without_log,
            (1..=unlogged_batch).collect::<Vec<_>>(),
            "redb alone stops at its last durable commit"
        );

        let reopened = open_store(logged.path());
        let (holds, n, recalls) = reopened
            .read_blocking(|r| {
                let holds = r.txn.open_table(SIDECAR_HOLDS)?;
                let count =
                    (1..=last).filter(|n| holds.get(format!("hold_{n:04}").as_str()).ok().flatten().is_some()).count();
                let n = r.txn.open_table(COUNTERS)?.get("n")?.map(|v| v.value());
                Ok((count as u64, n, r.txn.open_table(SIDECAR_RECALLS)?.len()?))
            })
            .expect("read");
        assert_eq!((holds, n, recalls), (last, Some(last), 1));
        put(&reopened, last + 1, false);
        reopened.close();
        let again = open_store(logged.path());
        let n = again.read_blocking(|r| Ok(r.txn.open_table(COUNTERS)?.get("n")?.map(|v| v.value()))).expect("read");
        assert_eq!(n, Some(last + 1), "numbering goes on after a replay, and nothing is applied twice");
        again.close();
    }

    /// Stamps `version` into the crash image's `meta`, with redb alone.
    fn stamp_version(path: &Path, version: u64) {
        let db = Database::create(path).expect("open the image");
        let txn = db.begin_write().expect("write");
        txn.open_table(META).expect("meta").insert("schema_version", version.to_string().as_str()).expect("stamp");
        txn.commit().expect("commit");
    }

    #[test]
    fn a_log_to_apply_under_another_schema_version_is_refused_before_anything_is_written() {
        // Proves batches logged by one schema version are never applied by a binary of another:
        // a newer file is refused as unknown, an older one with batches to apply is refused with
        // what to do, and neither open applies any of them.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_after(dir.path(), 5);
        let (older, newer) = (crash_image(dir.path()), crash_image(dir.path()));
        store.close();
        stamp_version(&newer.path().join("db.redb"), SCHEMA_VERSION + 1);
        let refused = try_open_store(newer.path()).map(drop);
        assert!(matches!(refused, Err(StoreError::UnknownSchemaVersion { .. })), "{refused:?}");
        stamp_version(&older.path().join("db.redb"), SCHEMA_VERSION - 1);
        let refused = try_open_store(older.path()).map(drop).expect_err("an older file with batches to apply");
        assert!(refused.to_string().contains("start the version that wrote them"), "{refused}");
        assert!(holds_without_the_log(&older.path().join("db.redb"), 5).is_empty(), "nothing was applied");
    }

    #[test]
    fn a_clean_close_leaves_redb_holding_every_batch() {
        // Proves the writer's last act at a stop is a durable commit: with another handle keeping
        // the file open, so that redb's own close has not run, redb alone holds every batch.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_after(dir.path(), 10);
        let still_open = store.clone();
        store.close();
        let image = crash_image(dir.path());
        assert_eq!(holds_without_the_log(&image.path().join("db.redb"), 10), (1..=10).collect::<Vec<_>>());
        drop(still_open);
    }

    #[test]
    fn a_log_beside_another_database_is_not_applied() {
        // Proves records of a replaced database file do not reach the new one (its salt differs).
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_after(dir.path(), 5);
        let image = crash_image(dir.path());
        store.close();
        std::fs::remove_file(image.path().join("db.redb")).expect("remove");
        let fresh = open_store(image.path());
        let holds = fresh
            .read_blocking(|r| match r.txn.open_table(SIDECAR_HOLDS) {
                Ok(holds) => Ok(holds.len()?),
                Err(TableError::TableDoesNotExist(_)) => Ok(0),
                Err(other) => Err(other.into()),
            })
            .expect("read");
        assert_eq!(holds, 0, "the new database holds nothing of the old one's log");
        fresh.close();
    }
}
