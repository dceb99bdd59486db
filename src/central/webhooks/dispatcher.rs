//! The dispatcher task: every `webhook_poll_ms` of real time it takes new outbox events in as
//! deliveries and starts each due one (due on the injectable clock) in its own task, and when
//! attempts end it gives their slots to their companies' next due deliveries at once; at most
//! `webhook_company_in_flight_max` at once per company and `webhook_in_flight_max` in all, so a
//! hanging receiver holds up only its own company's deliveries and never a request. Every
//! attempt is recorded in the store before the next is planned, so a restart loses nothing: an
//! attempt cut off by it is simply made again (delivery is at least once; receivers dedupe by
//! `webhook-id`).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::task::{Id, JoinSet};
use tokio::time::MissedTickBehavior;

use crate::central::webhooks::send::Sender;
use crate::storage::central::deliveries::{self, Busy};
use crate::storage::{Store, StoreError};
use crate::vocab::ids::{CompanyId, DeliveryId};
use crate::vocab::limits::{
    webhook_company_in_flight_max, webhook_due_companies_max, webhook_in_flight_max, webhook_take_in_batch_len_max,
};
use crate::vocab::time::ClockHandle;

/// How the dispatcher sends.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// Deadline of one attempt (DESIGN §6: 15 s; shorter in tests).
    pub timeout: Duration,
    /// Send to loopback and private addresses too (`--allow-private-webhooks`).
    pub allow_private: bool,
    /// Real time between polls of the outbox (`webhook_poll_ms`; longer in a test that proves a
    /// backlog does not wait for them).
    pub poll: Duration,
}

/// Deliveries running now: the busy set the due query skips, and which task runs which.
#[derive(Debug, Default)]
struct Running {
    /// Each attempt answers whether it recorded an outcome.
    tasks: JoinSet<bool>,
    by_task: HashMap<Id, (String, String)>,
    busy: Busy,
    /// Where the next due query goes on when the last one stopped at `webhook_due_companies_max`.
    resume_after: Option<String>,
    /// Whether the last pass stopped at `webhook_in_flight_max`: then freed slots wait for the
    /// next pass, which gives every company its turn, instead of going back to their companies.
    saturated: bool,
}

impl Running {
    fn start(&mut self, company: String, id: String, work: impl Future<Output = bool> + Send + 'static) {
        let handle = self.tasks.spawn(work);
        *self.busy.per_company.entry(company.clone()).or_default() += 1;
        self.busy.ids.insert(id.clone());
        self.by_task.insert(handle.id(), (company, id));
    }

    /// Frees the task's slot; answers its company.
    fn finish(&mut self, task: Id) -> Option<String> {
        let (company, id) = self.by_task.remove(&task)?;
        self.busy.ids.remove(&id);
        if let Some(count) = self.busy.per_company.get_mut(&company) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.busy.per_company.remove(&company);
            }
        }
        Some(company)
    }

    /// Starts `ids` of `company` while central has slots; answers whether all were started.
    fn start_all(&mut self, company: &CompanyId, ids: Vec<DeliveryId>, work: &Work) -> bool {
        for id in ids {
            if self.tasks.len() >= webhook_in_flight_max {
                return false;
            }
            let attempt = attempt(work.store.clone(), work.clock.clone(), work.sender.clone(), id.clone());
            self.start(company.as_str().to_owned(), id.as_str().to_owned(), attempt);
        }
        true
    }
}

/// What an attempt needs.
struct Work {
    store: Store,
    clock: ClockHandle,
    sender: Sender,
}

/// Runs until aborted; aborting it also aborts the attempts in flight.
pub async fn run(store: Store, clock: ClockHandle, settings: DispatcherSettings) {
    let sender = match Sender::new(settings.timeout, settings.allow_private) {
        Ok(sender) => sender,
        Err(error) => {
            tracing::error!(error = %error, "the webhook client cannot be built; webhooks are not delivered");
            return;
        }
    };
    let work = Work { store, clock, sender };
    let mut running = Running::default();
    let mut every = tokio::time::interval(settings.poll.max(Duration::from_millis(1)));
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Err(error) = pass(&work, &mut running).await {
                    tracing::warn!(error = %error, "webhook dispatch pass failed");
                }
            }
            Some(done) = running.tasks.join_next_with_id() => {
                // Only a recorded attempt frees a slot for a refill: one that could not be read
                // or recorded is still due, and is tried again at the next poll, not at once.
                let mut freed = BTreeSet::new();
                let (task, recorded) = task_of(done);
                freed.extend(running.finish(task).filter(|_| recorded));
                while let Some(done) = running.tasks.try_join_next_with_id() {
                    let (task, recorded) = task_of(done);
                    freed.extend(running.finish(task).filter(|_| recorded));
                }
                if let Err(error) = refill(&work, &mut running, freed).await {
                    tracing::warn!(error = %error, "webhook dispatch refill failed");
                }
            }
        }
    }
}

