//! The single writer thread: drains every waiting request into one write transaction, runs the
//! pre-commit invariant check, commits durably, then answers each request. With a redo log, a
//! batch is made durable by its record there instead, and redb commits durably every
//! `redo_batches_per_sync` batches (`redo_log.rs`).

use std::sync::Arc;

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot, watch};

use crate::storage::StoreError;
use crate::storage::redo_log::RedoLog;
use crate::storage::redo_replay::REDO_BATCH;
use crate::storage::store::{OutcomeHook, PreCommit, Tx};
use crate::vocab::limits::redo_batches_per_sync;

/// Called after the commit with its outcome; answers the waiting request.
type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One queued write request.
pub(crate) trait Job: Send {
    /// Runs the operation inside the batch transaction. Either way the caller is answered by
    /// the completion, after the batch's outcome is known; on a storage error the whole batch
    /// must be aborted, and the completion answers the caller with that error.
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Result<Completion, (StoreError, Completion)>;
    /// Answers without running, because the batch failed before its turn.
    fn fail(self: Box<Self>, error: StoreError);
}

pub(crate) struct TypedJob<T, F> {
    pub(crate) op: F,
    pub(crate) reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send,
{
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Result<Completion, (StoreError, Completion)> {
        let TypedJob { op, reply } = *self;
        match op(tx) {
            Ok(output) => Ok(Box::new(move |committed| {
                // The caller may have gone away (request cancelled); the commit stands regardless.
                let _ = reply.send(committed.map(|()| output));
            })),
            Err(error) => {
                let own = error.clone();
                Err((error, Box::new(move |_| drop(reply.send(Err(own))))))
            }
        }
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// What the writer thread is sent: work, or the order to finish what is queued and stop.
pub(crate) enum Request {
    Job(Box<dyn Job>),
    Stop,
}

pub(crate) type JobSender = mpsc::Sender<Request>;

/// Set once a write failed so that only reopening the database repairs it.
pub(crate) type FailedFlag = Arc<watch::Sender<bool>>;

/// Starts the writer thread; it ends on `Request::Stop` or when every sender is dropped.
pub(crate) fn spawn(
    db: Arc<Database>,
    queue_len: usize,
    batch_len_max: usize,
    pre_commit: PreCommit,
    failed: FailedFlag,
    redo_log: Option<RedoLog>,
) -> (JobSender, std::thread::JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel::<Request>(queue_len);
    let handle = std::thread::Builder::new()
        .name("protus-writer".into())
        .spawn(move || {
            let mut redo = redo_log.map(|log| Redo { log, batches_since_sync: 0 });
            let run = std::panic::AssertUnwindSafe(|| {
                run(&db, receiver, batch_len_max, &pre_commit, &failed, &mut redo);
                if let Some(redo) = redo.as_mut() {
                    sync_at_stop(&db, redo);
                }
            });
            if std::panic::catch_unwind(run).is_err() {
                // A broken invariant is our bug. Stopping the whole process is the only answer
                // that cannot let a wrong state be committed or served as if nothing happened.
                tracing::error!("storage writer panicked (a ledger invariant or internal rule was broken); aborting");
                std::process::abort();
            }
        })
        .expect("the OS can start the writer thread");
    (sender, handle)
}

/// The redo log and how many batches it holds past redb's last durable commit.
struct Redo {
    log: RedoLog,
    batches_since_sync: u32,
}

/// At a clean stop, one durable commit holds every logged batch, so the next start replays none.
fn sync_at_stop(db: &Database, redo: &mut Redo) {
    if redo.batches_since_sync == 0 {
        return;
    }
    let synced = db.begin_write().map_err(StoreError::from).and_then(|txn| txn.commit().map_err(StoreError::from));
    match synced {
        Ok(()) => {
            redo.log.restart();
            redo.batches_since_sync = 0;
        }
        // The log still holds those batches; the next start applies them.
        Err(error) => {
            tracing::warn!(error = %error, "the durable commit at stop failed; the redo log keeps the batches")
        }
    }
}

fn run(
    db: &Database,
    mut receiver: mpsc::Receiver<Request>,
    batch_len_max: usize,
    pre_commit: &PreCommit,
    failed: &FailedFlag,
    redo: &mut Option<Redo>,
) {
    while let Some(first) = receiver.blocking_recv() {
        let Request::Job(first) = first else { return };
        let mut batch = Vec::with_capacity(batch_len_max.min(64));
        batch.push(first);
        let mut stop = false;
        while batch.len() < batch_len_max {
            match receiver.try_recv() {
                Ok(Request::Job(job)) => batch.push(job),
                Ok(Request::Stop) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        commit_batch(db, batch, pre_commit, failed, redo.as_mut());
        if stop {
            return;
        }
    }
}

/// One step between a batch's last job and its commit.
type FinishStep = fn(&mut Tx<'_>, &PreCommit) -> Result<(), StoreError>;

/// Why a batch failed, and whether the database is left unable to write until reopened.
struct Failure {
    error: StoreError,
    needs_reopen: bool,
}

impl Failure {
    fn of(error: StoreError) -> Self {
        Failure { error, needs_reopen: false }
    }
}

/// Runs and commits one batch, then answers every request in it. A failure that leaves redb
/// unable to write marks the store failed before anyone is answered, so a caller that got the
/// error already sees `Store::has_failed`.
fn commit_batch(
    db: &Database,
    batch: Vec<Box<dyn Job>>,
    pre_commit: &PreCommit,
    failed: &FailedFlag,
    redo: Option<&mut Redo>,
) {
    let mut completions = Vec::with_capacity(batch.len());
    let (mut unrun, mut hooks) = (Vec::new(), Vec::new());
    let outcome = run_batch(db, batch, pre_commit, &mut completions, &mut unrun, &mut hooks, redo);
    hooks.into_iter().for_each(|hook| hook(outcome.is_ok()));
    if let Err(Failure { error, needs_reopen }) = &outcome
        && (*needs_reopen || matches!(error, StoreError::Unavailable(_)))
        && !failed.send_replace(true)
    {
        // redb latches an I/O error (every later write answers `PreviousIo`) and discards
        // its allocator state after any failed commit: only a reopen repairs either.
        tracing::error!(error = %error, "storage failed; the database must be reopened before it takes writes again");
    }
    let outcome = outcome.map_err(|failure| failure.error);
    completions.into_iter().for_each(|c| c(outcome.clone()));
    if let Err(error) = outcome {
        unrun.into_iter().for_each(|job: Box<dyn Job>| job.fail(error.clone()));
    }
}

/// Runs the batch in one transaction and commits it; collects each run job's completion, the
/// jobs a failure left unrun and the outcome hooks the run jobs left (`Tx::on_outcome`).
fn run_batch(
    db: &Database,
    batch: Vec<Box<dyn Job>>,
    pre_commit: &PreCommit,
    completions: &mut Vec<Completion>,
    unrun: &mut Vec<Box<dyn Job>>,
    hooks: &mut Vec<OutcomeHook>,
    redo: Option<&mut Redo>,
) -> Result<(), Failure> {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(error) => {
            unrun.extend(batch);
            return Err(Failure::of(StoreError::from(error)));
        }
    };
    let mut jobs = batch.into_iter();
    let mut tx = if redo.is_some() { Tx::with_redo(&txn) } else { Tx::new(&txn) };
    for job in jobs.by_ref() {
        match job.run(&mut tx) {
            Ok(completion) => completions.push(completion),
            Err((error, completion)) => {
                tracing::error!(error = %error, "write batch aborted");
                completions.push(completion);
                unrun.extend(jobs);
                hooks.extend(tx.take_outcome_hooks());
                drop(tx);
                let _ = txn.abort();
                return Err(Failure::of(error));
            }
        }
    }
    // What the batch gathered, its counters, then the invariants, checked on the state about
    // to be committed: a violation is our bug and stops the writer before anything wrong
    // becomes durable.
    let finish: [(&str, FinishStep); 4] = [
        // Numbers the batch for the redo log, in its record and in redb alike.
        ("numbering the batch failed", |tx, _| tx.redo().is_some().then(|| tx.next(REDO_BATCH)).transpose().map(drop)),
        ("writing what the batch gathered failed", |tx, _| tx.run_before_commit()),
        ("writing the batch's counters failed", |tx, _| tx.write_counters()),
        ("pre-commit check could not read the batch", |tx, pre_commit| pre_commit(tx)),
    ];
    for (what, step) in finish {
        if let Err(error) = step(&mut tx, pre_commit) {
            tracing::error!(error = %error, "{what}");
            hooks.extend(tx.take_outcome_hooks());
            drop(tx);
            let _ = txn.abort();
            return Err(Failure::of(error));
        }
    }
    hooks.extend(tx.take_outcome_hooks());
    let used_txn = tx.used_txn();
    let number = tx.redo().is_some().then(|| tx.current(REDO_BATCH)).transpose().map_err(Failure::of)?;
    let ops = tx.take_redo();
    drop(tx);
    match (redo, number, ops) {
        (Some(redo), Some(number), Some(ops))
            if !used_txn
                && redo.batches_since_sync + 1 < redo_batches_per_sync
                && redo.log.fits(ops.as_bytes().len()) =>
        {
            commit_logged(txn, redo, number, ops.as_bytes())
        }
        (redo, _, _) => {
            commit_durably(txn)?;
            if let Some(redo) = redo {
                // Everything logged so far is in this durable commit.
                redo.log.restart();
                redo.batches_since_sync = 0;
            }
            Ok(())
        }
    }
}

fn commit_durably(mut txn: redb::WriteTransaction) -> Result<(), Failure> {
    txn.set_durability(Durability::Immediate).map_err(|e| Failure::of(StoreError::engine(e)))?;
    txn.commit().map_err(|error| {
        let error = StoreError::from(error);
        tracing::error!(error = %error, "group commit failed");
        Failure { error, needs_reopen: true }
    })
}

/// Syncs the batch's redo record, then commits it to redb without a sync. Readers see the
/// batch only once its record is durable. A record that cannot be written leaves a durable
/// commit as the fallback; a commit that fails after its record is durable takes the record back.
fn commit_logged(mut txn: redb::WriteTransaction, redo: &mut Redo, number: u64, ops: &[u8]) -> Result<(), Failure> {
    // Before the record: once it is written, only a commit or a retraction may follow.
    txn.set_durability(Durability::None).map_err(|e| Failure::of(StoreError::engine(e)))?;
    if let Err(error) = redo.log.append(number, ops) {
        tracing::warn!(error = %error, "writing the redo record failed; committing the batch durably instead");
        commit_durably(txn)?;
        redo.log.restart();
        redo.batches_since_sync = 0;
        return Ok(());
    }
    if let Err(error) = txn.commit() {
        let error = StoreError::from(error);
        tracing::error!(error = %error, "group commit failed after its redo record was written");
        if let Err(retract) = redo.log.retract() {
            // The record stays: the next start applies the batch its callers were told failed.
            tracing::error!(error = %retract, "taking back the redo record failed");
        }
        return Err(Failure { error, needs_reopen: true });
    }
    redo.batches_since_sync += 1;
    Ok(())
}
