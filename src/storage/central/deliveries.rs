//! Webhook deliveries: one per outbox event whose company had a webhook URL when the dispatcher
//! took the event in, with every attempt, the retry schedule's next time, a due index per company
//! and the company's newest-first delivery log.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use redb::{ReadableTable, Table};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::storage::central::companies;
use crate::storage::central::oauth_records::EventRecord;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::CompanyRecord;
use crate::storage::codec::decode;
use crate::storage::pages::{Page, page_desc};
use crate::storage::schema::{
    COUNTERS, OUTBOX, WEBHOOK_DELIVERIES, WEBHOOK_DELIVERIES_BY_COMPANY, WEBHOOK_DELIVERIES_DUE,
};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{CompanyId, DeliveryId, EventId};
use crate::vocab::limits::{webhook_attempts_kept_max, webhook_retry_delays_s};
use crate::vocab::time::Timestamp;

/// Counter holding the last outbox sequence number the dispatcher has taken in.
const OUTBOX_CURSOR: &str = "webhook_outbox_cursor";
/// Sorts after every delivery id (`dlv_` + lowercase base32), closing a company's due range.
const ID_MAX: &str = "~";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not attempted yet, or a manual retry is waiting.
    Pending,
    /// The last attempt failed; `next_attempt_at` says when the schedule tries again.
    Failed,
    /// A receiver answered 2xx.
    Succeeded,
    /// The schedule is used up (or the URL was removed); only a manual retry sends it again.
    Exhausted,
}

/// One POST to the receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub at: Timestamp,
    /// The HTTP status the receiver answered, if it answered.
    pub status_code: Option<u16>,
    /// Why no 2xx came: the timeout, the connection error, the refused target.
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Asked for through the retry endpoint rather than by the schedule.
    pub manual: bool,
}

impl AttemptRecord {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|code| (200..300).contains(&code))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub company_id: CompanyId,
    pub event_id: EventId,
    pub event_type: String,
    /// Where the event lives in the outbox.
    pub outbox_seq: u64,
    pub status: DeliveryStatus,
    /// The newest `webhook_attempts_kept_max` attempts, oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// Attempts made by the schedule (manual ones do not count against it).
    pub scheduled_attempts: u32,
    /// The next attempt was asked for by hand.
    pub manual_next: bool,
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Everything one attempt needs, read in one transaction.
#[derive(Debug, Clone)]
pub struct AttemptJob {
    pub delivery: DeliveryRecord,
    pub event: EventRecord,
    pub company: CompanyRecord,
}

fn due_ms(at: Timestamp) -> u64 {
    u64::try_from(at.unix_ms()).unwrap_or(0)
}

/// When the schedule tries next after `scheduled` automatic attempts, if it does.
pub fn next_scheduled(scheduled: u32, now: Timestamp) -> Option<Timestamp> {
    let index = usize::try_from(scheduled).ok()?;
    webhook_retry_delays_s.get(index).map(|delay| now.plus_s(*delay))
}

fn cursor_in(table: &impl ReadableTable<&'static str, u64>) -> Result<u64, StoreError> {
    Ok(table.get(OUTBOX_CURSOR)?.map_or(0, |v| v.value()))
}

/// Whether the outbox holds events the dispatcher has not taken in yet.
pub fn has_new_events(reader: &Reader) -> Result<bool, StoreError> {
    let cursor = cursor_in(&reader.txn.open_table(COUNTERS)?)?;
    Ok(reader.txn.open_table(OUTBOX)?.range(cursor.saturating_add(1)..)?.next().is_some())
}

/// Takes in up to `limit` new outbox events: a delivery due `now` for each whose company has a
/// webhook URL; events of a company without one are passed over for good. Returns how many events
/// were taken in (fewer than `limit` means the outbox is drained).
pub fn take_in_events(tx: &mut Tx<'_>, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
    let cursor = cursor_in(&tx.txn().open_table(COUNTERS)?)?;
    let mut events = Vec::new();
    for entry in tx.outbox_table()?.range(cursor.saturating_add(1)..)?.take(limit) {
        let (seq, bytes) = entry?;
        // Only the envelope: the delivery names the event, and `data` is read when it is sent.
        events.push((seq.value(), decode::<EventRecord<IgnoredAny>>("outbox", bytes.value())?));
    }
    let Some(last) = events.last().map(|(seq, _)| *seq) else { return Ok(0) };
    let mut urls: HashMap<CompanyId, bool> = HashMap::new();
    for (seq, event) in &events {
        let has_url = match urls.get(&event.company_id) {
            Some(known) => *known,
            None => {
                let known = companies::get_in_tx(tx, &event.company_id)?.is_some_and(|c| c.webhook_url.is_some());
                urls.insert(event.company_id.clone(), known);
                known
            }
        };
        if has_url {
            create(tx, *seq, event, now)?;
        }
    }
    tx.txn().open_table(COUNTERS)?.insert(OUTBOX_CURSOR, last)?;
    Ok(events.len())
}

