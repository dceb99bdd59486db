//! The sidecar's money at rest (DESIGN §7): the leases central reserved for it, the holds and
//! charges it decided inside them, and the usage outbox that reports each charge. Every decision
//! re-reads its lease inside the write transaction, and the single writer runs them one after
//! another, so Σ live holds + Σ charges of a lease never pass its ceiling, whatever the
//! concurrency. A charge and its usage record (the outbox entry naming it) are committed together.

use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use crate::storage::codec::{decode, encode};
use crate::storage::schema::{
    SIDECAR_CHARGES, SIDECAR_HOLD_EXPIRY, SIDECAR_HOLDS, SIDECAR_LEASES, SIDECAR_RECALLS, SIDECAR_STATE,
    SIDECAR_USAGE_OUTBOX,
};
use crate::storage::sidecar::lease_batch;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{ChargeId, HoldId};
use crate::vocab::limits::lease_safety_margin_s;
use crate::vocab::money::{Amount, Currency};
use crate::vocab::time::Timestamp;
use crate::wire::leases::UsageRecord;

const BOOT: &str = "boot";
const USAGE_ACKED: &str = "usage_acked";
const USAGE_COUNTER: &str = "usage";

/// A lease: a ceiling of one account's funds reserved at central for this sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalLease {
    pub id: String,
    pub account_id: String,
    pub ceiling: Amount,
    /// Σ of every charge accepted against it (reported or not).
    pub charged: Amount,
    /// Σ of its live holds.
    pub held: Amount,
    /// Central's deadline on this boot's monotonic clock: when the request that opened or last
    /// renewed it was sent, plus its `ttl_s`.
    pub deadline_ms: u64,
    pub state: LeaseState,
    pub last_used_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeaseState {
    Open,
    /// Central asked for it back: no new holds or charges; closed once its holds are done.
    Recalled,
    /// A close was sent (or is to be sent) with this request id and usage seq.
    Closing {
        request_id: String,
        through_seq: u64,
    },
}

impl LocalLease {
    /// What is left for new holds and charges.
    pub fn unused(&self) -> Amount {
        self.ceiling.saturating_sub(self.charged).saturating_sub(self.held)
    }

    /// Open and more than the safety margin before its deadline.
    pub fn usable(&self, now_ms: u64) -> bool {
        self.state == LeaseState::Open && now_ms.saturating_add(lease_safety_margin_s * 1000) < self.deadline_ms
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalHoldStatus {
    Held,
    Captured,
    Released,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalHold {
    pub id: HoldId,
    pub account_id: String,
    pub lease_id: String,
    pub amount: Amount,
    pub captured: Amount,
    pub capturable: bool,
    pub status: LocalHoldStatus,
    pub description: Option<String>,
    pub created_at: Timestamp,
    /// For display; the sidecar decides expiry by `expires_ms`.
    pub expires_at: Timestamp,
    pub expires_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCharge {
    pub id: ChargeId,
    pub invoice_number: String,
    pub account_id: String,
    pub lease_id: String,
    pub amount: Amount,
    pub service_id: Option<String>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub hold_id: Option<HoldId>,
    pub idempotency_key: String,
    /// Its usage record's seq.
    pub seq: u64,
    /// Central acknowledged its usage record and booked it settled: not stored, derived from
    /// the acknowledged seq and `central_outcome`.
    #[serde(skip)]
    pub settled: bool,
    /// What central made of its usage record when that was not a settlement (its ack told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub central_outcome: Option<CentralOutcome>,
    pub created_at: Timestamp,
}

/// How central booked a usage record other than as a settled charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CentralOutcome {
    /// Its idempotency key was already settled through another node: no money moved for it.
    Reversed,
    /// Central could not apply it and keeps it in quarantine for the operator.
    Quarantined,
}

/// What a charge says apart from its amount and where the money comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChargeDetails {
    pub service_id: Option<String>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub idempotency_key: String,
}

/// A new hold, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    pub account_id: String,
    pub amount: Amount,
    pub capturable: bool,
    pub description: Option<String>,
    pub ttl_s: i64,
}

/// The clocks and names a decision needs.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub now: Timestamp,
    pub now_ms: u64,
    /// Makes invoice numbers unique across sidecars (`INV-<prefix>-<seq>`).
    pub invoice_prefix: &'a str,
}

/// No usable lease of the account has `need` unused: the caller gets more from central.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    pub account_id: String,
    pub need: Amount,
}

/// Why a capture or release was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldRefusal {
    #[error("no such hold")]
    NotFound,
    #[error("the hold is already {}", status_word(*.0))]
    NotOpen(LocalHoldStatus),
    #[error("the hold has expired")]
    Expired,
    #[error("the hold was created without the charge scope and cannot be captured")]
    NotCapturable,
    #[error("the capture amount exceeds the held amount")]
    ExceedsHold,
}

