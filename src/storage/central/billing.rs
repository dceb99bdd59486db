//! Central's money movements for companies: holds, releases, captures and direct charges, and
//! the booking of every charge (sidecars' ones included).

use redb::ReadableTable;

use crate::domain::ledger::{LedgerError, plan_capture, plan_charge, plan_hold, plan_release};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{
    AccountRecord, ChargeRecord, ChargeStatus, HoldRecord, HoldStatus, OperationKind, OperationRecord,
};
use crate::storage::central::{TxResult, accounts, companies, customers, ledger, settled_keys};
use crate::storage::pages::{Page, page_desc};
use crate::storage::schema::{ACCOUNT_CHARGES, CHARGES, CHARGES_BY_COMPANY, HOLDS};
use crate::storage::threads;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{AccountId, ChargeId, CompanyId, HoldId, LeaseId, ServiceId};
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    #[error("account not found")]
    AccountNotFound,
    #[error("hold not found")]
    HoldNotFound,
    #[error(transparent)]
    Funds(#[from] LedgerError),
    #[error("the hold is already {}", hold_status_word(*.0))]
    HoldNotOpen(HoldStatus),
    #[error("the hold has expired")]
    HoldExpired,
    #[error("the hold was created without the charge scope and cannot be captured")]
    NotCapturable,
    #[error("the capture amount exceeds the held amount")]
    CaptureExceedsHold,
    #[error("the spending cap of {cap} over 30 days would be exceeded: {used} already used, {needed} needed")]
    SpendingCapExceeded { cap: Amount, used: Amount, needed: Amount },
    #[error("service not found")]
    ServiceNotFound,
    #[error("the service is inactive")]
    ServiceInactive,
}

fn hold_status_word(status: HoldStatus) -> &'static str {
    match status {
        HoldStatus::Held => "held",
        HoldStatus::Captured => "captured",
        HoldStatus::Released => "released",
        HoldStatus::Expired => "expired",
    }
}

/// What a charge books, apart from where its money comes from.
#[derive(Debug, Clone)]
pub struct ChargeInput {
    pub company_id: CompanyId,
    pub account_id: AccountId,
    pub amount: Amount,
    pub service_id: Option<ServiceId>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
}

fn company_account(tx: &mut Tx<'_>, company: &CompanyId, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
    Ok(accounts::get_in_tx(tx, id)?.filter(|a| &a.company_id == company))
}

/// A direct charge from `available`, settled at once. A key that a sidecar's charge already
/// settled books this one `reversed`, moving no money (DESIGN §5).
pub fn charge(tx: &mut Tx<'_>, input: ChargeInput, now: Timestamp) -> TxResult<ChargeRecord, BillingError> {
    let Some(account) = company_account(tx, &input.company_id, &input.account_id)? else {
        return Ok(Err(BillingError::AccountNotFound));
    };
    let charge_id = ChargeId::generate_at(now);
    if is_settled_key(tx, &input)? {
        return book_charge(tx, account, charge_id, input, Booking::reversed(None), now).map(Ok);
    }
    let wallet = ledger::wallet_in_tx(tx, &account.customer_id)?;
    let plan = match plan_charge(&wallet, &account.customer_id, &account.company_id, input.amount) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Err(refusal.into())),
    };
    ledger::post(tx, &plan, now, &format!("charge {charge_id}"))?;
    book_charge(tx, account, charge_id, input, Booking::settled(None), now).map(Ok)
}

fn is_settled_key(tx: &Tx<'_>, input: &ChargeInput) -> Result<bool, StoreError> {
    match &input.idempotency_key {
        Some(key) => Ok(settled_keys::settled_under(tx, &input.company_id, key)?.is_some()),
        None => Ok(false),
    }
}

/// How a charge is booked, beyond what it charges.
#[derive(Debug, Clone)]
pub struct Booking {
    /// The sidecar's invoice number; `None` takes central's next one.
    pub invoice_number: Option<String>,
    pub hold_id: Option<HoldId>,
    /// `Settled`, or `Reversed` for a duplicate of a key already settled (no money moved).
    pub status: ChargeStatus,
    pub lease_id: Option<LeaseId>,
    pub late: bool,
    /// The company's name for the statement line, when the caller has it; `None` reads it.
    pub company_name: Option<String>,
}

