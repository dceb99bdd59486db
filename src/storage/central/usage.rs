//! Usage ingestion (DESIGN §7): a sidecar's charges applied strictly in `seq` order, exactly
//! once per (sidecar, seq) — paid from the lease, late parts from `available` and then `debt`,
//! duplicates of a settled idempotency key reversed — and what cannot be applied quarantined.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use redb::ReadableTable;

use crate::domain::ledger::{LedgerAccount, plan_late_charge, plan_lease_charge};
use crate::storage::central::billing::{Booking, ChargeInput, book_charge};
use crate::storage::central::records::{AccountRecord, ChargeRecord, ChargeStatus, LeaseRecord, QuarantineRecord};
use crate::storage::central::{accounts, companies, leases, ledger, settled_keys};
use crate::storage::codec::{decode, encode};
use crate::storage::pages::{Page, page_desc};
use crate::storage::schema::{USAGE_APPLIED, USAGE_QUARANTINE, USAGE_QUARANTINE_BY_COMPANY};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{AccountId, ChargeId, CompanyId, HoldId, LeaseId, ServiceId, SidecarId};
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

/// One record of a batch, as the route parsed it.
#[derive(Debug, Clone)]
pub struct UsageInput {
    pub seq: u64,
    /// The `charge_id` text as sent, compared with what this seq was before to find a clone
    /// even when the record is otherwise malformed.
    pub charge_id_text: String,
    /// The record as the sidecar sent it, kept if it is quarantined.
    pub raw: Box<serde_json::value::RawValue>,
    /// The record's values, or what is wrong with them.
    pub parsed: Result<UsageCharge, String>,
}

/// A well-formed usage record.
#[derive(Debug, Clone)]
pub struct UsageCharge {
    pub lease_id: LeaseId,
    pub account_id: AccountId,
    pub charge_id: ChargeId,
    pub hold_id: Option<HoldId>,
    pub amount: Amount,
    pub invoice_number: String,
    pub service_id: Option<ServiceId>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub idempotency_key: String,
}

/// What one batch did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Every seq up to here is applied or quarantined.
    pub applied_through: u64,
    /// (seq, reason) of the records quarantined by this batch, clones included, and of records
    /// sent again that an earlier batch quarantined.
    pub rejected: Vec<(u64, String)>,
    /// Seqs booked `reversed` (their key was already settled), by this batch or an earlier one.
    pub reversed: Vec<u64>,
    /// Charges booked, `settled` or `reversed`, in seq order.
    pub charges: Vec<ChargeRecord>,
    /// Charges that booked debt, with the wallet's debt after them.
    pub overdrawn: Vec<(ChargeRecord, Amount)>,
}

/// What one batch reads once for all its records: the accounts it checked, the leases it
/// books (each stored once, at the batch's end) and the company's name. A batch's records are
/// nearly all on one lease of one account, and reading, decoding and storing those for each
/// record was about an eighth of central's writer time (BENCHMARKS.md, runs 16). An account's running totals are
/// not used from here: booking a charge reads them from the wallet.
#[derive(Default)]
struct BatchReads {
    accounts: HashMap<AccountId, Option<AccountRecord>>,
    leases: HashMap<LeaseId, LeaseRecord>,
    booked: BTreeSet<LeaseId>,
    company_name: Option<Option<String>>,
}

impl BatchReads {
    fn account(&mut self, tx: &mut Tx<'_>, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        Ok(match self.accounts.entry(id.clone()) {
            Entry::Occupied(known) => known.get().clone(),
            Entry::Vacant(slot) => slot.insert(accounts::get_in_tx(tx, id)?).clone(),
        })
    }

    fn lease(&mut self, tx: &Tx<'_>, id: &LeaseId) -> Result<Option<&LeaseRecord>, StoreError> {
        if !self.leases.contains_key(id)
            && let Some(lease) = leases::get_in_tx(tx, id)?
        {
            self.leases.insert(id.clone(), lease);
        }
        Ok(self.leases.get(id))
    }

    fn company_name(&mut self, tx: &Tx<'_>, company: &CompanyId) -> Result<Option<String>, StoreError> {
        if self.company_name.is_none() {
            self.company_name = Some(companies::name_in_tx(tx, company)?);
        }
        Ok(self.company_name.clone().flatten())
    }

    /// Stores every lease the batch booked.
    fn save(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        for id in &self.booked {
            leases::save_booked(tx, &self.leases[id])?;
        }
        Ok(())
    }
}