pub fn status_word(status: LocalHoldStatus) -> &'static str {
    match status {
        LocalHoldStatus::Held => "held",
        LocalHoldStatus::Captured => "captured",
        LocalHoldStatus::Released => "released",
        LocalHoldStatus::Expired => "expired",
    }
}

fn sum(a: Amount, b: Amount) -> Amount {
    a.checked_add(b).expect("lease totals stay within the amount range")
}

/// The leases of `account` in `table`, in lease id order.
pub(crate) fn leases_in(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    account: &str,
) -> Result<Vec<LocalLease>, StoreError> {
    let mut out = Vec::new();
    for entry in table.range((account, "")..)? {
        let (key, value) = entry?;
        if key.value().0 != account {
            break;
        }
        out.push(decode("sidecar_leases", value.value())?);
    }
    Ok(out)
}

/// The account's leases, read in a reader.
pub fn leases_of(reader: &Reader, account: &str) -> Result<Vec<LocalLease>, StoreError> {
    leases_in(&reader.txn.open_table(SIDECAR_LEASES)?, account)
}

/// Every lease the sidecar holds.
pub fn all_leases(reader: &Reader) -> Result<Vec<LocalLease>, StoreError> {
    all_in(&reader.txn.open_table(SIDECAR_LEASES)?)
}

/// Every lease in `table`.
pub(crate) fn all_in(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
) -> Result<Vec<LocalLease>, StoreError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        out.push(decode("sidecar_leases", entry?.1.value())?);
    }
    Ok(out)
}

/// The usable lease of `account` with `amount` unused that expires last, if any.
fn lease_for(tx: &mut Tx<'_>, account: &str, amount: Amount, now_ms: u64) -> Result<Option<LocalLease>, StoreError> {
    let leases = lease_batch::of_account(tx, account)?;
    Ok(leases.into_iter().filter(|l| l.usable(now_ms) && l.unused() >= amount).max_by_key(|l| l.deadline_ms))
}

/// Central granted (or renewed) a lease: record its ceiling and deadline. An unknown lease is
/// added as open; a known one keeps its holds, charges and state.
pub fn grant_lease(
    tx: &mut Tx<'_>,
    account: &str,
    lease_id: &str,
    ceiling: Amount,
    deadline_ms: u64,
) -> Result<LocalLease, StoreError> {
    let lease = match lease_batch::get(tx, account, lease_id)? {
        Some(mut known) => {
            known.ceiling = known.ceiling.max(ceiling);
            known.deadline_ms = known.deadline_ms.max(deadline_ms);
            known
        }
        None => {
            // Its recall may have come by the feed before the open's answer.
            let recalled = tx.txn().open_table(SIDECAR_RECALLS)?.remove(lease_id)?.is_some();
            LocalLease {
                id: lease_id.to_owned(),
                account_id: account.to_owned(),
                ceiling,
                charged: Amount::ZERO,
                held: Amount::ZERO,
                deadline_ms,
                state: if recalled { LeaseState::Recalled } else { LeaseState::Open },
                last_used_ms: 0,
            }
        }
    };
    lease_batch::put(tx, &lease);
    Ok(lease)
}

/// Central recalled a lease: stop using it. Returns it when this sidecar holds it; an unknown
/// lease is remembered (`now_ms`) in case it is this sidecar's and its open is still answering.
pub fn recall_lease(
    tx: &mut Tx<'_>,
    account: &str,
    lease_id: &str,
    now_ms: u64,
) -> Result<Option<LocalLease>, StoreError> {
    let Some(mut lease) = lease_batch::get(tx, account, lease_id)? else {
        tx.txn().open_table(SIDECAR_RECALLS)?.insert(lease_id, now_ms)?;
        return Ok(None);
    };
    if lease.state == LeaseState::Open {
        lease.state = LeaseState::Recalled;
        lease_batch::put(tx, &lease);
    }
    Ok(Some(lease))
}

/// Marks a lease as closing through the latest usage seq (kept if already closing, so a retry
/// sends the same request). Returns the state to send; a lease that still backs live holds is
/// left as it is (and returned so), and `None` means an unknown lease.
pub fn start_closing(
    tx: &mut Tx<'_>,
    account: &str,
    lease_id: &str,
    request_id: String,
) -> Result<Option<LocalLease>, StoreError> {
    let Some(mut lease) = lease_batch::get(tx, account, lease_id)? else { return Ok(None) };
    if !matches!(lease.state, LeaseState::Closing { .. }) {
        if !lease.held.is_zero() {
            return Ok(Some(lease));
        }
        let through_seq = latest_usage_seq(tx)?;
        lease.state = LeaseState::Closing { request_id, through_seq };
        lease_batch::put(tx, &lease);
    }
    Ok(Some(lease))
}

/// Central took the close: forget the lease.
pub fn forget_lease(tx: &mut Tx<'_>, account: &str, lease_id: &str) -> Result<(), StoreError> {
    lease_batch::forget(tx, account, lease_id);
    Ok(())
}

