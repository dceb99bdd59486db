//! Applying ledger plans inside a transaction, reading wallet balances, and the pre-commit
//! check of the wallet invariant on every wallet a batch touched.

use redb::ReadableTable;

use crate::domain::ledger::{LedgerAccount, Transfer, WalletBalances, apply_to_wallet};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{TransferRecord, WalletRecord};
use crate::storage::codec::encode;
use crate::storage::schema::{LEDGER_BALANCES, WALLETS};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::CustomerId;
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

fn balance_of(
    table: &impl ReadableTable<&'static str, &'static str>,
    account: &LedgerAccount,
) -> Result<Amount, StoreError> {
    match table.get(account.key().as_str())? {
        Some(text) => Amount::parse_stored(text.value())
            .map_err(|e| StoreError::Corrupt { table: "ledger_balances", detail: e.to_string() }),
        None => Ok(Amount::ZERO),
    }
}

/// A wallet's record; a wallet never written is all zeros.
pub(crate) fn wallet_record_of(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    customer: &CustomerId,
) -> Result<WalletRecord, StoreError> {
    Ok(get_record(table, "wallets", customer.as_str())?.unwrap_or_default())
}

/// A balance as of this transaction: the batch's own value, else the table's (remembered; a
/// wallet's side loads its whole wallet).
fn balance_in_tx(tx: &mut Tx<'_>, account: &LedgerAccount) -> Result<Amount, StoreError> {
    if let Some(customer) = account.wallet_owner() {
        load_wallet(tx, customer)?;
    }
    if let Some(value) = tx.ledger.balance(account) {
        return Ok(value);
    }
    let value = balance_of(&*tx.ledger_balances_table()?, account)?;
    tx.ledger.load_balance(account.clone(), value);
    Ok(value)
}

/// Brings a wallet into the batch unless it is there: one lookup of its record.
fn load_wallet(tx: &mut Tx<'_>, customer: &CustomerId) -> Result<(), StoreError> {
    if tx.ledger.has_wallet(customer) {
        return Ok(());
    }
    let record = wallet_record_of(&*tx.wallets_table()?, customer)?;
    tx.ledger.load_wallet(customer.clone(), record);
    Ok(())
}

/// A wallet as of this transaction: read from the table once per batch, then from memory.
pub fn wallet_in_tx(tx: &mut Tx<'_>, customer: &CustomerId) -> Result<WalletBalances, StoreError> {
    load_wallet(tx, customer)?;
    Ok(tx.ledger.wallet(customer).expect("the wallet was loaded above"))
}

/// Reads a wallet's record as of this transaction, bringing it into the batch (read from the
/// table once per batch, then from memory): a charge reads its customer's wallet for the
/// account's running totals and then changes it, and decoding it once is measurably cheaper.
pub fn read_wallet_record_in_tx<T>(
    tx: &mut Tx<'_>,
    customer: &CustomerId,
    read: impl FnOnce(&WalletRecord) -> T,
) -> Result<T, StoreError> {
    load_wallet(tx, customer)?;
    Ok(read(tx.ledger.record(customer).expect("the wallet was loaded above")))
}

/// Changes a wallet's record in the batch (brought in first), written with the batch's other
/// changes before the commit.
pub fn update_wallet_record(
    tx: &mut Tx<'_>,
    customer: &CustomerId,
    change: impl FnOnce(&mut WalletRecord),
) -> Result<(), StoreError> {
    load_wallet(tx, customer)?;
    change(tx.ledger.record_mut(customer));
    Ok(())
}

/// A wallet's record as of this read (all zeros when never written).
pub fn wallet_record(reader: &Reader, customer: &CustomerId) -> Result<WalletRecord, StoreError> {
    wallet_record_of(&reader.txn.open_table(WALLETS)?, customer)
}

/// A wallet as of this read.
pub fn wallet(reader: &Reader, customer: &CustomerId) -> Result<WalletBalances, StoreError> {
    Ok(wallet_record_of(&reader.txn.open_table(WALLETS)?, customer)?.balances())
}

/// Makes `seq` the newest line of the customer's statement and returns the line before it. The
/// head is kept in the wallet's record, so the batch writes it with the wallet's other changes.
pub fn advance_statement(tx: &mut Tx<'_>, customer: &CustomerId, seq: u64) -> Result<Option<u64>, StoreError> {
    let mut before = None;
    update_wallet_record(tx, customer, |record| before = record.statement_head.replace(seq))?;
    Ok(before)
}