/// The highest seq of this sidecar applied or quarantined (0 before any).
pub fn applied_through(tx: &Tx<'_>, sidecar: &SidecarId) -> Result<u64, StoreError> {
    Ok(tx.txn().open_table(USAGE_APPLIED)?.get(sidecar.as_str())?.map_or(0, |v| v.value()))
}

/// Applies `inputs` (ascending seq) for `sidecar` of `company`, stopping at the first gap, then
/// returns the remainders of this sidecar's closing leases that the usage now covers.
pub fn apply(
    tx: &mut Tx<'_>,
    sidecar: &SidecarId,
    company: &CompanyId,
    inputs: Vec<UsageInput>,
    now: Timestamp,
) -> Result<Applied, StoreError> {
    let before = applied_through(tx, sidecar)?;
    let mut out = Applied { applied_through: before, ..Applied::default() };
    let mut reads = BatchReads::default();
    for input in inputs {
        let applied = out.applied_through;
        if input.seq <= applied {
            let seen = tx.usage_seen_table()?.get((sidecar.as_str(), input.seq))?.map(|v| v.value().to_owned());
            if seen.as_deref() != Some(input.charge_id_text.as_str()) {
                quarantine_clone(tx, sidecar, company, &input, seen.as_deref(), now)?;
                out.rejected.push((input.seq, "clone".to_owned()));
            } else {
                // Sent again (the ack was lost): tell its outcome again.
                report_again(tx, sidecar, company, &input, &mut out)?;
            }
            continue;
        }
        if input.seq > applied + 1 {
            break;
        }
        tx.usage_seen_table()?.insert((sidecar.as_str(), input.seq), input.charge_id_text.as_str())?;
        out.applied_through = input.seq;
        match checked(tx, &mut reads, sidecar, company, &input)? {
            Ok((charge, account)) => settle(tx, &mut reads, input.seq, charge, account, &mut out, now)?,
            Err((reason, detail)) => {
                let record = quarantine_record(sidecar, company, &input, reason, detail, now);
                quarantine(tx, sidecar.as_str(), &record)?;
                out.rejected.push((input.seq, reason.to_owned()));
            }
        }
    }
    reads.save(tx)?;
    if out.applied_through > before {
        tx.txn().open_table(USAGE_APPLIED)?.insert(sidecar.as_str(), out.applied_through)?;
    }
    leases::return_closing(tx, sidecar, out.applied_through, now)?;
    Ok(out)
}

/// The outcome of a record an earlier batch applied: quarantined if the quarantine holds it
/// under this sidecar and seq, else reversed if its charge (this company's) was booked so.
fn report_again(
    tx: &Tx<'_>,
    sidecar: &SidecarId,
    company: &CompanyId,
    input: &UsageInput,
    out: &mut Applied,
) -> Result<(), StoreError> {
    if tx.txn().open_table(USAGE_QUARANTINE)?.get((sidecar.as_str(), input.seq))?.is_some() {
        out.rejected.push((input.seq, "quarantined".to_owned()));
        return Ok(());
    }
    let charges = tx.charges_table()?;
    let charge = match charges.get(input.charge_id_text.as_str())? {
        Some(value) => Some(decode::<ChargeRecord>("charges", value.value())?),
        None => None,
    };
    if charge.is_some_and(|c| &c.company_id == company && c.status == ChargeStatus::Reversed) {
        out.reversed.push(input.seq);
    }
    Ok(())
}