fn create<Data>(tx: &mut Tx<'_>, outbox_seq: u64, event: &EventRecord<Data>, now: Timestamp) -> Result<(), StoreError> {
    let log_seq = tx.next("delivery")?;
    let delivery = DeliveryRecord {
        id: DeliveryId::generate_at(now),
        company_id: event.company_id.clone(),
        event_id: event.id.clone(),
        event_type: event.kind.clone(),
        outbox_seq,
        status: DeliveryStatus::Pending,
        attempts: Vec::new(),
        scheduled_attempts: 0,
        manual_next: false,
        next_attempt_at: Some(now),
        created_at: now,
    };
    let (company, id) = (delivery.company_id.as_str(), delivery.id.as_str());
    tx.txn().open_table(WEBHOOK_DELIVERIES_BY_COMPANY)?.insert((company, log_seq), id)?;
    tx.txn().open_table(WEBHOOK_DELIVERIES_DUE)?.insert((company, due_ms(now), id), ())?;
    put_record(&mut tx.txn().open_table(WEBHOOK_DELIVERIES)?, id, &delivery)
}

/// Deliveries running now, which `due` passes over, and how many each company has.
#[derive(Debug, Default, Clone)]
pub struct Busy {
    pub ids: HashSet<String>,
    pub per_company: HashMap<String, usize>,
}

/// Due work of one dispatcher pass, and where the next pass goes on.
#[derive(Debug, Default)]
pub struct DueWork {
    pub per_company: Vec<(CompanyId, Vec<DeliveryId>)>,
    /// The last company looked at when `companies_max` cut the pass short; `None` starts over.
    pub resume_after: Option<String>,
}

/// What the dispatcher may start now: for each company with waiting deliveries (at most
/// `companies_max` companies, after `resume_after` so every company gets its turn), its oldest
/// due ids that are not busy, so that the company has at most `per_company_max` running.
pub fn due(
    reader: &Reader,
    now: Timestamp,
    resume_after: Option<String>,
    companies_max: usize,
    per_company_max: usize,
    busy: &Busy,
) -> Result<DueWork, StoreError> {
    let table = reader.txn.open_table(WEBHOOK_DELIVERIES_DUE)?;
    let now_ms = due_ms(now);
    let mut work = DueWork::default();
    let mut after = resume_after;
    for _ in 0..companies_max {
        let start = match &after {
            Some(company) => Bound::Excluded((company.as_str(), u64::MAX, ID_MAX)),
            None => Bound::Unbounded,
        };
        let Some(first) = table.range::<(&str, u64, &str)>((start, Bound::Unbounded))?.next() else {
            return Ok(work);
        };
        let (key, _) = first?;
        let (company, earliest, _) = key.value();
        let company = company.to_owned();
        let wanted = per_company_max.saturating_sub(busy.per_company.get(&company).copied().unwrap_or(0));
        if earliest <= now_ms && wanted > 0 {
            let ids = due_of_company(&table, &company, now_ms, wanted, busy)?;
            if !ids.is_empty() {
                work.per_company.push((CompanyId::parse(&company).map_err(|e| corrupt(e.to_string()))?, ids));
            }
        }
        after = Some(company);
    }
    work.resume_after = after;
    Ok(work)
}

/// For each of `companies`, its oldest due deliveries that are not busy, so that it has at
/// most `per_company_max` running: the slots its ended attempts freed.
pub fn due_of_companies(
    reader: &Reader,
    now: Timestamp,
    companies: &BTreeSet<String>,
    per_company_max: usize,
    busy: &Busy,
) -> Result<Vec<(CompanyId, Vec<DeliveryId>)>, StoreError> {
    let table = reader.txn.open_table(WEBHOOK_DELIVERIES_DUE)?;
    let mut work = Vec::new();
    for company in companies {
        let wanted = per_company_max.saturating_sub(busy.per_company.get(company).copied().unwrap_or(0));
        if wanted == 0 {
            continue;
        }
        let ids = due_of_company(&table, company, due_ms(now), wanted, busy)?;
        if !ids.is_empty() {
            work.push((CompanyId::parse(company).map_err(|e| corrupt(e.to_string()))?, ids));
        }
    }
    Ok(work)
}

