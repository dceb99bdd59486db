//! `Store`: opens a database for one role, checks its schema version, and offers `write`
//! (through the group-commit writer) and `read` (short read transactions).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableHandle, WriteTransaction};
use tokio::sync::{oneshot, watch};

use crate::storage::StoreError;
use crate::storage::central::ledger_batch::LedgerBatch;
use crate::storage::central::settled_keys::SettledMarks;
use crate::storage::kept_tables::KeptTables;
use crate::storage::redo_ops::RedoOps;
use crate::storage::redo_replay;
use crate::storage::schema::{COUNTERS, META, SCHEMA_VERSION};
use crate::storage::sidecar::lease_batch::LeaseBatch;
use crate::storage::writer::{self, FailedFlag, JobSender, Request, TypedJob};
use crate::vocab::limits::{close_wait_s_max, db_cache_bytes_max, write_batch_len_max, write_queue_len_max};

/// Check run on every batch before it commits (the role's invariants).
pub type PreCommit = Arc<dyn Fn(&mut Tx<'_>) -> Result<(), StoreError> + Send + Sync>;

/// How a role lays out its file, applied in the transaction that opens it.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Creates the role's tables, so reads never meet a missing table.
    pub create_tables: fn(&WriteTransaction) -> Result<(), StoreError>,
    /// Rewrites a file of the given older schema version into `SCHEMA_VERSION`'s layout (after
    /// `create_tables`); the new version is stamped in the same commit.
    pub migrate: fn(&WriteTransaction, u64) -> Result<(), StoreError>,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Requests folded into one commit; 1 turns group commit off (for comparison in benches).
    pub batch_len_max: usize,
    /// redb's page cache for this database.
    pub cache_bytes: usize,
    /// A redo log file: batches then commit to redb without a sync and are made durable by
    /// their record there, with a durable redb commit every `redo_batches_per_sync` batches
    /// (docs/design.md, "The sidecar's redo log"). `None`: every batch commits durably.
    pub redo_log: Option<PathBuf>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { batch_len_max: write_batch_len_max, cache_bytes: db_cache_bytes_max, redo_log: None }
    }
}

/// A write transaction shared by one batch, with what the batch touched.
pub struct Tx<'a> {
    /// Reached through `txn()`, which marks the batch as writing past its redo record.
    txn: &'a WriteTransaction,
    /// Set once an operation used the transaction directly: the batch may have written tables
    /// its redo record does not follow, so it commits durably (`writer.rs`).
    used_txn: Cell<bool>,
    /// The batch's writes to kept tables and counters, when the store keeps a redo log.
    redo: Option<RefCell<RedoOps>>,
    /// The central ledger's balances and totals this batch read or changed (empty on the
    /// sidecar); the role's pre-commit step checks and writes them.
    pub(crate) ledger: LedgerBatch,
    /// Central's settlement marks this batch made and no stored answer took yet (empty on the
    /// sidecar); the role's pre-commit step writes them.
    pub(crate) settled: SettledMarks,
    /// The sidecar's leases this batch read or changed (empty on central); the role's
    /// pre-commit step writes the changed ones.
    pub(crate) leases: LeaseBatch,
    /// Counters as this batch has moved them, written to `COUNTERS` once, before the commit:
    /// a charge takes several numbers, and a table write for each was a measurable share of
    /// the writer's time (BENCHMARKS.md).
    counters: BTreeMap<&'static str, u64>,
    /// Tables kept open from first use to the commit (`kept_tables.rs`).
    pub(crate) kept: KeptTables<'a>,
    /// Told whether the batch committed, on the writer thread before anyone is answered.
    outcome_hooks: Vec<OutcomeHook>,
    /// Run after the batch's last job, before its counters are written.
    before_commit: Vec<BeforeCommit>,
}

/// Writes what a batch's operations gathered in memory (`Tx::before_commit`).
pub(crate) type BeforeCommit = Box<dyn FnOnce(&mut Tx<'_>) -> Result<(), StoreError> + Send>;

/// Told `true` when the batch committed durably, `false` when it did not.
pub(crate) type OutcomeHook = Box<dyn FnOnce(bool) + Send>;

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("ledger", &self.ledger).finish()
    }
}

impl<'a> Tx<'a> {
    pub(crate) fn new(txn: &'a WriteTransaction) -> Self {
        Tx {
            txn,
            used_txn: Cell::new(false),
            redo: None,
            ledger: LedgerBatch::default(),
            settled: SettledMarks::default(),
            leases: LeaseBatch::default(),
            counters: BTreeMap::new(),
            kept: KeptTables::default(),
            outcome_hooks: Vec::new(),
            before_commit: Vec::new(),
        }
    }

