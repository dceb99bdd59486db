//! Leases (DESIGN §7): funds of one account reserved at central for one sidecar. Opening and
//! renewing move money `available → leased`; closing and expiry return the unused remainder;
//! recalls ask holders over the feed to give funds back. Each call is one transaction's worth.

use redb::ReadableTable;

use crate::domain::ledger::{plan_lease, plan_lease_return};
use crate::domain::token::scope::Scope;
use crate::storage::central::changes::record_change;
use crate::storage::central::oauth_records::{Change, GrantStatus};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{AccountRecord, LeaseRecord, LeaseStatus};
use crate::storage::central::{TxResult, accounts, grants, ledger, spending, usage};
use crate::storage::schema::{CLOSING_LEASES, LEASE_EXPIRY, LEASES};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{AccountId, CompanyId, LeaseId, SidecarId};
use crate::vocab::limits::lease_grace_s;
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("no such account")]
    AccountNotFound,
    #[error("{0}")]
    GrantInactive(&'static str),
    #[error("no such lease")]
    LeaseNotFound,
    #[error("the lease is {}; open a new one", status_word(*.0))]
    LeaseNotOpen(LeaseStatus),
}

/// The wire word of a lease status.
pub fn status_word(status: LeaseStatus) -> &'static str {
    match status {
        LeaseStatus::Open => "open",
        LeaseStatus::Closing => "closing",
        LeaseStatus::Closed => "closed",
        LeaseStatus::Expired => "expired",
    }
}

/// What an open or renew did.
#[derive(Debug, Clone)]
pub enum Reserved {
    /// Other sidecars' leases hold unused funds and were recalled: try again shortly. Nothing
    /// but the recalls was written.
    Wait,
    /// The lease as it is now (`None`: open could reserve nothing and created no lease), and
    /// the wallet's `available` after.
    Done { lease: Option<Box<LeaseRecord>>, available: Amount },
}

fn ms(at: Timestamp) -> u64 {
    u64::try_from(at.unix_ms()).unwrap_or(0)
}

/// The key of a lease in `lease_expiry`: when the sweeper returns it.
fn expiry_key(lease: &LeaseRecord) -> u64 {
    ms(lease.deadline.plus_s(lease_grace_s))
}

fn save(tx: &mut Tx<'_>, lease: &LeaseRecord) -> Result<(), StoreError> {
    put_record(&mut *tx.leases_table()?, lease.id.as_str(), lease)
}

pub fn get_in_tx(tx: &Tx<'_>, id: &LeaseId) -> Result<Option<LeaseRecord>, StoreError> {
    get_record(&*tx.leases_table()?, "leases", id.as_str())
}

pub fn get(reader: &Reader, id: &LeaseId) -> Result<Option<LeaseRecord>, StoreError> {
    get_record(&reader.txn.open_table(LEASES)?, "leases", id.as_str())
}

/// The lease if it is this sidecar's.
fn own_lease(tx: &Tx<'_>, sidecar: &SidecarId, id: &LeaseId) -> Result<Option<LeaseRecord>, StoreError> {
    Ok(get_in_tx(tx, id)?.filter(|lease| &lease.sidecar_id == sidecar))
}

/// The account's unreturned leases (open or closing), oldest first.
pub fn unreturned(tx: &Tx<'_>, account: &AccountId) -> Result<Vec<LeaseRecord>, StoreError> {
    let mut ids = Vec::new();
    for entry in tx.leases_by_account_table()?.range((account.as_str(), 0)..=(account.as_str(), u64::MAX))? {
        ids.push(entry?.1.value().to_owned());
    }
    let table = tx.leases_table()?;
    let mut leases = Vec::with_capacity(ids.len());
    for id in ids {
        let lease: LeaseRecord = get_record(&*table, "leases", &id)?
            .ok_or(StoreError::Corrupt { table: "leases_by_account", detail: format!("dangling id {id}") })?;
        leases.push(lease);
    }
    Ok(leases)
}

/// Σ `ceiling − charged` over the account's unreturned leases (for the spending cap).
pub fn unused_total(tx: &Tx<'_>, account: &AccountId) -> Result<Amount, StoreError> {
    unreturned(tx, account)?.iter().try_fold(Amount::ZERO, |total, lease| {
        Ok(total.checked_add(lease.remainder()).expect("lease totals stay within Decimal range"))
    })
}

/// Logs the wallet's `available` for the company's sidecars (their `check`, DESIGN §7).
fn announce_available(tx: &mut Tx<'_>, lease: &LeaseRecord, now: Timestamp) -> Result<(), StoreError> {
    let available = ledger::wallet_in_tx(tx, &lease.customer_id)?.available;
    let change = Change::WalletAvailable { account_id: lease.account_id.clone(), available };
    record_change(tx, Some(&lease.company_id), change, now).map(drop)
}

