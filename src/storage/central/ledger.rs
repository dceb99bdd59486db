//! Applying ledger plans inside a transaction, reading wallet balances, and the pre-commit
//! check of the wallet invariant on every wallet a batch touched.

use redb::ReadableTable;

use crate::domain::ledger::{LedgerAccount, Transfer, WalletBalances, apply_to_wallet};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{TransferRecord, WalletRecord};
use crate::storage::codec::encode;
use crate::storage::schema::{LEDGER_BALANCES, TRANSFERS, WALLETS};
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

fn wallet_from(
    balances: &impl ReadableTable<&'static str, &'static str>,
    wallets: &impl ReadableTable<&'static str, &'static [u8]>,
    customer: &CustomerId,
) -> Result<WalletBalances, StoreError> {
    let totals: WalletRecord = get_record(wallets, "wallets", customer.as_str())?.unwrap_or_default();
    Ok(WalletBalances {
        available: balance_of(balances, &LedgerAccount::Available(customer.clone()))?,
        held: balance_of(balances, &LedgerAccount::Held(customer.clone()))?,
        leased: balance_of(balances, &LedgerAccount::Leased(customer.clone()))?,
        debt: balance_of(balances, &LedgerAccount::Debt(customer.clone()))?,
        topped_up_total: totals.topped_up_total,
        spent_total: totals.spent_total,
    })
}

/// A wallet as of this transaction.
pub fn wallet_in_tx(tx: &Tx<'_>, customer: &CustomerId) -> Result<WalletBalances, StoreError> {
    wallet_from(&tx.txn.open_table(LEDGER_BALANCES)?, &tx.txn.open_table(WALLETS)?, customer)
}

/// A wallet as of this read.
pub fn wallet(reader: &Reader, customer: &CustomerId) -> Result<WalletBalances, StoreError> {
    wallet_from(&reader.txn.open_table(LEDGER_BALANCES)?, &reader.txn.open_table(WALLETS)?, customer)
}

/// Balance of any ledger account as of this read.
pub fn balance(reader: &Reader, account: &LedgerAccount) -> Result<Amount, StoreError> {
    balance_of(&reader.txn.open_table(LEDGER_BALANCES)?, account)
}

/// Posts every transfer of `plan`: balances, wallet totals and the append-only transfer log.
/// A plan that would drive a balance negative is a bug in the plan, so it panics.
pub fn post(tx: &mut Tx<'_>, plan: &[Transfer], at: Timestamp, reason: &str) -> Result<(), StoreError> {
    for transfer in plan {
        let seq = tx.next("transfer")?;
        {
            let mut balances = tx.txn.open_table(LEDGER_BALANCES)?;
            for (account, outgoing) in [(&transfer.from, true), (&transfer.to, false)] {
                let before = balance_of(&balances, account)?;
                let after = account.apply(before, transfer.amount, outgoing).unwrap_or_else(|| {
                    panic!("ledger plan drives {account:?} negative: {before} by {}", transfer.amount)
                });
                balances.insert(account.key().as_str(), after.to_stored().as_str())?;
            }
        }
        for customer in [transfer.from.wallet_owner(), transfer.to.wallet_owner()].into_iter().flatten() {
            tx.touched_wallets.insert(customer.clone());
        }
        if transfer.is_funding() || transfer.is_spending() {
            let owner = transfer
                .to
                .wallet_owner()
                .or(transfer.from.wallet_owner())
                .cloned()
                .expect("funding and spending touch a wallet");
            let mut wallets = tx.txn.open_table(WALLETS)?;
            let mut totals: WalletRecord = get_record(&wallets, "wallets", owner.as_str())?.unwrap_or_default();
            let add =
                |total: Amount| total.checked_add(transfer.amount).expect("wallet totals stay within Decimal range");
            if transfer.is_funding() {
                totals.topped_up_total = add(totals.topped_up_total);
            } else {
                totals.spent_total = add(totals.spent_total);
            }
            put_record(&mut wallets, owner.as_str(), &totals)?;
        }
        let record = TransferRecord {
            from: transfer.from.key(),
            to: transfer.to.key(),
            amount: transfer.amount,
            at,
            reason: reason.to_owned(),
        };
        tx.txn.open_table(TRANSFERS)?.insert(seq, encode(&record).as_slice())?;
    }
    Ok(())
}

/// Pre-commit hook: every wallet the batch touched satisfies DESIGN §3's equation.
pub fn check_touched_wallets(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    let touched = std::mem::take(&mut tx.touched_wallets);
    for customer in &touched {
        let wallet = wallet_in_tx(tx, customer)?;
        if let Some(violation) = wallet.violation() {
            panic!("ledger invariant violated for wallet {customer}: {violation}");
        }
    }
    Ok(())
}

/// What the wallet would be after `plan`, checked the same way `post` will apply it.
pub fn preview(wallet: &WalletBalances, customer: &CustomerId, plan: &[Transfer]) -> Option<WalletBalances> {
    plan.iter().try_fold(wallet.clone(), |w, t| apply_to_wallet(&w, customer, t))
}