    /// A transaction whose kept-table and counter writes are also gathered for a redo record.
    pub(crate) fn with_redo(txn: &'a WriteTransaction) -> Self {
        Tx { redo: Some(RefCell::new(RedoOps::default())), ..Tx::new(txn) }
    }

    /// The batch's redb transaction, for tables that are not kept. A batch that used it commits
    /// durably, since its redo record may not hold all its writes.
    pub(crate) fn txn(&self) -> &'a WriteTransaction {
        self.used_txn.set(true);
        self.txn
    }

    /// Whether an operation used `txn()`.
    pub(crate) fn used_txn(&self) -> bool {
        self.used_txn.get()
    }

    /// Opens a kept table (`kept_tables.rs`, whose writes the redo record follows).
    pub(super) fn open_kept<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: redb::TableDefinition<K, V>,
    ) -> Result<redb::Table<'a, K, V>, StoreError> {
        Ok(self.txn.open_table(definition)?)
    }

    /// Where kept-table writes are gathered, if the store keeps a redo log.
    pub(crate) fn redo(&self) -> Option<&RefCell<RedoOps>> {
        self.redo.as_ref()
    }

    /// Set when a kept table is changed other than through `KeptTable::insert` and `remove`.
    pub(super) fn used_txn_flag(&self) -> &Cell<bool> {
        &self.used_txn
    }

    /// The batch's gathered writes, taken out.
    pub(crate) fn take_redo(&mut self) -> Option<RedoOps> {
        self.redo.take().map(RefCell::into_inner)
    }

    /// Runs `hook` after the batch's last operation and before the commit, in the batch's
    /// transaction: for writes that gather the batch's operations into one entry. Its error
    /// aborts the batch like an operation's.
    pub(crate) fn before_commit(&mut self, hook: impl FnOnce(&mut Tx<'_>) -> Result<(), StoreError> + Send + 'static) {
        self.before_commit.push(Box::new(hook));
    }

    /// Runs the `before_commit` hooks, in the order they were added.
    pub(crate) fn run_before_commit(&mut self) -> Result<(), StoreError> {
        for hook in std::mem::take(&mut self.before_commit) {
            hook(self)?;
        }
        Ok(())
    }

    /// Runs `hook` once the batch's outcome is known: on the writer thread, before any request
    /// of the batch is answered and before the next batch starts. For state kept beside the
    /// database (in memory) that must follow only what committed.
    pub(crate) fn on_outcome(&mut self, hook: impl FnOnce(bool) + Send + 'static) {
        self.outcome_hooks.push(Box::new(hook));
    }

    pub(crate) fn take_outcome_hooks(&mut self) -> Vec<OutcomeHook> {
        std::mem::take(&mut self.outcome_hooks)
    }

    /// The next value of a named counter, starting at 1.
    pub(crate) fn next(&mut self, counter: &'static str) -> Result<u64, StoreError> {
        let next = self.current(counter)? + 1;
        self.counters.insert(counter, next);
        Ok(next)
    }

    /// The last value `next` gave for `counter`, 0 if none ever.
    pub(crate) fn current(&self, counter: &'static str) -> Result<u64, StoreError> {
        match self.counters.get(counter) {
            Some(value) => Ok(*value),
            None => Ok(self.txn.open_table(COUNTERS)?.get(counter)?.map_or(0, |v| v.value())),
        }
    }

    /// Writes the counters this batch moved; the writer calls it before the commit.
    pub(crate) fn write_counters(&mut self) -> Result<(), StoreError> {
        if self.counters.is_empty() {
            return Ok(());
        }
        let mut table = self.txn.open_table(COUNTERS)?;
        for (counter, value) in std::mem::take(&mut self.counters) {
            if let Some(redo) = &self.redo {
                let (key, stored) = (<&str as redb::Value>::as_bytes(&counter), <u64 as redb::Value>::as_bytes(&value));
                redo.borrow_mut().put(COUNTERS.name(), key.as_ref(), stored.as_ref());
            }
            table.insert(counter, value)?;
        }
        Ok(())
    }
}