fn active_grant(tx: &Tx<'_>, account: &AccountRecord) -> Result<Result<(), LeaseError>, StoreError> {
    Ok(match grants::current_in_tx(tx, &account.company_id, &account.customer_id)? {
        Some(grant) if grant.status == GrantStatus::Active => Ok(()),
        Some(_) => Err(LeaseError::GrantInactive("the account's grant is suspended until the customer confirms it")),
        None => Err(LeaseError::GrantInactive("the account's grant is revoked")),
    })
}

/// How much of `requested` can be reserved now: bounded by `available` and by the grant's cap
/// room. When that falls short and other sidecars' leases hold unused funds, they are recalled
/// and, if `may_wait`, `None` asks the caller to try again.
fn reservable(
    tx: &mut Tx<'_>,
    account: &AccountRecord,
    requester: &SidecarId,
    requested: Amount,
    may_wait: bool,
    now: Timestamp,
) -> Result<Option<Amount>, StoreError> {
    let available = ledger::wallet_in_tx(tx, &account.customer_id)?.available;
    let grant = grants::current_in_tx(tx, &account.company_id, &account.customer_id)?;
    // A grant that allows neither holds nor charges lets nothing be spent through a lease; the
    // answer still reports `available`, which is what `check` at a sidecar asks a lease for.
    if !grant.as_ref().is_some_and(|g| g.scope.contains(Scope::Hold) || g.scope.contains(Scope::Charge)) {
        return Ok(Some(Amount::ZERO));
    }
    let room = match grant.and_then(|g| g.spending_cap) {
        Some(cap) => cap.saturating_sub(spending::used(tx, &account.id, now)?),
        None => requested,
    };
    let take = requested.min(available).min(room);
    if take < requested && recall_for_funds(tx, &account.id, Some(requester), now)? && may_wait {
        return Ok(None);
    }
    Ok(Some(take))
}

/// When a lease call happens, and how long the lease it opens or renews lives from then.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTime {
    pub now: Timestamp,
    pub ttl_s: u64,
}

impl LeaseTime {
    fn deadline(self) -> Timestamp {
        self.now.plus_s(i64::try_from(self.ttl_s).expect("--lease-ttl-s is bounded"))
    }
}

/// Opens a lease of up to `requested` for `sidecar` on the company's account.
pub fn open(
    tx: &mut Tx<'_>,
    sidecar: &SidecarId,
    company: &CompanyId,
    account_id: &AccountId,
    requested: Amount,
    may_wait: bool,
    at: LeaseTime,
) -> TxResult<Reserved, LeaseError> {
    let now = at.now;
    let Some(account) = accounts::get_in_tx(tx, account_id)?.filter(|a| &a.company_id == company) else {
        return Ok(Err(LeaseError::AccountNotFound));
    };
    if let Err(refused) = active_grant(tx, &account)? {
        return Ok(Err(refused));
    }
    let Some(take) = reservable(tx, &account, sidecar, requested, may_wait, now)? else {
        return Ok(Ok(Reserved::Wait));
    };
    if take.is_zero() {
        let available = ledger::wallet_in_tx(tx, &account.customer_id)?.available;
        return Ok(Ok(Reserved::Done { lease: None, available }));
    }
    let lease = LeaseRecord {
        id: LeaseId::generate_at(now),
        sidecar_id: sidecar.clone(),
        company_id: account.company_id.clone(),
        account_id: account.id.clone(),
        customer_id: account.customer_id.clone(),
        ceiling: take,
        charged: Amount::ZERO,
        reported: Amount::ZERO,
        status: LeaseStatus::Open,
        deadline: at.deadline(),
        through_seq: None,
        returned: None,
        recalled: false,
        account_seq: tx.next("seq")?,
        created_at: now,
        updated_at: now,
    };
    let plan = plan_lease(&ledger::wallet_in_tx(tx, &lease.customer_id)?, &lease.customer_id, take)
        .expect("reservable keeps a lease within available");
    ledger::post(tx, &plan, now, &format!("lease {}", lease.id))?;
    tx.leases_by_account_table()?.insert((lease.account_id.as_str(), lease.account_seq), lease.id.as_str())?;
    tx.lease_expiry_table()?.insert((expiry_key(&lease), lease.id.as_str()), ())?;
    save(tx, &lease)?;
    announce_available(tx, &lease, now)?;
    let available = ledger::wallet_in_tx(tx, &lease.customer_id)?.available;
    Ok(Ok(Reserved::Done { lease: Some(Box::new(lease)), available }))
}

