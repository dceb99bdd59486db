//! Accounts: the pair (company, customer), created once, with the total paid through it and
//! the thread of its charges. The record in `ACCOUNTS` never changes after creation; the total
//! and the thread's head live in the customer's wallet record (schema 3), which every charge
//! rewrites anyway, and are filled in here whenever an account is read.

use redb::ReadableTable;

use crate::storage::central::ledger;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{AccountRecord, WalletRecord};
use crate::storage::codec::decode;
use crate::storage::pages::{Page, page_desc};
use crate::storage::schema::{ACCOUNT_BY_PAIR, ACCOUNTS, ACCOUNTS_BY_COMPANY, ACCOUNTS_BY_CUSTOMER, WALLETS};
use crate::storage::threads;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{AccountId, ChargeId, CompanyId, CustomerId};
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

/// The account of (company, customer), created if absent; `true` when it was just created.
pub fn ensure(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    customer: &CustomerId,
    now: Timestamp,
) -> Result<(AccountRecord, bool), StoreError> {
    let existing =
        tx.txn().open_table(ACCOUNT_BY_PAIR)?.get((company.as_str(), customer.as_str()))?.map(|v| v.value().to_owned());
    if let Some(id) = existing {
        let account = get_in_tx(tx, &AccountId::parse(&id).map_err(|e| corrupt_id("account_by_pair", &id, e))?)?
            .ok_or(StoreError::Corrupt { table: "account_by_pair", detail: format!("dangling id {id}") })?;
        return Ok((account, false));
    }
    let account = AccountRecord {
        id: AccountId::generate(),
        company_id: company.clone(),
        customer_id: customer.clone(),
        created_at: now,
        paid_total: Amount::ZERO,
        charges_head: None,
    };
    let seq = tx.next("seq")?;
    tx.txn().open_table(ACCOUNT_BY_PAIR)?.insert((company.as_str(), customer.as_str()), account.id.as_str())?;
    tx.txn().open_table(ACCOUNTS_BY_CUSTOMER)?.insert((customer.as_str(), seq), account.id.as_str())?;
    tx.txn().open_table(ACCOUNTS_BY_COMPANY)?.insert((company.as_str(), seq), account.id.as_str())?;
    put_record(&mut *tx.accounts_table()?, account.id.as_str(), &account)?;
    Ok((account, true))
}

fn corrupt_id(table: &'static str, id: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { table, detail: format!("{id}: {error}") }
}

/// The account with its running state from the customer's wallet record.
pub(crate) fn with_running(mut account: AccountRecord, wallet: &WalletRecord) -> AccountRecord {
    let running = wallet.accounts.get(&account.id).cloned().unwrap_or_default();
    account.paid_total = running.paid_total;
    account.charges_head = running.charges_head;
    account
}

/// Every account, in id order, with its running state: for `verify`.
pub(crate) fn visit_all(reader: &Reader, mut visit: impl FnMut(AccountRecord)) -> Result<(), StoreError> {
    let wallets = reader.txn.open_table(WALLETS)?;
    for entry in reader.txn.open_table(ACCOUNTS)?.iter()? {
        let (_, bytes) = entry?;
        let account: AccountRecord = decode("accounts", bytes.value())?;
        let wallet = ledger::wallet_record_of(&wallets, &account.customer_id)?;
        visit(with_running(account, &wallet));
    }
    Ok(())
}

pub fn get(reader: &Reader, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
    let Some(account) = get_record::<AccountRecord>(&reader.txn.open_table(ACCOUNTS)?, "accounts", id.as_str())? else {
        return Ok(None);
    };
    let wallet = ledger::wallet_record(reader, &account.customer_id)?;
    Ok(Some(with_running(account, &wallet)))
}

pub fn get_in_tx(tx: &mut Tx<'_>, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
    let Some(account) = get_record::<AccountRecord>(&*tx.accounts_table()?, "accounts", id.as_str())? else {
        return Ok(None);
    };
    let customer = account.customer_id.clone();
    ledger::read_wallet_record_in_tx(tx, &customer, |wallet| Some(with_running(account, wallet)))
}

/// Threads the charge booked under `seq` onto the account's charges, with `paid` added to its
/// `paid_total` when the charge moved money (a reversed duplicate did not). The running state
/// goes into the customer's wallet record in the batch; `account` is updated to match.
pub fn add_charge(
    tx: &mut Tx<'_>,
    account: &mut AccountRecord,
    seq: u64,
    charge: &ChargeId,
    paid: Option<Amount>,
) -> Result<(), StoreError> {
    let mut running = ledger::read_wallet_record_in_tx(tx, &account.customer_id, |wallet| {
        wallet.accounts.get(&account.id).cloned().unwrap_or_default()
    })?;
    let mut thread = tx.account_charges_table()?;
    threads::append(&mut thread, "account_charges", seq, account.id.as_str(), running.charges_head, charge.as_str())?;
    drop(thread);
    running.charges_head = Some(seq);
    if let Some(amount) = paid {
        running.paid_total = running.paid_total.checked_add(amount).expect("paid totals stay within Decimal range");
    }
    (account.paid_total, account.charges_head) = (running.paid_total, running.charges_head);
    let id = account.id.clone();
    ledger::update_wallet_record(tx, &account.customer_id, move |wallet| {
        wallet.accounts.insert(id, running);
    })
}

/// Visits the ids of an account's charges newest first, from `head` (the account's
/// `charges_head`), until `visit` returns false.
pub fn visit_charges(
    thread: &impl ReadableTable<u64, (&'static str, u64, &'static str)>,
    account: &AccountId,
    head: Option<u64>,
    visit: impl FnMut(u64, &str) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    threads::visit(thread, "account_charges", account.as_str(), head, visit)
}

fn list(
    reader: &Reader,
    index: redb::TableDefinition<(&'static str, u64), &'static str>,
    owner: &str,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<AccountRecord>, StoreError> {
    let accounts = reader.txn.open_table(ACCOUNTS)?;
    let wallets = reader.txn.open_table(WALLETS)?;
    page_desc(&reader.txn.open_table(index)?, owner, cursor, limit, |id| {
        let account: AccountRecord = get_record(&accounts, "accounts", id)?
            .ok_or(StoreError::Corrupt { table: "accounts index", detail: format!("dangling id {id}") })?;
        let wallet = ledger::wallet_record_of(&wallets, &account.customer_id)?;
        Ok(with_running(account, &wallet))
    })
}

pub fn list_for_customer(
    reader: &Reader,
    customer: &CustomerId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<AccountRecord>, StoreError> {
    list(reader, ACCOUNTS_BY_CUSTOMER, customer.as_str(), cursor, limit)
}

pub fn list_for_company(
    reader: &Reader,
    company: &CompanyId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<AccountRecord>, StoreError> {
    list(reader, ACCOUNTS_BY_COMPANY, company.as_str(), cursor, limit)
}