impl Booking {
    pub fn settled(hold_id: Option<HoldId>) -> Self {
        Booking {
            invoice_number: None,
            hold_id,
            status: ChargeStatus::Settled,
            lease_id: None,
            late: false,
            company_name: None,
        }
    }

    pub fn reversed(hold_id: Option<HoldId>) -> Self {
        Booking { status: ChargeStatus::Reversed, ..Booking::settled(hold_id) }
    }
}

/// Records the charge and its indexes; a settled one also raises the account's paid total,
/// writes the statement line and marks its idempotency key settled (`settled_keys::settle`).
/// The money movement, if any, is the caller's.
pub(crate) fn book_charge(
    tx: &mut Tx<'_>,
    mut account: AccountRecord,
    id: ChargeId,
    input: ChargeInput,
    booking: Booking,
    now: Timestamp,
) -> Result<ChargeRecord, StoreError> {
    let invoice_number = match booking.invoice_number {
        Some(number) => number,
        None => format!("INV-{:08}", tx.next("invoice")?),
    };
    let charge = ChargeRecord {
        id,
        invoice_number,
        account_id: account.id.clone(),
        company_id: account.company_id.clone(),
        customer_id: account.customer_id.clone(),
        amount: input.amount,
        service_id: input.service_id,
        service_name: input.service_name,
        description: input.description,
        payload: input.payload,
        hold_id: booking.hold_id,
        idempotency_key: input.idempotency_key,
        status: booking.status,
        created_at: now,
        lease_id: booking.lease_id,
        late: booking.late,
    };
    put_record(&mut *tx.charges_table()?, charge.id.as_str(), &charge)?;
    let seq = tx.next("seq")?;
    tx.charges_by_company_table()?.insert((charge.company_id.as_str(), seq), charge.id.as_str())?;
    let moved_money = charge.status != ChargeStatus::Reversed;
    accounts::add_charge(tx, &mut account, seq, &charge.id, moved_money.then_some(charge.amount))?;
    if !moved_money {
        // A duplicate moved no money: no paid total, no statement line.
        return Ok(charge);
    }
    if let Some(key) = &charge.idempotency_key {
        settled_keys::settle(tx, &charge.company_id, key, &charge.id)?;
    }
    let company_name = match booking.company_name {
        Some(name) => Some(name),
        None => companies::name_in_tx(tx, &charge.company_id)?,
    };
    let line = OperationRecord {
        at: now,
        kind: OperationKind::Charge,
        company_name,
        service_name: charge.service_name.clone(),
        invoice_number: Some(charge.invoice_number.clone()),
        charge_id: Some(charge.id.clone()),
        top_up_id: None,
        amount: charge.amount,
        balance_after: ledger::wallet_in_tx(tx, &charge.customer_id)?.available,
    };
    customers::append_operation(tx, &charge.customer_id, &line)?;
    Ok(charge)
}

/// What a hold blocks, for whom and until when.
#[derive(Debug, Clone)]
pub struct HoldInput {
    pub company_id: CompanyId,
    pub account_id: AccountId,
    pub amount: Amount,
    /// Whether the token that asked also carried `charge`.
    pub capturable: bool,
    pub description: Option<String>,
    pub expires_at: Timestamp,
}

/// Blocks `amount` of the account's wallet until `expires_at`.
pub fn hold(tx: &mut Tx<'_>, input: HoldInput, now: Timestamp) -> TxResult<HoldRecord, BillingError> {
    let HoldInput { company_id, account_id, amount, capturable, description, expires_at } = input;
    if expires_at <= now {
        return Ok(Err(BillingError::HoldExpired));
    }
    let Some(account) = company_account(tx, &company_id, &account_id)? else {
        return Ok(Err(BillingError::AccountNotFound));
    };
    let wallet = ledger::wallet_in_tx(tx, &account.customer_id)?;
    let plan = match plan_hold(&wallet, &account.customer_id, amount) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Err(refusal.into())),
    };
    let hold = HoldRecord {
        id: HoldId::generate_at(now),
        account_id: account.id,
        company_id: account.company_id,
        customer_id: account.customer_id,
        amount,
        captured: Amount::ZERO,
        capturable,
        status: HoldStatus::Held,
        description,
        created_at: now,
        expires_at,
    };
    ledger::post(tx, &plan, now, &format!("hold {}", hold.id))?;
    put_record(&mut *tx.holds_table()?, hold.id.as_str(), &hold)?;
    let seq = tx.next("seq")?;
    tx.holds_by_account_table()?.insert((hold.account_id.as_str(), seq), hold.id.as_str())?;
    tx.hold_expiry_table()?.insert((expiry_key(&hold), hold.id.as_str()), ())?;
    Ok(Ok(hold))
}