/// Moves the deadline to `now + ttl` and, with `add`, reserves up to that much more.
pub fn renew(
    tx: &mut Tx<'_>,
    sidecar: &SidecarId,
    id: &LeaseId,
    add: Option<Amount>,
    may_wait: bool,
    at: LeaseTime,
) -> TxResult<Reserved, LeaseError> {
    let now = at.now;
    let Some(mut lease) = own_lease(tx, sidecar, id)? else { return Ok(Err(LeaseError::LeaseNotFound)) };
    if lease.status != LeaseStatus::Open {
        return Ok(Err(LeaseError::LeaseNotOpen(lease.status)));
    }
    let mut take = Amount::ZERO;
    if let Some(requested) = add {
        let Some(account) = accounts::get_in_tx(tx, &lease.account_id)? else {
            return Ok(Err(LeaseError::AccountNotFound));
        };
        if let Err(refused) = active_grant(tx, &account)? {
            return Ok(Err(refused));
        }
        match reservable(tx, &account, sidecar, requested, may_wait, now)? {
            Some(amount) => take = amount,
            None => return Ok(Ok(Reserved::Wait)),
        }
    }
    if !take.is_zero() {
        let plan = plan_lease(&ledger::wallet_in_tx(tx, &lease.customer_id)?, &lease.customer_id, take)
            .expect("reservable keeps a lease within available");
        ledger::post(tx, &plan, now, &format!("lease {}", lease.id))?;
        lease.ceiling = lease.ceiling.checked_add(take).expect("a ceiling stays within Decimal range");
    }
    tx.lease_expiry_table()?.remove((expiry_key(&lease), lease.id.as_str()))?;
    lease.deadline = at.deadline();
    lease.updated_at = now;
    tx.lease_expiry_table()?.insert((expiry_key(&lease), lease.id.as_str()), ())?;
    save(tx, &lease)?;
    if !take.is_zero() {
        announce_available(tx, &lease, now)?;
    }
    let available = ledger::wallet_in_tx(tx, &lease.customer_id)?.available;
    Ok(Ok(Reserved::Done { lease: Some(Box::new(lease)), available }))
}

/// Closes a lease: the remainder goes back at once when this sidecar's usage is applied through
/// `through_seq`, else the lease waits in `closing`. A returned lease is answered as it is.
pub fn close(
    tx: &mut Tx<'_>,
    sidecar: &SidecarId,
    id: &LeaseId,
    through_seq: u64,
    now: Timestamp,
) -> TxResult<LeaseRecord, LeaseError> {
    let Some(mut lease) = own_lease(tx, sidecar, id)? else { return Ok(Err(LeaseError::LeaseNotFound)) };
    if !lease.status.is_unreturned() {
        return Ok(Ok(lease));
    }
    let through = through_seq.max(lease.through_seq.unwrap_or(0));
    if usage::applied_through(tx, sidecar)? >= through {
        return_remainder(tx, &mut lease, LeaseStatus::Closed, now)?;
        return Ok(Ok(lease));
    }
    if let Some(old) = lease.through_seq {
        tx.txn().open_table(CLOSING_LEASES)?.remove((sidecar.as_str(), old, lease.id.as_str()))?;
    }
    lease.status = LeaseStatus::Closing;
    lease.through_seq = Some(through);
    lease.updated_at = now;
    tx.txn().open_table(CLOSING_LEASES)?.insert((sidecar.as_str(), through, lease.id.as_str()), ())?;
    save(tx, &lease)?;
    Ok(Ok(lease))
}

/// Returns an unreturned lease's remainder to `available` and takes it out of every index.
fn return_remainder(
    tx: &mut Tx<'_>,
    lease: &mut LeaseRecord,
    status: LeaseStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    assert!(lease.status.is_unreturned(), "a lease's remainder is returned once");
    let rest = lease.remainder();
    if !rest.is_zero() {
        ledger::post(tx, &plan_lease_return(&lease.customer_id, rest), now, &format!("return {}", lease.id))?;
    }
    tx.leases_by_account_table()?.remove((lease.account_id.as_str(), lease.account_seq))?;
    tx.lease_expiry_table()?.remove((expiry_key(lease), lease.id.as_str()))?;
    if let Some(through) = lease.through_seq {
        tx.txn().open_table(CLOSING_LEASES)?.remove((lease.sidecar_id.as_str(), through, lease.id.as_str()))?;
    }
    lease.status = status;
    lease.returned = Some(rest);
    lease.updated_at = now;
    save(tx, lease)?;
    announce_available(tx, lease, now)
}