type Checked = (UsageCharge, AccountRecord);

/// What the stored state says about a record: its account (its lease is in `reads`), or why it
/// is refused.
fn checked(
    tx: &mut Tx<'_>,
    reads: &mut BatchReads,
    sidecar: &SidecarId,
    company: &CompanyId,
    input: &UsageInput,
) -> Result<Result<Checked, (&'static str, String)>, StoreError> {
    let charge = match &input.parsed {
        Ok(charge) => charge,
        Err(detail) => return Ok(Err(("invalid_record", detail.clone()))),
    };
    let Some(account) = reads.account(tx, &charge.account_id)?.filter(|a| &a.company_id == company) else {
        return Ok(Err(("unknown_account", format!("no account {} of this company", charge.account_id))));
    };
    let Some(lease) = reads.lease(tx, &charge.lease_id)?.filter(|l| &l.sidecar_id == sidecar) else {
        return Ok(Err(("unknown_lease", format!("no lease {} of this sidecar", charge.lease_id))));
    };
    if lease.account_id != account.id {
        return Ok(Err((
            "lease_account_mismatch",
            format!("lease {} is for account {}, not {}", lease.id, lease.account_id, account.id),
        )));
    }
    if tx.charges_table()?.get(charge.charge_id.as_str())?.is_some() {
        return Ok(Err(("duplicate_charge_id", format!("charge {} already exists", charge.charge_id))));
    }
    // A sidecar accepts charges only inside a lease: more than its ceiling is not a late
    // charge but a broken or dishonest sidecar, and must not reach the wallet.
    if lease.reported.checked_add(charge.amount).is_none_or(|total| total > lease.ceiling) {
        return Ok(Err((
            "exceeds_lease",
            format!(
                "lease {} has {} booked of its {} ceiling; {} more would exceed it",
                lease.id, lease.reported, lease.ceiling, charge.amount
            ),
        )));
    }
    Ok(Ok((charge.clone(), account)))
}

/// Books one applied record: reversed for a key already settled, else paid from the lease as
/// far as its remainder goes and the rest as a late charge.
fn settle(
    tx: &mut Tx<'_>,
    reads: &mut BatchReads,
    seq: u64,
    charge: UsageCharge,
    account: AccountRecord,
    out: &mut Applied,
    now: Timestamp,
) -> Result<(), StoreError> {
    let UsageCharge {
        lease_id,
        charge_id,
        hold_id,
        amount,
        invoice_number,
        idempotency_key,
        service_id,
        service_name,
        description,
        payload,
        ..
    } = charge;
    let input = ChargeInput {
        company_id: account.company_id.clone(),
        account_id: account.id.clone(),
        amount,
        service_id,
        service_name,
        description,
        payload,
        idempotency_key: Some(idempotency_key.clone()),
    };
    let company_name = reads.company_name(tx, &account.company_id)?;
    reads.booked.insert(lease_id.clone());
    let lease = reads.leases.get_mut(&lease_id).expect("`checked` read the lease");
    let mut booking = Booking {
        invoice_number: Some(invoice_number),
        lease_id: Some(lease_id),
        company_name,
        ..Booking::settled(hold_id)
    };
    if settled_keys::settled_under(tx, &account.company_id, &idempotency_key)?.is_some() {
        // The lease keeps the funds; they go back with its remainder.
        booking.status = ChargeStatus::Reversed;
        leases::book_usage(lease, amount, Amount::ZERO);
        let booked = book_charge(tx, account, charge_id, input, booking, now)?;
        out.reversed.push(seq);
        out.charges.push(booked);
        return Ok(());
    }
    let reason = format!("usage {charge_id}");
    let from_lease = if lease.status.is_unreturned() { amount.min(lease.remainder()) } else { Amount::ZERO };
    if !from_lease.is_zero() {
        ledger::post(tx, &plan_lease_charge(&lease.customer_id, &lease.company_id, from_lease), now, &reason)?;
    }
    leases::book_usage(lease, amount, from_lease);
    let rest = amount.saturating_sub(from_lease);
    let mut booked_debt = false;
    if !rest.is_zero() {
        let wallet = ledger::wallet_in_tx(tx, &lease.customer_id)?;
        let plan = plan_late_charge(&wallet, &lease.customer_id, &lease.company_id, rest);
        booked_debt = plan.iter().any(|t| matches!(t.from, LedgerAccount::Debt(_)));
        ledger::post(tx, &plan, now, &reason)?;
        booking.late = true;
    }
    let booked = book_charge(tx, account, charge_id, input, booking, now)?;
    if booked_debt {
        let debt = ledger::wallet_in_tx(tx, &booked.customer_id)?.debt;
        tracing::warn!(account_id = %booked.account_id, charge_id = %booked.id, debt = %debt, "late usage booked debt");
        out.overdrawn.push((booked.clone(), debt));
    }
    out.charges.push(booked);
    Ok(())
}