/// The key of a hold in the expiry index.
pub(crate) fn expiry_key(hold: &HoldRecord) -> u64 {
    u64::try_from(hold.expires_at.unix_ms()).unwrap_or(0)
}

fn open_hold(tx: &Tx<'_>, company: &CompanyId, id: &HoldId, now: Timestamp) -> TxResult<HoldRecord, BillingError> {
    let hold: Option<HoldRecord> = get_record(&*tx.holds_table()?, "holds", id.as_str())?;
    let Some(hold) = hold.filter(|h| &h.company_id == company) else { return Ok(Err(BillingError::HoldNotFound)) };
    if hold.status != HoldStatus::Held {
        return Ok(Err(BillingError::HoldNotOpen(hold.status)));
    }
    if hold.expires_at <= now {
        return Ok(Err(BillingError::HoldExpired));
    }
    Ok(Ok(hold))
}

/// Returns the whole hold to `available`.
pub fn release(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    id: &HoldId,
    now: Timestamp,
) -> TxResult<HoldRecord, BillingError> {
    let mut hold = match open_hold(tx, company, id, now)? {
        Ok(hold) => hold,
        Err(refusal) => return Ok(Err(refusal)),
    };
    ledger::post(tx, &plan_release(&hold.customer_id, hold.amount), now, &format!("release {id}"))?;
    hold.status = HoldStatus::Released;
    put_record(&mut *tx.holds_table()?, id.as_str(), &hold)?;
    tx.hold_expiry_table()?.remove((expiry_key(&hold), hold.id.as_str()))?;
    Ok(Ok(hold))
}