/// A read transaction.
pub struct Reader {
    pub(crate) txn: ReadTransaction,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

/// A database of one role, with its writer thread.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    sender: JobSender,
    writer_thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    failed: FailedFlag,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (creating if absent) the database at `path` for `role`. Fails clearly on a file of
    /// another schema version or role, or one another process has open.
    pub fn open(
        path: &Path,
        role: &str,
        options: &StoreOptions,
        layout: Layout,
        pre_commit: PreCommit,
    ) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        // redb caches up to 1 GiB of pages by default; a node's resident size is bounded instead.
        let db = Database::builder().set_cache_size(options.cache_bytes).create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen(shown.clone()),
            other => StoreError::from(other),
        })?;
        Store::start(db, &shown, role, options, layout, pre_commit)
    }

    /// Opens a database on `backend` instead of a file: redb's in-memory backend for fuzzing,
    /// or a wrapper that fails writes and syncs on demand for fault-injection tests.
    pub fn open_on_backend(
        backend: impl redb::StorageBackend,
        shown: &str,
        role: &str,
        options: &StoreOptions,
        layout: Layout,
        pre_commit: PreCommit,
    ) -> Result<Store, StoreError> {
        let db = Database::builder().set_cache_size(options.cache_bytes).create_with_backend(backend)?;
        Store::start(db, shown, role, options, layout, pre_commit)
    }

    fn start(
        db: Database,
        shown: &str,
        role: &str,
        options: &StoreOptions,
        layout: Layout,
        pre_commit: PreCommit,
    ) -> Result<Store, StoreError> {
        // Before the schema check: a migration must see the batches the crash took from redb.
        let redo = match &options.redo_log {
            Some(path) => Some(redo_replay::open_and_replay(&db, shown, role, path)?),
            None => None,
        };
        check_or_stamp_schema(&db, shown, role, layout)?;
        let db = Arc::new(db);
        let batch = options.batch_len_max.clamp(1, write_batch_len_max);
        let failed = Arc::new(watch::Sender::new(false));
        let (sender, handle) = writer::spawn(db.clone(), write_queue_len_max, batch, pre_commit, failed.clone(), redo);
        Ok(Store { db, sender, writer_thread: Arc::new(Mutex::new(Some(handle))), failed })
    }

    /// Whether a write failed so that the database takes no more writes until it is reopened
    /// (redb latches an I/O error and refuses every later write transaction).
    pub fn has_failed(&self) -> bool {
        *self.failed.borrow()
    }

    /// Resolves once `has_failed` becomes true; never, if it does not.
    pub async fn failed(&self) {
        let mut seen = self.failed.subscribe();
        if seen.wait_for(|failed| *failed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Runs `op` in the next group commit and answers after the commit is durable.
    /// `op` must either finish its writes or make none: a refusal is returned inside `T`.
    pub async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request::Job(Box::new(TypedJob { op, reply })))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// `write` for callers outside the async runtime (benches, tools).
    pub fn write_blocking<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.sender
            .blocking_send(Request::Job(Box::new(TypedJob { op, reply })))
            .map_err(|_| StoreError::WriterStopped)?;
        answer.blocking_recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// Runs `query` in a fresh read transaction on a blocking thread.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || read_now(&db, query))
            .await
            .map_err(|e| StoreError::engine(format!("read task failed: {e}")))?
    }

    /// `read` for callers outside the async runtime.
    pub fn read_blocking<T>(&self, query: impl FnOnce(&Reader) -> Result<T, StoreError>) -> Result<T, StoreError> {
        read_now(&self.db, query)
    }

    /// Stops the writer after the requests queued before this call and waits until their
    /// commits are done. Later writes through any clone answer `WriterStopped`. The file closes
    /// when the last clone is dropped.
    pub fn close(self) {
        let Store { db, sender, writer_thread, failed: _ } = self;
        let Some(handle) = writer_thread.lock().ok().and_then(|mut h| h.take()) else { return };
        loop {
            match sender.try_send(Request::Stop) {
                Ok(()) => break,
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
        let _ = handle.join();
        // Tasks being cancelled (an aborted webhook attempt, a dropped request) may still hold
        // clones for a moment; wait briefly so the file is really closed when `close` returns.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(close_wait_s_max);
        while Arc::strong_count(&db) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if Arc::strong_count(&db) > 1 {
            tracing::warn!("the database is still shared after close; it closes when the last user drops it");
        }
        drop(db);
    }
}

fn read_now<T>(db: &Database, query: impl FnOnce(&Reader) -> Result<T, StoreError>) -> Result<T, StoreError> {
    let reader = Reader { txn: db.begin_read()? };
    query(&reader)
}

fn check_or_stamp_schema(db: &Database, path: &str, role: &str, layout: Layout) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let upgrade_from = {
        let mut meta = txn.open_table(META)?;
        let version = meta.get("schema_version")?.map(|v| v.value().to_owned());
        let found_role = meta.get("role")?.map(|v| v.value().to_owned());
        match version {
            None => {
                meta.insert("schema_version", SCHEMA_VERSION.to_string().as_str())?;
                meta.insert("role", role)?;
                None
            }
            Some(found) => {
                let Some(from) = found.parse::<u64>().ok().filter(|v| (1..=SCHEMA_VERSION).contains(v)) else {
                    return Err(StoreError::UnknownSchemaVersion {
                        path: path.to_owned(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                };
                if let Some(found) = found_role.filter(|r| r != role) {
                    return Err(StoreError::WrongRole { path: path.to_owned(), found, expected: role.to_owned() });
                }
                if from < SCHEMA_VERSION {
                    meta.insert("schema_version", SCHEMA_VERSION.to_string().as_str())?;
                }
                (from < SCHEMA_VERSION).then_some(from)
            }
        }
    };
    (layout.create_tables)(&txn)?;
    if let Some(from) = upgrade_from {
        (layout.migrate)(&txn, from)?;
    }
    txn.commit()?;
    if let Some(from) = upgrade_from {
        tracing::info!(path, from, to = SCHEMA_VERSION, "upgraded the database to the current schema version");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_TABLES: Layout = Layout { create_tables: |_| Ok(()), migrate: |_, _| Ok(()) };

    fn no_check() -> PreCommit {
        Arc::new(|_| Ok(()))
    }

    /// A store on a new file; the temp dir lives as long as the second value.
    fn fresh_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            Store::open(&dir.path().join("db.redb"), "central", &StoreOptions::default(), NO_TABLES, no_check())
                .expect("open");
        (store, dir)
    }

    /// A counter's committed value, as a reader sees it.
    fn stored_counter(store: &Store, counter: &'static str) -> Option<u64> {
        store.read_blocking(|r| Ok(r.txn.open_table(COUNTERS)?.get(counter)?.map(|v| v.value()))).expect("read")
    }

    #[test]
    fn a_database_of_another_schema_version_or_role_is_refused() {
        // Proves opening a file stamped with an unknown schema version or another role fails clearly.
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db.redb");
        {
            let store =
                Store::open(&path, "central", &StoreOptions::default(), NO_TABLES, no_check()).expect("fresh open");
            store.close();
        }
        let wrong_role = Store::open(&path, "sidecar", &StoreOptions::default(), NO_TABLES, no_check());
        assert!(matches!(wrong_role, Err(StoreError::WrongRole { .. })), "{wrong_role:?}");
        {
            let db = Database::create(&path).expect("reopen");
            let txn = db.begin_write().expect("txn");
            txn.open_table(META).expect("meta").insert("schema_version", "99").expect("insert");
            txn.commit().expect("commit");
        }
        let err = Store::open(&path, "central", &StoreOptions::default(), NO_TABLES, no_check())
            .map(|_| ())
            .expect_err("must refuse");
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn concurrent_writes_share_commits_and_all_land() {
        // Proves the writer answers every request and each answer's write is durable and visible.
        let (store, _dir) = fresh_store();
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.write_blocking(|tx| tx.next("n")).expect("write"))
            })
            .collect();
        let mut seen: Vec<u64> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=16).collect::<Vec<_>>());
        let stored = stored_counter(&store, "n");
        assert_eq!(stored, Some(16));
    }

    #[test]
    fn counters_move_once_per_batch_and_not_at_all_when_it_fails() {
        // Proves counters kept in the batch reach the table at commit, are read back inside
        // the batch, and do not move when the batch is aborted.
        let (store, _dir) = fresh_store();
        let taken = store
            .write_blocking(|tx| Ok((tx.next("n")?, tx.next("n")?, tx.current("n")?, tx.current("other")?)))
            .expect("write");
        assert_eq!(taken, (1, 2, 2, 0));
        let failed = store.write_blocking(|tx| {
            tx.next("n")?;
            Err::<(), _>(StoreError::Corrupt { table: "test", detail: "abort the batch".into() })
        });
        assert!(failed.is_err());
        assert_eq!(store.write_blocking(|tx| tx.next("n")).expect("write"), 3);
        let stored = stored_counter(&store, "n");
        assert_eq!(stored, Some(3));
    }
}