fn due_of_company(
    table: &impl ReadableTable<(&'static str, u64, &'static str), ()>,
    company: &str,
    now_ms: u64,
    wanted: usize,
    busy: &Busy,
) -> Result<Vec<DeliveryId>, StoreError> {
    let mut ids = Vec::new();
    for entry in table.range((company, 0, "")..=(company, now_ms, ID_MAX))? {
        let (key, _) = entry?;
        let id = key.value().2;
        if !busy.ids.contains(id) {
            ids.push(DeliveryId::parse(id).map_err(|e| corrupt(e.to_string()))?);
            if ids.len() == wanted {
                break;
            }
        }
    }
    Ok(ids)
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt { table: "webhook_deliveries_due", detail }
}

/// The delivery, its event and its company, if the delivery is still due at `now`.
pub fn job_if_due(reader: &Reader, id: &DeliveryId, now: Timestamp) -> Result<Option<AttemptJob>, StoreError> {
    let deliveries = reader.txn.open_table(WEBHOOK_DELIVERIES)?;
    let Some(delivery): Option<DeliveryRecord> = get_record(&deliveries, "webhook_deliveries", id.as_str())? else {
        return Ok(None);
    };
    if delivery.next_attempt_at.is_none_or(|at| at > now) {
        return Ok(None);
    }
    let Some(bytes) = reader.txn.open_table(OUTBOX)?.get(delivery.outbox_seq)? else { return Ok(None) };
    let event: EventRecord = decode("outbox", bytes.value())?;
    let Some(company) = companies::get(reader, &delivery.company_id)? else { return Ok(None) };
    Ok(Some(AttemptJob { delivery, event, company }))
}

fn set_due(
    table: &mut Table<'_, (&'static str, u64, &'static str), ()>,
    delivery: &DeliveryRecord,
    next: Option<Timestamp>,
) -> Result<(), StoreError> {
    let (company, id) = (delivery.company_id.as_str(), delivery.id.as_str());
    if let Some(old) = delivery.next_attempt_at {
        table.remove((company, due_ms(old), id))?;
    }
    if let Some(new) = next {
        table.insert((company, due_ms(new), id), ())?;
    }
    Ok(())
}

/// Records one attempt made for `id` and moves the delivery on: succeeded on a 2xx; otherwise the
/// schedule's next time, or exhausted when the schedule is used up or `give_up` (no URL left).
pub fn record_attempt(
    tx: &mut Tx<'_>,
    id: &DeliveryId,
    attempt: AttemptRecord,
    give_up: bool,
    now: Timestamp,
) -> Result<Option<DeliveryRecord>, StoreError> {
    let mut deliveries = tx.txn().open_table(WEBHOOK_DELIVERIES)?;
    let Some(mut delivery): Option<DeliveryRecord> = get_record(&deliveries, "webhook_deliveries", id.as_str())? else {
        return Ok(None);
    };
    if !attempt.manual {
        delivery.scheduled_attempts = delivery.scheduled_attempts.saturating_add(1);
    }
    let (status, next) = if attempt.succeeded() {
        (DeliveryStatus::Succeeded, None)
    } else {
        match next_scheduled(delivery.scheduled_attempts, now).filter(|_| !give_up) {
            Some(at) => (DeliveryStatus::Failed, Some(at)),
            None => (DeliveryStatus::Exhausted, None),
        }
    };
    set_due(&mut tx.txn().open_table(WEBHOOK_DELIVERIES_DUE)?, &delivery, next)?;
    delivery.attempts.push(attempt);
    let excess = delivery.attempts.len().saturating_sub(webhook_attempts_kept_max);
    delivery.attempts.drain(..excess);
    delivery.status = status;
    delivery.next_attempt_at = next;
    delivery.manual_next = false;
    put_record(&mut deliveries, id.as_str(), &delivery)?;
    Ok(Some(delivery))
}

/// Schedules an attempt of `company`'s delivery `id` at `now`, whatever its status; `None` when
/// the company has no such delivery.
pub fn retry(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    id: &DeliveryId,
    now: Timestamp,
) -> Result<Option<DeliveryRecord>, StoreError> {
    let mut deliveries = tx.txn().open_table(WEBHOOK_DELIVERIES)?;
    let found: Option<DeliveryRecord> = get_record(&deliveries, "webhook_deliveries", id.as_str())?;
    let Some(mut delivery) = found.filter(|d| &d.company_id == company) else { return Ok(None) };
    set_due(&mut tx.txn().open_table(WEBHOOK_DELIVERIES_DUE)?, &delivery, Some(now))?;
    delivery.status = DeliveryStatus::Pending;
    delivery.next_attempt_at = Some(now);
    delivery.manual_next = true;
    put_record(&mut deliveries, id.as_str(), &delivery)?;
    Ok(Some(delivery))
}