/// Books a usage record of `amount` against the lease, `from_lease` of it paid by the lease; the
/// caller stores the lease (`save_booked`).
pub(crate) fn book_usage(lease: &mut LeaseRecord, amount: Amount, from_lease: Amount) {
    assert!(from_lease <= lease.remainder(), "a lease pays at most its remainder");
    lease.charged = lease.charged.checked_add(from_lease).expect("a lease's charges stay within its ceiling");
    lease.reported = lease.reported.checked_add(amount).expect("checked against the ceiling before booking");
}

/// Stores a lease the caller changed (usage ingestion saves each lease once per batch).
pub(crate) fn save_booked(tx: &mut Tx<'_>, lease: &LeaseRecord) -> Result<(), StoreError> {
    save(tx, lease)
}

/// Returns the remainder of this sidecar's closing leases whose usage is now applied.
pub fn return_closing(
    tx: &mut Tx<'_>,
    sidecar: &SidecarId,
    applied: u64,
    now: Timestamp,
) -> Result<Vec<LeaseRecord>, StoreError> {
    let mut ids = Vec::new();
    let upper = (sidecar.as_str(), applied, "\u{10ffff}");
    for entry in tx.txn().open_table(CLOSING_LEASES)?.range((sidecar.as_str(), 0, "")..=upper)? {
        ids.push(entry?.0.value().2.to_owned());
    }
    let mut returned = Vec::with_capacity(ids.len());
    for id in ids {
        let lease: Option<LeaseRecord> = get_record(&*tx.leases_table()?, "leases", &id)?;
        let Some(mut lease) = lease.filter(|l| l.status == LeaseStatus::Closing) else { continue };
        return_remainder(tx, &mut lease, LeaseStatus::Closed, now)?;
        returned.push(lease);
    }
    Ok(returned)
}

fn recall(tx: &mut Tx<'_>, lease: &mut LeaseRecord, now: Timestamp) -> Result<(), StoreError> {
    lease.recalled = true;
    lease.updated_at = now;
    save(tx, lease)?;
    let change = Change::LeaseRecalled { lease_id: lease.id.clone(), account_id: lease.account_id.clone() };
    record_change(tx, Some(&lease.company_id), change, now).map(drop)
}

/// Central (or another sidecar) cannot be served from `available`: recalls, once each, the
/// account's open leases with unused funds (except `except`'s own). Returns whether any
/// unreturned lease still holds unused funds — whether waiting can help.
pub fn recall_for_funds(
    tx: &mut Tx<'_>,
    account: &AccountId,
    except: Option<&SidecarId>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let mut holding = false;
    for mut lease in unreturned(tx, account)? {
        if except == Some(&lease.sidecar_id) || lease.remainder().is_zero() {
            continue;
        }
        holding = true;
        if lease.status == LeaseStatus::Open && !lease.recalled {
            recall(tx, &mut lease, now)?;
        }
    }
    Ok(holding)
}

/// The account's grant was revoked or suspended: recalls every open lease of it not recalled yet.
pub fn recall_account(tx: &mut Tx<'_>, account: &AccountId, now: Timestamp) -> Result<usize, StoreError> {
    let mut recalled = 0;
    for mut lease in unreturned(tx, account)? {
        if lease.status == LeaseStatus::Open && !lease.recalled {
            recall(tx, &mut lease, now)?;
            recalled += 1;
        }
    }
    Ok(recalled)
}

/// Returns at most `limit` leases whose deadline and grace have passed at `now` (status
/// `expired`), oldest first.
pub fn expire_due(tx: &mut Tx<'_>, now: Timestamp, limit: usize) -> Result<Vec<LeaseRecord>, StoreError> {
    let mut due = Vec::new();
    for entry in tx.lease_expiry_table()?.range((0, "")..=(ms(now), "\u{10ffff}"))?.take(limit) {
        let key = entry?.0;
        due.push((key.value().0, key.value().1.to_owned()));
    }
    let mut expired = Vec::with_capacity(due.len());
    for (at, id) in due {
        let lease: Option<LeaseRecord> = get_record(&*tx.leases_table()?, "leases", &id)?;
        let Some(mut lease) = lease.filter(|l| l.status.is_unreturned()) else {
            // A stale entry (verify reports it); dropping it keeps the sweeper from spinning.
            tx.lease_expiry_table()?.remove((at, id.as_str()))?;
            continue;
        };
        return_remainder(tx, &mut lease, LeaseStatus::Expired, now)?;
        expired.push(lease);
    }
    Ok(expired)
}

/// Whether any lease is due for return at `now` (a read, so an idle node does not commit).
pub fn any_due(reader: &Reader, now: Timestamp) -> Result<bool, StoreError> {
    let table = reader.txn.open_table(LEASE_EXPIRY)?;
    let mut due = table.range((0, "")..=(ms(now), "\u{10ffff}"))?;
    Ok(due.next().is_some())
}