/// Places a hold inside a lease, or says how much more the account needs.
pub fn place_hold(tx: &mut Tx<'_>, new: NewHold, at: At<'_>) -> Result<Result<LocalHold, Shortfall>, StoreError> {
    let Some(mut lease) = lease_for(tx, &new.account_id, new.amount, at.now_ms)? else {
        return Ok(Err(Shortfall { account_id: new.account_id, need: new.amount }));
    };
    let ttl_ms = u64::try_from(new.ttl_s).unwrap_or(0).saturating_mul(1000);
    let hold = LocalHold {
        id: HoldId::generate_at(at.now),
        account_id: new.account_id,
        lease_id: lease.id.clone(),
        amount: new.amount,
        captured: Amount::ZERO,
        capturable: new.capturable,
        status: LocalHoldStatus::Held,
        description: new.description,
        created_at: at.now,
        expires_at: at.now.plus_s(new.ttl_s),
        expires_ms: at.now_ms.saturating_add(ttl_ms),
    };
    lease.held = sum(lease.held, hold.amount);
    lease.last_used_ms = at.now_ms;
    lease_batch::put(tx, &lease);
    put_hold(tx, &hold)?;
    tx.sidecar_hold_expiry_table()?.insert((hold.expires_ms, hold.id.as_str()), ())?;
    Ok(Ok(hold))
}

fn put_hold(tx: &mut Tx<'_>, hold: &LocalHold) -> Result<(), StoreError> {
    tx.sidecar_holds_table()?.insert(hold.id.as_str(), encode(hold).as_slice())?;
    Ok(())
}

/// A direct charge inside a lease, with its usage record, or how much more the account needs.
pub fn place_charge(
    tx: &mut Tx<'_>,
    account: &str,
    amount: Amount,
    details: ChargeDetails,
    at: At<'_>,
) -> Result<Result<LocalCharge, Shortfall>, StoreError> {
    let Some(mut lease) = lease_for(tx, account, amount, at.now_ms)? else {
        return Ok(Err(Shortfall { account_id: account.to_owned(), need: amount }));
    };
    lease.charged = sum(lease.charged, amount);
    lease.last_used_ms = at.now_ms;
    lease_batch::put(tx, &lease);
    record_charge(tx, &lease, amount, details, None, at).map(Ok)
}

/// Books a charge against `lease` (already updated by the caller) and its usage record.
fn record_charge(
    tx: &mut Tx<'_>,
    lease: &LocalLease,
    amount: Amount,
    details: ChargeDetails,
    hold_id: Option<HoldId>,
    at: At<'_>,
) -> Result<LocalCharge, StoreError> {
    let seq = tx.next(USAGE_COUNTER)?;
    let charge = LocalCharge {
        id: ChargeId::generate_at(at.now),
        invoice_number: format!("INV-{}-{seq:08}", at.invoice_prefix),
        account_id: lease.account_id.clone(),
        lease_id: lease.id.clone(),
        amount,
        service_id: details.service_id,
        service_name: details.service_name,
        description: details.description,
        payload: details.payload,
        hold_id,
        idempotency_key: details.idempotency_key,
        seq,
        settled: false,
        central_outcome: None,
        created_at: at.now,
    };
    tx.sidecar_charges_table()?.insert(charge.id.as_str(), encode(&charge).as_slice())?;
    // The outbox names the charge; its usage record is built from it when sent (schema 5).
    tx.sidecar_usage_outbox_table()?.insert(seq, charge.id.as_str().as_bytes())?;
    Ok(charge)
}

/// The usage record central is sent for `charge`.
fn usage_record(charge: &LocalCharge, currency: Currency) -> UsageRecord {
    UsageRecord {
        seq: charge.seq,
        lease_id: charge.lease_id.clone(),
        account_id: charge.account_id.clone(),
        charge_id: charge.id.to_string(),
        hold_id: charge.hold_id.as_ref().map(ToString::to_string),
        amount: charge.amount.to_wire(currency),
        invoice_number: charge.invoice_number.clone(),
        service_id: charge.service_id.clone(),
        service_name: charge.service_name.clone(),
        description: charge.description.clone(),
        payload: charge.payload.clone(),
        idempotency_key: charge.idempotency_key.clone(),
        accepted_at: charge.created_at.to_rfc3339(),
    }
}

/// What an outbox entry holds: since schema 5 the id of its charge (text that starts with
/// `chg_`); before, the usage record itself (a record, which starts with the codec's tag or `{`).
enum OutboxEntry {
    Charge(String),
    Record(Box<UsageRecord>),
}

fn outbox_entry(seq: u64, bytes: &[u8]) -> Result<OutboxEntry, StoreError> {
    if !bytes.starts_with(ChargeId::PREFIX.as_bytes()) {
        return Ok(OutboxEntry::Record(Box::new(decode("sidecar_usage_outbox", bytes)?)));
    }
    let id = std::str::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
        table: "sidecar_usage_outbox",
        detail: format!("usage {seq} names a charge id that is not UTF-8"),
    })?;
    Ok(OutboxEntry::Charge(id.to_owned()))
}