/// The newest line of the customer's statement as of this read.
pub fn statement_head(reader: &Reader, customer: &CustomerId) -> Result<Option<u64>, StoreError> {
    let totals: Option<WalletRecord> = get_record(&reader.txn.open_table(WALLETS)?, "wallets", customer.as_str())?;
    Ok(totals.and_then(|totals| totals.statement_head))
}

/// Balance of any ledger account as of this read: a wallet's side from its record, any other
/// from `LEDGER_BALANCES`.
pub fn balance(reader: &Reader, account: &LedgerAccount) -> Result<Amount, StoreError> {
    match account.wallet_owner() {
        Some(customer) => Ok(wallet_record_of(&reader.txn.open_table(WALLETS)?, customer)?
            .side(account)
            .expect("a wallet owner's account is one of its sides")),
        None => balance_of(&reader.txn.open_table(LEDGER_BALANCES)?, account),
    }
}

/// Posts every transfer of `plan`: balances and wallet totals in the batch's ledger (written
/// before the commit), and the append-only transfer log. A plan that would drive a balance
/// negative is a bug in the plan, so it panics.
pub fn post(tx: &mut Tx<'_>, plan: &[Transfer], at: Timestamp, reason: &str) -> Result<(), StoreError> {
    for transfer in plan {
        let seq = tx.next("transfer")?;
        for (account, outgoing) in [(&transfer.from, true), (&transfer.to, false)] {
            let before = balance_in_tx(tx, account)?;
            let after = account
                .apply(before, transfer.amount, outgoing)
                .unwrap_or_else(|| panic!("ledger plan drives {account:?} negative: {before} by {}", transfer.amount));
            tx.ledger.set_balance(account.clone(), after);
        }
        for customer in [transfer.from.wallet_owner(), transfer.to.wallet_owner()].into_iter().flatten() {
            tx.ledger.touch(customer);
        }
        if transfer.is_funding() || transfer.is_spending() {
            let owner = transfer
                .to
                .wallet_owner()
                .or(transfer.from.wallet_owner())
                .cloned()
                .expect("funding and spending touch a wallet");
            let add =
                |total: Amount| total.checked_add(transfer.amount).expect("wallet totals stay within Decimal range");
            update_wallet_record(tx, &owner, |record| {
                if transfer.is_funding() {
                    record.topped_up_total = add(record.topped_up_total);
                } else {
                    record.spent_total = add(record.spent_total);
                }
            })?;
        }
        let record = TransferRecord {
            from: transfer.from.key(),
            to: transfer.to.key(),
            amount: transfer.amount,
            at,
            reason: reason.to_owned(),
        };
        tx.transfers_table()?.insert(seq, encode(&record).as_slice())?;
    }
    Ok(())
}

/// Pre-commit step: every wallet the batch touched satisfies DESIGN §3's equation; then the
/// wallet records and other balances the batch changed are written to their tables.
pub fn finish_batch(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    let touched = tx.ledger.take_touched();
    for customer in &touched {
        let wallet = wallet_in_tx(tx, customer)?;
        if let Some(violation) = wallet.violation() {
            panic!("ledger invariant violated for wallet {customer}: {violation}");
        }
    }
    let changes = tx.ledger.take_changes();
    if !changes.balances.is_empty() {
        let mut balances = tx.ledger_balances_table()?;
        for (account, value) in &changes.balances {
            balances.insert(account.key().as_str(), value.to_stored().as_str())?;
        }
    }
    if !changes.wallets.is_empty() {
        let mut wallets = tx.wallets_table()?;
        for (customer, record) in &changes.wallets {
            put_record(&mut wallets, customer.as_str(), record)?;
        }
    }
    Ok(())
}