fn quarantine_record(
    sidecar: &SidecarId,
    company: &CompanyId,
    input: &UsageInput,
    reason: &str,
    detail: String,
    now: Timestamp,
) -> QuarantineRecord {
    QuarantineRecord {
        sidecar_id: sidecar.clone(),
        company_id: company.clone(),
        seq: input.seq,
        reason: reason.to_owned(),
        detail,
        // Sent as JSON inside the batch's JSON, so it parses; kept as the value it was.
        record: serde_json::from_str(input.raw.get()).unwrap_or_default(),
        at: now,
    }
}

/// Keeps a record under (`owner`, seq) and in the company's list.
fn quarantine(tx: &mut Tx<'_>, owner: &str, record: &QuarantineRecord) -> Result<(), StoreError> {
    tracing::warn!(sidecar_id = %record.sidecar_id, seq = record.seq, reason = %record.reason, "usage record quarantined");
    let bytes = encode(record);
    tx.txn().open_table(USAGE_QUARANTINE)?.insert((owner, record.seq), bytes.as_slice())?;
    let seq = tx.next("seq")?;
    tx.txn().open_table(USAGE_QUARANTINE_BY_COMPANY)?.insert((record.company_id.as_str(), seq), bytes.as_slice())?;
    Ok(())
}

/// A seq already applied came back with another charge: the data dir was copied to a second
/// machine (DESIGN §7). Kept under a key of its own, alerted and counted; never deduplicated.
fn quarantine_clone(
    tx: &mut Tx<'_>,
    sidecar: &SidecarId,
    company: &CompanyId,
    input: &UsageInput,
    seen: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    // `/` is not in any sidecar id, so this key cannot meet an ordinary (sidecar, seq) key.
    let owner = format!("{sidecar}/clone/{}", input.charge_id_text);
    if tx.txn().open_table(USAGE_QUARANTINE)?.get((owner.as_str(), input.seq))?.is_some() {
        return Ok(()); // this clone's record again: kept once
    }
    let clones = tx.next("usage_clones")?;
    tracing::error!(
        sidecar_id = %sidecar,
        seq = input.seq,
        charge_id = %input.charge_id_text,
        applied_charge_id = seen.unwrap_or_default(),
        clones,
        "usage seq reused with another charge: a copied sidecar data dir; record quarantined"
    );
    let detail = format!(
        "seq {} was already applied with charge {}; this record has charge {}",
        input.seq,
        seen.unwrap_or("(none)"),
        input.charge_id_text
    );
    let record = quarantine_record(sidecar, company, input, "clone", detail, now);
    quarantine(tx, &owner, &record)
}

/// The company's quarantined usage records, newest first.
pub fn quarantine_for_company(
    reader: &Reader,
    company: &CompanyId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<QuarantineRecord>, StoreError> {
    page_desc(&reader.txn.open_table(USAGE_QUARANTINE_BY_COMPANY)?, company.as_str(), cursor, limit, |bytes| {
        decode("usage_quarantine_by_company", bytes)
    })
}