impl OutboxEntry {
    fn charge_id(&self) -> &str {
        match self {
            OutboxEntry::Charge(id) => id,
            OutboxEntry::Record(record) => &record.charge_id,
        }
    }
}

/// An open hold and its lease, or why it cannot be settled now. A hold past its own expiry or
/// its lease's deadline is expired on the spot.
fn open_hold(
    tx: &mut Tx<'_>,
    id: &HoldId,
    now_ms: u64,
) -> Result<Result<(LocalHold, LocalLease), HoldRefusal>, StoreError> {
    let hold: Option<LocalHold> = {
        let table = tx.sidecar_holds_table()?;
        let value = table.get(id.as_str())?;
        value.map(|v| decode("sidecar_holds", v.value())).transpose()?
    };
    let Some(hold) = hold else { return Ok(Err(HoldRefusal::NotFound)) };
    if hold.status != LocalHoldStatus::Held {
        return Ok(Err(HoldRefusal::NotOpen(hold.status)));
    }
    let lease = lease_batch::get(tx, &hold.account_id, &hold.lease_id)?
        .ok_or_else(|| StoreError::Corrupt { table: "sidecar_holds", detail: format!("hold {id} has no lease") })?;
    if now_ms >= hold.expires_ms || now_ms >= lease.deadline_ms {
        end_hold(tx, hold, lease, LocalHoldStatus::Expired)?;
        return Ok(Err(HoldRefusal::Expired));
    }
    Ok(Ok((hold, lease)))
}

/// Closes a hold (released or expired): its amount leaves the lease's live holds.
fn end_hold(
    tx: &mut Tx<'_>,
    mut hold: LocalHold,
    mut lease: LocalLease,
    status: LocalHoldStatus,
) -> Result<LocalHold, StoreError> {
    lease.held = lease.held.saturating_sub(hold.amount);
    lease_batch::put(tx, &lease);
    hold.status = status;
    put_hold(tx, &hold)?;
    tx.sidecar_hold_expiry_table()?.remove((hold.expires_ms, hold.id.as_str()))?;
    Ok(hold)
}