/// The company's deliveries, newest first.
pub fn list_for_company(
    reader: &Reader,
    company: &CompanyId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<DeliveryRecord>, StoreError> {
    let deliveries = reader.txn.open_table(WEBHOOK_DELIVERIES)?;
    let log = reader.txn.open_table(WEBHOOK_DELIVERIES_BY_COMPANY)?;
    let page = page_desc(&log, company.as_str(), cursor, limit, |id| Ok(id.to_owned()))?;
    let mut items = Vec::with_capacity(page.items.len());
    for id in &page.items {
        if let Some(delivery) = get_record(&deliveries, "webhook_deliveries", id)? {
            items.push(delivery);
        }
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;
    use crate::storage::central::open::open_central;

    #[test]
    fn the_schedule_runs_through_the_design_delays_then_stops() {
        // Proves the retry delays of DESIGN §6 (immediately, 5 s, … 10 h, 10 h) and the end after eight attempts.
        let now = Timestamp::from_unix_ms(1_000_000);
        let delays: Vec<i64> = (0..8)
            .map(|n| next_scheduled(n, now).map(|at| (at.unix_ms() - now.unix_ms()) / 1000).expect("scheduled"))
            .collect();
        assert_eq!(delays, [0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(next_scheduled(8, now), None);
        assert_eq!(next_scheduled(u32::MAX, now), None);
    }

    #[test]
    fn due_work_respects_the_per_company_limit_busy_ids_and_takes_turns() {
        // Proves the due query: oldest first, at most the limit per company minus running ones, future ones left, and a resumable walk over companies.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_central(dir.path(), &StoreOptions::default()).expect("open");
        let now = Timestamp::from_unix_ms(10_000_000);
        let mut companies: Vec<CompanyId> = (0..3).map(|_| CompanyId::generate()).collect();
        companies.sort();
        let (a, b, c) = (companies[0].clone(), companies[1].clone(), companies[2].clone());
        // a: six due (oldest first by time) and one later; b: one due; c: only later.
        let a_due: Vec<DeliveryId> = (0..6).map(|_| DeliveryId::generate()).collect();
        let rows: Vec<(CompanyId, i64, DeliveryId)> = a_due
            .iter()
            .enumerate()
            .map(|(i, id)| (a.clone(), i64::try_from(i).expect("small") * 1000, id.clone()))
            .chain([
                (a.clone(), 60_000, DeliveryId::generate()),
                (b.clone(), 0, DeliveryId::generate()),
                (c.clone(), 60_000, DeliveryId::generate()),
            ])
            .collect();
        store
            .write_blocking(move |tx| {
                let mut table = tx.txn().open_table(WEBHOOK_DELIVERIES_DUE)?;
                for (company, offset_ms, id) in &rows {
                    let at = due_ms(Timestamp::from_unix_ms(now.unix_ms() - 50_000 + offset_ms));
                    table.insert((company.as_str(), at, id.as_str()), ())?;
                }
                Ok(())
            })
            .expect("seeded");
        let run = |resume: Option<String>, companies_max: usize, busy: Busy| {
            store.read_blocking(|r| due(r, now, resume, companies_max, 4, &busy)).expect("due")
        };
        let work = run(None, 10, Busy::default());
        assert_eq!(work.per_company.len(), 2);
        assert_eq!(work.per_company[0], (a.clone(), a_due[..4].to_vec()));
        assert_eq!(work.per_company[1].0, b);
        assert_eq!(work.resume_after, None);

        let mut busy = Busy::default();
        busy.ids.extend([a_due[0].to_string(), a_due[2].to_string()]);
        busy.per_company.insert(a.to_string(), 2);
        let work = run(None, 10, busy);
        assert_eq!(work.per_company[0], (a.clone(), vec![a_due[1].clone(), a_due[3].clone()]));

        let first = run(None, 1, Busy::default());
        assert_eq!((first.per_company.len(), first.resume_after.clone()), (1, Some(a.to_string())));
        let second = run(first.resume_after, 1, Busy::default());
        assert_eq!((second.per_company[0].0.clone(), second.resume_after.clone()), (b.clone(), Some(b.to_string())));
        let third = run(second.resume_after, 1, Busy::default());
        assert_eq!((third.per_company.len(), third.resume_after.clone()), (0, Some(c.to_string())));
        let last = run(third.resume_after, 1, Busy::default());
        assert_eq!((last.per_company.len(), last.resume_after), (0, None));
        store.close();
    }
}