/// What the wallet would be after `plan`, checked the same way `post` will apply it.
pub fn preview(wallet: &WalletBalances, customer: &CustomerId, plan: &[Transfer]) -> Option<WalletBalances> {
    plan.iter().try_fold(wallet.clone(), |w, t| apply_to_wallet(&w, customer, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::{plan_charge, plan_top_up};
    use crate::storage::StoreOptions;
    use crate::storage::central::open::open_central;
    use crate::vocab::ids::CompanyId;
    use crate::vocab::money::Currency;

    fn rub(text: &str) -> Amount {
        Amount::parse_request(text, Currency::parse("RUB").expect("RUB")).expect("a valid amount")
    }

    /// Tops `customer` up by `top_up`, then charges `charge` to `company`, in one transaction.
    fn top_up_then_charge(
        tx: &mut Tx<'_>,
        customer: &CustomerId,
        company: &CompanyId,
        top_up: &str,
        charge: &str,
    ) -> Result<WalletBalances, StoreError> {
        let now = Timestamp::from_unix_ms(1_800_000_000_000);
        let wallet = wallet_in_tx(tx, customer)?;
        post(tx, &plan_top_up(&wallet, customer, "test", rub(top_up)), now, "top-up")?;
        let wallet = wallet_in_tx(tx, customer)?;
        let plan = plan_charge(&wallet, customer, company, rub(charge)).expect("the top-up covers the charge");
        post(tx, &plan, now, "charge")?;
        wallet_in_tx(tx, customer)
    }

    #[test]
    fn a_batch_sees_its_own_postings_and_commits_them_once_or_not_at_all() {
        // Proves balances and totals kept in the batch are what later work in the same batch
        // reads, reach the tables at commit, and leave them untouched when the batch aborts.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_central(dir.path(), &StoreOptions::default()).expect("open");
        let (customer, company) = (CustomerId::generate(), CompanyId::generate());
        let (c, co) = (customer.clone(), company.clone());
        let in_batch =
            store.write_blocking(move |tx| top_up_then_charge(tx, &c, &co, "100", "30")).expect("first batch");
        assert_eq!(
            (in_batch.available, in_batch.topped_up_total, in_batch.spent_total),
            (rub("70"), rub("100"), rub("30"))
        );
        let (c, co) = (customer.clone(), company.clone());
        let committed = store.read_blocking(move |r| Ok((wallet(r, &c)?, balance(r, &LedgerAccount::Revenue(co))?)));
        let (committed, revenue) = committed.expect("read");
        assert_eq!(
            (committed.available, committed.topped_up_total, committed.spent_total, revenue),
            (rub("70"), rub("100"), rub("30"), rub("30"))
        );
        let (c, co) = (customer.clone(), company.clone());
        let aborted = store.write_blocking(move |tx| {
            top_up_then_charge(tx, &c, &co, "5", "1")?;
            Err::<(), _>(StoreError::Corrupt { table: "test", detail: "abort the batch".into() })
        });
        assert!(aborted.is_err());
        let (c, co) = (customer.clone(), company.clone());
        let next = store.write_blocking(move |tx| top_up_then_charge(tx, &c, &co, "10", "20")).expect("third batch");
        assert_eq!((next.available, next.topped_up_total, next.spent_total), (rub("60"), rub("110"), rub("50")));
        let c = customer.clone();
        let after = store.read_blocking(move |r| wallet(r, &c)).expect("read");
        assert_eq!((after.available, after.held, after.debt), (rub("60"), Amount::ZERO, Amount::ZERO));
    }

    #[test]
    fn a_wallets_balances_are_read_from_its_record_and_other_accounts_from_the_balances_table() {
        // Proves `wallet`, `wallet_in_tx` and `balance` take a wallet's four sides from its
        // record, each into its own side, a company's revenue from `LEDGER_BALANCES`, and a
        // wallet never written as zeros.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_central(dir.path(), &StoreOptions::default()).expect("open");
        let (customer, never, company) = (CustomerId::generate(), CustomerId::generate(), CompanyId::generate());
        let record = WalletRecord {
            available: rub("7"),
            held: rub("6"),
            leased: rub("5"),
            debt: rub("2"),
            topped_up_total: rub("16"),
            spent_total: Amount::ZERO,
            statement_head: None,
            accounts: Default::default(),
        };
        let (c, co, r) = (customer.clone(), company.clone(), record.clone());
        store
            .write_blocking(move |tx| {
                put_record(&mut *tx.wallets_table()?, c.as_str(), &r)?;
                let key = LedgerAccount::Revenue(co).key();
                tx.ledger_balances_table()?.insert(key.as_str(), rub("3").to_stored().as_str())?;
                Ok(())
            })
            .expect("seed");
        let sides = |w: &WalletBalances| (w.available, w.held, w.leased, w.debt);
        let expected = (rub("7"), rub("6"), rub("5"), rub("2"));
        let (c, co, n) = (customer.clone(), company.clone(), never.clone());
        let (read, leased, revenue, empty) = store
            .read_blocking(move |r| {
                Ok((
                    wallet(r, &c)?,
                    balance(r, &LedgerAccount::Leased(c))?,
                    balance(r, &LedgerAccount::Revenue(co))?,
                    wallet(r, &n)?,
                ))
            })
            .expect("read");
        assert_eq!((sides(&read), leased, revenue), (expected, rub("5"), rub("3")));
        assert_eq!(sides(&empty), (Amount::ZERO, Amount::ZERO, Amount::ZERO, Amount::ZERO));
        let in_tx = store.write_blocking(move |tx| wallet_in_tx(tx, &customer)).expect("write");
        assert_eq!(sides(&in_tx), expected);
    }
}