/// Captures all (`amount: None`) or part of a hold as a charge; the rest goes back to the lease.
pub fn capture(
    tx: &mut Tx<'_>,
    id: &HoldId,
    amount: Option<Amount>,
    details: ChargeDetails,
    at: At<'_>,
) -> Result<Result<LocalCharge, HoldRefusal>, StoreError> {
    let (mut hold, mut lease) = match open_hold(tx, id, at.now_ms)? {
        Ok(open) => open,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if !hold.capturable {
        return Ok(Err(HoldRefusal::NotCapturable));
    }
    let amount = amount.unwrap_or(hold.amount);
    if amount > hold.amount {
        return Ok(Err(HoldRefusal::ExceedsHold));
    }
    // A capture without its own description takes the hold's.
    let details = ChargeDetails { description: details.description.or_else(|| hold.description.clone()), ..details };
    lease.held = lease.held.saturating_sub(hold.amount);
    lease.charged = sum(lease.charged, amount);
    lease.last_used_ms = at.now_ms;
    lease_batch::put(tx, &lease);
    hold.status = LocalHoldStatus::Captured;
    hold.captured = amount;
    put_hold(tx, &hold)?;
    tx.sidecar_hold_expiry_table()?.remove((hold.expires_ms, hold.id.as_str()))?;
    record_charge(tx, &lease, amount, details, Some(hold.id.clone()), at).map(Ok)
}

/// Releases a hold: its amount goes back to the lease.
pub fn release(tx: &mut Tx<'_>, id: &HoldId, now_ms: u64) -> Result<Result<LocalHold, HoldRefusal>, StoreError> {
    match open_hold(tx, id, now_ms)? {
        Ok((hold, lease)) => end_hold(tx, hold, lease, LocalHoldStatus::Released).map(Ok),
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// Forgets recalls of unknown leases noted before `before_ms` (another sidecar's, or an open
/// that never answered).
pub fn prune_recalls(tx: &mut Tx<'_>, before_ms: u64) -> Result<(), StoreError> {
    tx.txn().open_table(SIDECAR_RECALLS)?.retain(|_, noted_ms| noted_ms >= before_ms)?;
    Ok(())
}

/// Whether the keeper has anything to write now: an open hold past its expiry or its lease's
/// deadline, or a recall of an unknown lease older than `recall_before_ms`. `leases` are every
/// lease, as read in `reader`.
pub fn keeping_due(
    reader: &Reader,
    leases: &[LocalLease],
    now_ms: u64,
    recall_before_ms: u64,
) -> Result<bool, StoreError> {
    if let Some((first, _)) = reader.txn.open_table(SIDECAR_HOLD_EXPIRY)?.first()?
        && first.value().0 <= now_ms
    {
        return Ok(true);
    }
    if leases.iter().any(|l| !l.held.is_zero() && now_ms >= l.deadline_ms) {
        return Ok(true);
    }
    for entry in reader.txn.open_table(SIDECAR_RECALLS)?.iter()? {
        if entry?.1.value() < recall_before_ms {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Expires every open hold past its own expiry or its lease's deadline. Returns how many.
pub fn expire_holds(tx: &mut Tx<'_>, now_ms: u64) -> Result<usize, StoreError> {
    let open: Vec<HoldId> = {
        let table = tx.sidecar_hold_expiry_table()?;
        let mut ids = Vec::new();
        for entry in table.iter()? {
            let (key, _) = entry?;
            if let Ok(id) = HoldId::parse(key.value().1) {
                ids.push(id);
            }
        }
        ids
    };
    let mut expired = 0;
    for id in open {
        if open_hold(tx, &id, now_ms)? == Err(HoldRefusal::Expired) {
            expired += 1;
        }
    }
    Ok(expired)
}

pub fn get_hold(reader: &Reader, id: &HoldId) -> Result<Option<LocalHold>, StoreError> {
    let table = reader.txn.open_table(SIDECAR_HOLDS)?;
    let value = table.get(id.as_str())?;
    value.map(|v| decode("sidecar_holds", v.value())).transpose()
}

/// A charge, `settled` once central acknowledged its usage record.
pub fn get_charge(reader: &Reader, id: &ChargeId) -> Result<Option<LocalCharge>, StoreError> {
    let table = reader.txn.open_table(SIDECAR_CHARGES)?;
    let value = table.get(id.as_str())?;
    let Some(mut charge): Option<LocalCharge> = value.map(|v| decode("sidecar_charges", v.value())).transpose()? else {
        return Ok(None);
    };
    let state = reader.txn.open_table(SIDECAR_STATE)?;
    let acked: u64 = state.get(USAGE_ACKED)?.map(|v| decode("sidecar_state", v.value())).transpose()?.unwrap_or(0);
    charge.settled = charge.seq <= acked && charge.central_outcome.is_none();
    Ok(Some(charge))
}

/// The seq of the newest usage record ever written (0 before the first).
pub fn latest_usage_seq(tx: &Tx<'_>) -> Result<u64, StoreError> {
    tx.current(USAGE_COUNTER)
}

/// The oldest usage records waiting for central, at most `limit`, amounts in `currency`.
pub fn usage_batch(reader: &Reader, limit: usize, currency: Currency) -> Result<Vec<UsageRecord>, StoreError> {
    let charges = reader.txn.open_table(SIDECAR_CHARGES)?;
    let mut out = Vec::new();
    for entry in reader.txn.open_table(SIDECAR_USAGE_OUTBOX)?.iter()?.take(limit) {
        let (seq, bytes) = entry?;
        let record = match outbox_entry(seq.value(), bytes.value())? {
            OutboxEntry::Record(record) => *record,
            OutboxEntry::Charge(id) => {
                let value = charges.get(id.as_str())?.ok_or_else(|| StoreError::Corrupt {
                    table: "sidecar_usage_outbox",
                    detail: format!("usage {} names charge {id}, which is missing", seq.value()),
                })?;
                usage_record(&decode("sidecar_charges", value.value())?, currency)
            }
        };
        out.push(record);
    }
    Ok(out)
}

/// Usage records waiting for central.
pub fn outbox_depth(reader: &Reader) -> Result<u64, StoreError> {
    Ok(reader.txn.open_table(SIDECAR_USAGE_OUTBOX)?.len()?)
}

/// Central applied every record up to `through`: delete them; their charges count as settled
/// from now on (one watermark, not a rewrite of each charge), except those of `outcomes`, the
/// few central reversed or quarantined, whose charges keep that outcome. Returns how many
/// records were deleted.
pub fn ack_usage(tx: &mut Tx<'_>, through: u64, outcomes: &[(u64, CentralOutcome)]) -> Result<usize, StoreError> {
    for &(seq, outcome) in outcomes.iter().filter(|(seq, _)| *seq <= through) {
        let entry = {
            let outbox = tx.sidecar_usage_outbox_table()?;
            let value = outbox.get(seq)?;
            value.map(|v| outbox_entry(seq, v.value())).transpose()?
        };
        let Some(entry) = entry else { continue };
        let mut charges = tx.sidecar_charges_table()?;
        let charge: Option<LocalCharge> = {
            let value = charges.get(entry.charge_id())?;
            value.map(|v| decode("sidecar_charges", v.value())).transpose()?
        };
        if let Some(mut charge) = charge {
            charge.central_outcome = Some(outcome);
            charges.insert(entry.charge_id(), encode(&charge).as_slice())?;
        }
    }
    let mut outbox = tx.sidecar_usage_outbox_table()?;
    let acked = outbox.extract_from_if(..=through, |_, _| true)?.count();
    drop(outbox);
    let mut state = tx.txn().open_table(SIDECAR_STATE)?;
    let before: u64 = state.get(USAGE_ACKED)?.map(|v| decode("sidecar_state", v.value())).transpose()?.unwrap_or(0);
    if through > before {
        state.insert(USAGE_ACKED, encode(&through).as_slice())?;
    }
    Ok(acked)
}

/// Adopts this boot: when the stored deadlines were read on another boot's monotonic clock,
/// they mean nothing now, so every lease counts as past its deadline (its holds expire, its
/// charges are still reported) and the boot id is updated. Returns whether that happened.
pub fn adopt_boot(tx: &mut Tx<'_>, boot_id: &str) -> Result<bool, StoreError> {
    let stored: Option<String> = {
        let state = tx.txn().open_table(SIDECAR_STATE)?;
        let value = state.get(BOOT)?;
        value.map(|v| decode("sidecar_state", v.value())).transpose()?
    };
    if stored.as_deref() == Some(boot_id) {
        return Ok(false);
    }
    let rebooted = stored.is_some();
    if rebooted {
        for mut lease in lease_batch::all(tx)? {
            lease.deadline_ms = 0;
            lease_batch::put(tx, &lease);
        }
    }
    tx.txn().open_table(SIDECAR_STATE)?.insert(BOOT, encode(&boot_id).as_slice())?;
    Ok(rebooted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sidecar::open::open_sidecar;
    use crate::storage::{Store, StoreOptions};

    fn amt(text: &str) -> Amount {
        Amount::parse_stored(text).expect("amount")
    }

    fn rub() -> Currency {
        Currency::parse("RUB").expect("known")
    }

    fn at(now_ms: u64) -> At<'static> {
        At { now: Timestamp::from_unix_ms(1_700_000_000_000), now_ms, invoice_prefix: "TEST" }
    }

    fn hold(amount: &str, ttl_s: i64) -> NewHold {
        NewHold { account_id: "acct_1".into(), amount: amt(amount), capturable: true, description: None, ttl_s }
    }

    fn details(key: &str) -> ChargeDetails {
        ChargeDetails { idempotency_key: key.into(), ..ChargeDetails::default() }
    }

    fn store(dir: &tempfile::TempDir) -> Store {
        open_sidecar(dir.path(), &StoreOptions::default()).expect("open")
    }

    fn lease_of(store: &Store) -> LocalLease {
        store.read_blocking(|r| leases_of(r, "acct_1")).expect("read").pop().expect("one lease")
    }

    const DEADLINE: u64 = 1_000_000;

    #[test]
    fn holds_and_charges_never_pass_the_lease_ceiling() {
        // Proves Σ live holds + Σ charges stays within the ceiling: what does not fit is a shortfall, and a release makes room again.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir);
        let now = 1_000;
        assert_eq!(
            store.write_blocking(move |tx| place_hold(tx, hold("1", 60), at(now))).expect("write"),
            Err(Shortfall { account_id: "acct_1".into(), need: amt("1") }),
            "no lease yet"
        );
        store.write_blocking(|tx| grant_lease(tx, "acct_1", "lse_1", amt("10"), DEADLINE)).expect("lease");
        let held =
            store.write_blocking(move |tx| place_hold(tx, hold("6", 60), at(now))).expect("write").expect("fits");
        let charged = store
            .write_blocking(move |tx| place_charge(tx, "acct_1", amt("3"), details("k1"), at(now)))
            .expect("write")
            .expect("fits");
        assert_eq!((charged.seq, charged.invoice_number.as_str()), (1, "INV-TEST-00000001"));
        let short = store.write_blocking(move |tx| place_charge(tx, "acct_1", amt("1.01"), details("k2"), at(now)));
        assert_eq!(short.expect("write"), Err(Shortfall { account_id: "acct_1".into(), need: amt("1.01") }));
        let lease = lease_of(&store);
        assert_eq!((lease.held, lease.charged, lease.unused()), (amt("6"), amt("3"), amt("1")));
        let id = held.id.clone();
        let released = store.write_blocking(move |tx| release(tx, &id, now)).expect("write").expect("open");
        assert_eq!(released.status, LocalHoldStatus::Released);
        assert_eq!(lease_of(&store).unused(), amt("7"));
        let id = held.id.clone();
        assert_eq!(
            store.write_blocking(move |tx| release(tx, &id, now)).expect("write"),
            Err(HoldRefusal::NotOpen(LocalHoldStatus::Released))
        );
        store.close();
    }

    #[test]
    fn a_capture_books_a_charge_and_its_usage_record_together_and_the_ack_settles_it() {
        // Proves a partial capture charges only the captured part, frees the rest, writes one usage record, and an ack deletes it and marks the charge settled.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir);
        store.write_blocking(|tx| grant_lease(tx, "acct_1", "lse_1", amt("10"), DEADLINE)).expect("lease");
        let held = store.write_blocking(|tx| place_hold(tx, hold("8", 60), at(5))).expect("write").expect("fits");
        let id = held.id.clone();
        assert_eq!(
            store.write_blocking(move |tx| capture(tx, &id, Some(amt("9")), details("c0"), at(6))).expect("write"),
            Err(HoldRefusal::ExceedsHold)
        );
        let id = held.id.clone();
        let charge = store
            .write_blocking(move |tx| capture(tx, &id, Some(amt("2.50")), details("c1"), at(6)))
            .expect("write")
            .expect("captured");
        assert_eq!((charge.amount, charge.hold_id.as_ref()), (amt("2.50"), Some(&held.id)));
        let lease = lease_of(&store);
        assert_eq!((lease.held, lease.charged, lease.unused()), (Amount::ZERO, amt("2.50"), amt("7.50")));
        let batch = store.read_blocking(|r| usage_batch(r, 10, rub())).expect("read");
        assert_eq!(batch.len(), 1);
        assert_eq!(
            (batch[0].amount.as_str(), batch[0].charge_id.as_str(), batch[0].idempotency_key.as_str()),
            ("2.50", charge.id.as_str(), "c1")
        );
        let id = held.id.clone();
        assert_eq!(
            store.write_blocking(move |tx| capture(tx, &id, None, details("c2"), at(7))).expect("write"),
            Err(HoldRefusal::NotOpen(LocalHoldStatus::Captured)),
            "one capture per hold"
        );
        assert_eq!(store.write_blocking(|tx| ack_usage(tx, 1, &[])).expect("ack"), 1);
        assert_eq!(store.read_blocking(outbox_depth).expect("read"), 0);
        let id = charge.id.clone();
        assert!(store.read_blocking(move |r| get_charge(r, &id)).expect("read").expect("kept").settled);
        store.close();
    }

    #[test]
    fn the_outbox_names_each_charge_and_a_usage_record_stored_whole_before_is_still_sent() {
        // Proves a usage record is built from its charge when sent, and an outbox entry from
        // before schema 5 (the record itself) goes out as it was, in seq order, and is acked.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir);
        let old = UsageRecord {
            seq: 0,
            lease_id: "lse_0".into(),
            account_id: "acct_1".into(),
            charge_id: "chg_old".into(),
            hold_id: None,
            amount: "1.25".into(),
            invoice_number: "INV-OLD-1".into(),
            service_id: None,
            service_name: None,
            description: Some("before".into()),
            payload: None,
            idempotency_key: "old".into(),
            accepted_at: "2026-11-27T10:00:00.000Z".into(),
        };
        store
            .write_blocking(move |tx| {
                let seq = tx.next(USAGE_COUNTER)?;
                tx.sidecar_usage_outbox_table()?.insert(seq, encode(&UsageRecord { seq, ..old }).as_slice())?;
                grant_lease(tx, "acct_1", "lse_1", amt("10"), DEADLINE).map(drop)
            })
            .expect("an entry as written before");
        let charge = store
            .write_blocking(|tx| place_charge(tx, "acct_1", amt("3"), details("k1"), at(5)))
            .expect("write")
            .expect("fits");
        let entry = store
            .read_blocking(|r| Ok(r.txn.open_table(SIDECAR_USAGE_OUTBOX)?.get(2)?.map(|v| v.value().to_vec())))
            .expect("read");
        assert_eq!(entry, Some(charge.id.as_str().as_bytes().to_vec()), "the entry is the charge's id");
        let batch = store.read_blocking(|r| usage_batch(r, 10, rub())).expect("read");
        let sent: Vec<_> = batch.iter().map(|r| (r.seq, r.charge_id.as_str(), r.amount.as_str())).collect();
        assert_eq!(sent, vec![(1, "chg_old", "1.25"), (2, charge.id.as_str(), "3.00")]);
        assert_eq!(
            (batch[1].lease_id.as_str(), batch[1].idempotency_key.as_str(), batch[1].accepted_at.as_str()),
            ("lse_1", "k1", charge.created_at.to_rfc3339().as_str())
        );
        let reversed = [(1, CentralOutcome::Reversed), (2, CentralOutcome::Reversed)];
        assert_eq!(store.write_blocking(move |tx| ack_usage(tx, 2, &reversed)).expect("ack"), 2);
        let id = charge.id.clone();
        let read = store.read_blocking(move |r| get_charge(r, &id)).expect("read").expect("kept");
        assert_eq!((read.central_outcome, read.settled), (Some(CentralOutcome::Reversed), false));
        store.close();
    }

    #[test]
    fn holds_expire_on_their_own_time_or_with_their_lease_and_are_not_captured_after() {
        // Proves the monotonic deadlines: a hold past its expiry, or whose lease passed its deadline unrenewed, expires and frees its amount.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir);
        store.write_blocking(|tx| grant_lease(tx, "acct_1", "lse_1", amt("10"), DEADLINE)).expect("lease");
        let short = store.write_blocking(|tx| place_hold(tx, hold("2", 10), at(0))).expect("write").expect("fits");
        let long = store.write_blocking(|tx| place_hold(tx, hold("3", 7200), at(0))).expect("write").expect("fits");
        assert_eq!(store.write_blocking(|tx| expire_holds(tx, 9_999)).expect("sweep"), 0);
        assert_eq!(store.write_blocking(|tx| expire_holds(tx, 10_000)).expect("sweep"), 1);
        assert_eq!(lease_of(&store).held, amt("3"));
        let id = short.id.clone();
        assert_eq!(
            store.write_blocking(move |tx| capture(tx, &id, None, details("x"), at(10_001))).expect("write"),
            Err(HoldRefusal::NotOpen(LocalHoldStatus::Expired))
        );
        let id = long.id.clone();
        assert_eq!(
            store.write_blocking(move |tx| capture(tx, &id, None, details("y"), at(DEADLINE))).expect("write"),
            Err(HoldRefusal::Expired),
            "the lease's deadline passed before the hold's own"
        );
        assert_eq!(lease_of(&store).held, Amount::ZERO);
        store.close();
    }

    #[test]
    fn a_lease_is_unusable_within_the_safety_margin_and_after_a_reboot() {
        // Proves the 30 s margin before the deadline and that deadlines read on another boot count as past.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir);
        assert!(!store.write_blocking(|tx| adopt_boot(tx, "boot-a")).expect("first boot"));
        store.write_blocking(|tx| grant_lease(tx, "acct_1", "lse_1", amt("10"), DEADLINE)).expect("lease");
        let margin_ms = lease_safety_margin_s * 1000;
        assert!(lease_of(&store).usable(DEADLINE - margin_ms - 1));
        assert!(!lease_of(&store).usable(DEADLINE - margin_ms));
        let late = store.write_blocking(move |tx| place_hold(tx, hold("1", 60), at(DEADLINE - margin_ms)));
        assert!(late.expect("write").is_err(), "no new hold inside the margin");
        assert!(!store.write_blocking(|tx| adopt_boot(tx, "boot-a")).expect("same boot"));
        assert!(store.write_blocking(|tx| adopt_boot(tx, "boot-b")).expect("rebooted"));
        assert_eq!(lease_of(&store).deadline_ms, 0);
        store.close();
    }

    #[test]
    fn a_recall_that_arrives_before_its_lease_is_not_lost() {
        // Proves a recall of a lease this sidecar does not know yet (its open still answering) makes the lease arrive recalled, and old notes are pruned.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir);
        let known = store.write_blocking(|tx| recall_lease(tx, "acct_1", "lse_early", 500)).expect("write");
        assert!(known.is_none());
        let lease =
            store.write_blocking(|tx| grant_lease(tx, "acct_1", "lse_early", amt("10"), DEADLINE)).expect("lease");
        assert_eq!(lease.state, LeaseState::Recalled);
        store.write_blocking(|tx| recall_lease(tx, "acct_1", "lse_other", 500)).expect("write");
        assert!(
            store.read_blocking(|r| keeping_due(r, &all_leases(r)?, 600, 501)).expect("read"),
            "an old note is due for pruning"
        );
        store.write_blocking(|tx| prune_recalls(tx, 501)).expect("prune");
        assert!(!store.read_blocking(|r| keeping_due(r, &all_leases(r)?, 600, 501)).expect("read"));
        let fresh =
            store.write_blocking(|tx| grant_lease(tx, "acct_1", "lse_other", amt("10"), DEADLINE)).expect("lease");
        assert_eq!(fresh.state, LeaseState::Open, "a pruned note no longer applies");
        store.close();
    }

    #[test]
    fn closing_waits_for_live_holds_and_records_the_latest_usage_seq() {
        // Proves a lease backing a hold is not closed, and a close carries the newest usage seq so central returns the rest only after applying it.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir);
        store.write_blocking(|tx| grant_lease(tx, "acct_1", "lse_1", amt("10"), DEADLINE)).expect("lease");
        let held = store.write_blocking(|tx| place_hold(tx, hold("4", 60), at(0))).expect("write").expect("fits");
        store
            .write_blocking(|tx| place_charge(tx, "acct_1", amt("1"), details("a"), at(0)))
            .expect("write")
            .expect("fits");
        let kept = store.write_blocking(|tx| start_closing(tx, "acct_1", "lse_1", "req_1".into())).expect("write");
        assert_eq!(kept.map(|l| l.state), Some(LeaseState::Open), "a live hold keeps it open");
        let id = held.id.clone();
        store.write_blocking(move |tx| release(tx, &id, 1)).expect("write").expect("released");
        let closing = store.write_blocking(|tx| start_closing(tx, "acct_1", "lse_1", "req_2".into())).expect("write");
        let expected = LeaseState::Closing { request_id: "req_2".into(), through_seq: 1 };
        assert_eq!(closing.map(|l| l.state), Some(expected.clone()));
        let again = store.write_blocking(|tx| start_closing(tx, "acct_1", "lse_1", "req_3".into())).expect("write");
        assert_eq!(again.map(|l| l.state), Some(expected), "a retry resends the same close");
        store.write_blocking(|tx| forget_lease(tx, "acct_1", "lse_1")).expect("forget");
        assert!(store.read_blocking(all_leases).expect("read").is_empty());
        store.close();
    }
}
