//! The single writer thread: drains every waiting request into one write transaction, runs the
//! pre-commit invariant check, commits durably, then answers each request.

use std::sync::Arc;

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot, watch};

use crate::storage::StoreError;
use crate::storage::store::{PreCommit, Tx};

/// Called after the commit with its outcome; answers the waiting request.
type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One queued write request.
pub(crate) trait Job: Send {
    /// Runs the operation inside the batch transaction. On a storage error the job has already
    /// answered its caller and the whole batch must be aborted.
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Result<Completion, StoreError>;
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
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Result<Completion, StoreError> {
        let TypedJob { op, reply } = *self;
        match op(tx) {
            Ok(output) => Ok(Box::new(move |committed| {
                // The caller may have gone away (request cancelled); the commit stands regardless.
                let _ = reply.send(committed.map(|()| output));
            })),
            Err(error) => {
                let _ = reply.send(Err(error.clone()));
                Err(error)
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
) -> (JobSender, std::thread::JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel::<Request>(queue_len);
    let handle = std::thread::Builder::new()
        .name("protus-writer".into())
        .spawn(move || {
            let run = std::panic::AssertUnwindSafe(|| run(&db, receiver, batch_len_max, &pre_commit, &failed));
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

fn run(
    db: &Database,
    mut receiver: mpsc::Receiver<Request>,
    batch_len_max: usize,
    pre_commit: &PreCommit,
    failed: &FailedFlag,
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
        if let Err(Failure { error, needs_reopen }) = commit_batch(db, batch, pre_commit)
            && (needs_reopen || matches!(error, StoreError::Unavailable(_)))
            && !failed.send_replace(true)
        {
            // redb latches an I/O error (every later write answers `PreviousIo`) and discards
            // its allocator state after any failed commit: only a reopen repairs either.
            tracing::error!(error = %error, "storage failed; the database must be reopened before it takes writes again");
        }
        if stop {
            return;
        }
    }
}

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

fn commit_batch(db: &Database, batch: Vec<Box<dyn Job>>, pre_commit: &PreCommit) -> Result<(), Failure> {
    let mut txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(error) => return Err(fail_all(batch, StoreError::from(error))),
    };
    if let Err(error) = txn.set_durability(Durability::Immediate) {
        return Err(fail_all(batch, StoreError::engine(error)));
    }
    let mut completions = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut tx = Tx::new(&txn);
    for job in jobs.by_ref() {
        match job.run(&mut tx) {
            Ok(completion) => completions.push(completion),
            Err(error) => {
                tracing::error!(error = %error, "write batch aborted");
                drop(tx);
                let _ = txn.abort();
                completions.into_iter().for_each(|c| c(Err(error.clone())));
                return Err(fail_all(jobs.collect(), error));
            }
        }
    }
    // Invariants are checked on the state about to be committed; a violation is our bug and
    // stops the writer before anything wrong becomes durable.
    if let Err(error) = pre_commit(&mut tx) {
        tracing::error!(error = %error, "pre-commit check could not read the batch");
        drop(tx);
        let _ = txn.abort();
        completions.into_iter().for_each(|c| c(Err(error.clone())));
        return Err(Failure::of(error));
    }
    drop(tx);
    let outcome = txn.commit().map_err(StoreError::from);
    if let Err(error) = &outcome {
        tracing::error!(error = %error, "group commit failed");
    }
    completions.into_iter().for_each(|c| c(outcome.clone()));
    outcome.map_err(|error| Failure { error, needs_reopen: true })
}

fn fail_all(jobs: Vec<Box<dyn Job>>, error: StoreError) -> Failure {
    jobs.into_iter().for_each(|job| job.fail(error.clone()));
    Failure::of(error)
}