/// Captures `input.amount` of the hold as a charge; the rest is released. The charge is booked
/// to the hold's own account whatever `input.account_id` says: the hold carries the consent.
pub fn capture(
    tx: &mut Tx<'_>,
    id: &HoldId,
    input: ChargeInput,
    now: Timestamp,
) -> TxResult<ChargeRecord, BillingError> {
    let mut hold = match open_hold(tx, &input.company_id, id, now)? {
        Ok(hold) => hold,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if !hold.capturable {
        return Ok(Err(BillingError::NotCapturable));
    }
    if input.amount > hold.amount {
        return Ok(Err(BillingError::CaptureExceedsHold));
    }
    let account = accounts::get_in_tx(tx, &hold.account_id)?
        .ok_or(StoreError::Corrupt { table: "holds", detail: format!("hold {id} names a missing account") })?;
    let charge_id = ChargeId::generate_at(now);
    // A key a sidecar already settled: the capture is a duplicate, so the hold is released
    // whole and the charge booked `reversed` (DESIGN §5).
    let duplicate = is_settled_key(tx, &input)?;
    let captured = if duplicate { Amount::ZERO } else { input.amount };
    ledger::post(
        tx,
        &plan_capture(&hold.customer_id, &hold.company_id, hold.amount, captured),
        now,
        &format!("capture {id} {charge_id}"),
    )?;
    hold.status = if duplicate { HoldStatus::Released } else { HoldStatus::Captured };
    hold.captured = captured;
    put_record(&mut *tx.holds_table()?, id.as_str(), &hold)?;
    tx.hold_expiry_table()?.remove((expiry_key(&hold), hold.id.as_str()))?;
    let booking = if duplicate { Booking::reversed(Some(id.clone())) } else { Booking::settled(Some(id.clone())) };
    book_charge(tx, account, charge_id, input, booking, now).map(Ok)
}

pub fn get_hold_in_tx(tx: &Tx<'_>, company: &CompanyId, id: &HoldId) -> Result<Option<HoldRecord>, StoreError> {
    let hold: Option<HoldRecord> = get_record(&*tx.holds_table()?, "holds", id.as_str())?;
    Ok(hold.filter(|h| &h.company_id == company))
}

pub fn get_hold(reader: &Reader, company: &CompanyId, id: &HoldId) -> Result<Option<HoldRecord>, StoreError> {
    let hold: Option<HoldRecord> = get_record(&reader.txn.open_table(HOLDS)?, "holds", id.as_str())?;
    Ok(hold.filter(|h| &h.company_id == company))
}

pub fn get_charge(reader: &Reader, company: &CompanyId, id: &ChargeId) -> Result<Option<ChargeRecord>, StoreError> {
    let charge: Option<ChargeRecord> = get_record(&reader.txn.open_table(CHARGES)?, "charges", id.as_str())?;
    Ok(charge.filter(|c| &c.company_id == company))
}

/// A company's charges (its invoices), newest first, optionally of one service.
pub fn charges_for_company(
    reader: &Reader,
    company: &CompanyId,
    service: Option<&ServiceId>,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<ChargeRecord>, StoreError> {
    let charges = reader.txn.open_table(CHARGES)?;
    let index = reader.txn.open_table(CHARGES_BY_COMPANY)?;
    let Some(service) = service else {
        return page_desc(&index, company.as_str(), cursor, limit, |id| load_charge(&charges, id));
    };
    // Filtering walks the index until the page is full.
    let mut items = Vec::with_capacity(limit.min(256));
    let mut next_cursor = None;
    for entry in index.range((company.as_str(), 0)..(company.as_str(), cursor.unwrap_or(u64::MAX)))?.rev() {
        let (key, id) = entry?;
        let charge = load_charge(&charges, id.value())?;
        if charge.service_id.as_ref() != Some(service) {
            continue;
        }
        if items.len() == limit {
            next_cursor = Some(key.value().1 + 1);
            break;
        }
        items.push(charge);
    }
    Ok(Page { items, next_cursor })
}

/// An account's charges, newest first (the details page of an account); `None` when `cursor`
/// is not one this list gave out.
pub fn charges_for_account(
    reader: &Reader,
    account: &AccountId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Option<Page<ChargeRecord>>, StoreError> {
    let head = accounts::get(reader, account)?.and_then(|a| a.charges_head);
    let charges = reader.txn.open_table(CHARGES)?;
    let thread = reader.txn.open_table(ACCOUNT_CHARGES)?;
    threads::page_desc(&thread, "account_charges", account.as_str(), head, cursor, limit, |id| {
        load_charge(&charges, id)
    })
}

/// Charges booked at or after `since`, newest first, at most `limit`: of one company
/// (`by_company`) or one account. The web interface's charts read these.
pub fn charges_since(
    reader: &Reader,
    owner: ChargeOwner<'_>,
    since: Timestamp,
    limit: usize,
) -> Result<Vec<ChargeRecord>, StoreError> {
    let charges = reader.txn.open_table(CHARGES)?;
    let mut items = Vec::new();
    let mut take = |id: &str| -> Result<bool, StoreError> {
        let charge = load_charge(&charges, id)?;
        if charge.created_at < since || items.len() == limit {
            return Ok(false);
        }
        items.push(charge);
        Ok(true)
    };
    match owner {
        ChargeOwner::Company(company) => {
            let index = reader.txn.open_table(CHARGES_BY_COMPANY)?;
            for entry in index.range((company.as_str(), 0)..(company.as_str(), u64::MAX))?.rev() {
                if !take(entry?.1.value())? {
                    break;
                }
            }
        }
        ChargeOwner::Account(account) => {
            let head = accounts::get(reader, account)?.and_then(|a| a.charges_head);
            let thread = reader.txn.open_table(ACCOUNT_CHARGES)?;
            accounts::visit_charges(&thread, account, head, |_, id| take(id))?;
        }
    }
    Ok(items)
}

/// Whose charges `charges_since` reads.
#[derive(Debug, Clone, Copy)]
pub enum ChargeOwner<'a> {
    Company(&'a CompanyId),
    Account(&'a AccountId),
}

fn load_charge(
    charges: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<ChargeRecord, StoreError> {
    get_record(charges, "charges", id)?
        .ok_or(StoreError::Corrupt { table: "charges index", detail: format!("dangling id {id}") })
}