fn task_of(done: Result<(Id, bool), tokio::task::JoinError>) -> (Id, bool) {
    match done {
        Ok(done) => done,
        Err(error) => {
            tracing::error!(error = %error, "webhook attempt task failed");
            (error.id(), false)
        }
    }
}

/// Takes new events in, then starts what is due and fits the limits.
async fn pass(work: &Work, running: &mut Running) -> Result<(), StoreError> {
    take_in(&work.store, &work.clock).await?;
    running.saturated = running.tasks.len() >= webhook_in_flight_max;
    if running.saturated {
        return Ok(());
    }
    let now = work.clock.now();
    let busy = running.busy.clone();
    let resume_after = running.resume_after.take();
    let due = work
        .store
        .read(move |r| {
            deliveries::due(r, now, resume_after, webhook_due_companies_max, webhook_company_in_flight_max, &busy)
        })
        .await?;
    running.resume_after = due.resume_after;
    for (company, ids) in due.per_company {
        if !running.start_all(&company, ids, work) {
            running.saturated = true;
            break;
        }
    }
    Ok(())
}

/// Gives the slots just freed to the next due deliveries of their companies, at once: a
/// company's backlog goes out as fast as its receiver answers, not a few per poll.
async fn refill(work: &Work, running: &mut Running, companies: BTreeSet<String>) -> Result<(), StoreError> {
    if companies.is_empty() || running.saturated || running.tasks.len() >= webhook_in_flight_max {
        return Ok(());
    }
    let now = work.clock.now();
    let busy = running.busy.clone();
    let due = work
        .store
        .read(move |r| deliveries::due_of_companies(r, now, &companies, webhook_company_in_flight_max, &busy))
        .await?;
    for (company, ids) in due {
        if !running.start_all(&company, ids, work) {
            break;
        }
    }
    Ok(())
}

/// Turns every event queued since the last pass into deliveries, a batch per commit.
async fn take_in(store: &Store, clock: &ClockHandle) -> Result<(), StoreError> {
    while store.read(deliveries::has_new_events).await? {
        let now = clock.now();
        let taken = store.write(move |tx| deliveries::take_in_events(tx, now, webhook_take_in_batch_len_max)).await?;
        tracing::debug!(taken, "outbox events taken in");
        if taken < webhook_take_in_batch_len_max {
            break;
        }
    }
    Ok(())
}

/// One attempt of delivery `id`, if it is still due, recorded with its outcome; answers whether
/// an outcome was recorded.
async fn attempt(store: Store, clock: ClockHandle, sender: Sender, id: DeliveryId) -> bool {
    let now = clock.now();
    let lookup = id.clone();
    let job = match store.read(move |r| deliveries::job_if_due(r, &lookup, now)).await {
        Ok(Some(job)) => job,
        Ok(None) => return false,
        Err(error) => {
            tracing::warn!(delivery_id = %id, error = %error, "webhook delivery could not be read");
            return false;
        }
    };
    let outcome = sender.attempt(&job, now).await;
    let attempt = &outcome.attempt;
    tracing::info!(
        delivery_id = %id,
        event_id = %job.event.id,
        company_id = %job.company.id,
        status_code = attempt.status_code,
        error = attempt.error.as_deref(),
        duration_ms = attempt.duration_ms,
        "webhook attempt"
    );
    let finished = clock.now();
    let recorded =
        store.write(move |tx| deliveries::record_attempt(tx, &id, outcome.attempt, outcome.give_up, finished)).await;
    match recorded {
        Ok(record) => record.is_some(),
        Err(error) => {
            tracing::warn!(delivery_id = %job.delivery.id, error = %error, "webhook attempt could not be recorded");
            false
        }
    }
}
