//! The ledger balances and wallet totals one write batch has read or changed, kept in memory:
//! each is read from its table at most once per batch, and each changed one is written back
//! once, by the pre-commit step, after the batch's wallets passed the invariant check. A wallet
//! is held whole (its four balances and its totals), so reading it again costs one lookup.

use std::collections::{BTreeSet, HashMap};

use crate::domain::ledger::{LedgerAccount, WalletBalances};
use crate::storage::central::records::WalletRecord;
use crate::vocab::ids::CustomerId;
use crate::vocab::money::Amount;

/// A wallet's four ledger accounts, in the order `StagedWallet::sides` keeps them.
pub(crate) fn wallet_accounts(customer: &CustomerId) -> [LedgerAccount; 4] {
    [
        LedgerAccount::Available(customer.clone()),
        LedgerAccount::Held(customer.clone()),
        LedgerAccount::Leased(customer.clone()),
        LedgerAccount::Debt(customer.clone()),
    ]
}

/// A wallet from its four balances, in `wallet_accounts` order, and its totals.
pub(crate) fn assemble_wallet([available, held, leased, debt]: [Amount; 4], totals: &WalletRecord) -> WalletBalances {
    let WalletRecord { topped_up_total, spent_total, .. } = *totals;
    WalletBalances { available, held, leased, debt, topped_up_total, spent_total }
}

/// Which wallet an account belongs to, and its place in `wallet_accounts`.
fn wallet_side(account: &LedgerAccount) -> Option<(&CustomerId, usize)> {
    match account {
        LedgerAccount::Available(c) => Some((c, 0)),
        LedgerAccount::Held(c) => Some((c, 1)),
        LedgerAccount::Leased(c) => Some((c, 2)),
        LedgerAccount::Debt(c) => Some((c, 3)),
        LedgerAccount::Revenue(_) | LedgerAccount::Funding(_) => None,
    }
}

/// A value as the batch sees it, and whether the batch changed it.
#[derive(Debug, Clone)]
struct Staged<T> {
    value: T,
    changed: bool,
}

impl<T> Staged<T> {
    fn read(value: T) -> Self {
        Staged { value, changed: false }
    }

    fn set(&mut self, value: T) {
        *self = Staged { value, changed: true };
    }
}

/// One wallet as the batch sees it.
#[derive(Debug, Clone)]
struct StagedWallet {
    /// Available, held, leased, debt.
    sides: [Staged<Amount>; 4],
    totals: Staged<WalletRecord>,
}

/// What a batch holds of the ledger. Lives in `Tx`; empty (no allocation) for a batch that
/// does not touch money, and for the sidecar, which keeps no ledger.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    wallets: HashMap<CustomerId, StagedWallet>,
    /// Accounts outside wallets: companies' revenue, providers' funding.
    others: HashMap<LedgerAccount, Staged<Amount>>,
    /// Wallets a transfer of this batch moved money in or out of: the ones to check.
    touched: BTreeSet<CustomerId>,
}

impl LedgerBatch {
    /// The wallet as this batch sees it, if the batch has loaded it.
    pub(crate) fn wallet(&self, customer: &CustomerId) -> Option<WalletBalances> {
        let wallet = self.wallets.get(customer)?;
        Some(assemble_wallet(wallet.sides.each_ref().map(|side| side.value), &wallet.totals.value))
    }

    /// Whether this batch holds the wallet (read once, maybe changed since).
    pub(crate) fn has_wallet(&self, customer: &CustomerId) -> bool {
        self.wallets.contains_key(customer)
    }

    /// Remembers a wallet as read from the tables: its sides in `wallet_accounts` order.
    pub(crate) fn load_wallet(&mut self, customer: CustomerId, sides: [Amount; 4], totals: WalletRecord) {
        self.wallets
            .entry(customer)
            .or_insert_with(|| StagedWallet { sides: sides.map(Staged::read), totals: Staged::read(totals) });
    }

    /// A balance as this batch sees it, if loaded: a wallet's side, or another account.
    pub(crate) fn balance(&self, account: &LedgerAccount) -> Option<Amount> {
        match wallet_side(account) {
            Some((customer, side)) => self.wallets.get(customer).map(|wallet| wallet.sides[side].value),
            None => self.others.get(account).map(|staged| staged.value),
        }
    }

    /// Remembers an account outside any wallet as read from the table (wallets are loaded
    /// whole, by `load_wallet`).
    pub(crate) fn load_balance(&mut self, account: LedgerAccount, value: Amount) {
        debug_assert!(wallet_side(&account).is_none(), "wallet balances are loaded whole");
        self.others.entry(account).or_insert_with(|| Staged::read(value));
    }

    /// Changes a loaded balance; a wallet's side needs its wallet loaded first.
    pub(crate) fn set_balance(&mut self, account: LedgerAccount, value: Amount) {
        match wallet_side(&account) {
            Some((customer, side)) => self.loaded_mut(customer).sides[side].set(value),
            None => {
                self.others.insert(account, Staged { value, changed: true });
            }
        }
    }

    pub(crate) fn totals(&self, customer: &CustomerId) -> Option<&WalletRecord> {
        self.wallets.get(customer).map(|wallet| &wallet.totals.value)
    }

    /// Changes a loaded wallet's totals.
    pub(crate) fn set_totals(&mut self, customer: &CustomerId, value: WalletRecord) {
        self.loaded_mut(customer).totals.set(value);
    }

    fn loaded_mut(&mut self, customer: &CustomerId) -> &mut StagedWallet {
        self.wallets.get_mut(customer).unwrap_or_else(|| panic!("wallet {customer} is changed before it is loaded"))
    }

    pub(crate) fn touch(&mut self, customer: &CustomerId) {
        if !self.touched.contains(customer) {
            self.touched.insert(customer.clone());
        }
    }

    /// The wallets this batch touched, for the pre-commit check; forgets them.
    pub(crate) fn take_touched(&mut self) -> BTreeSet<CustomerId> {
        std::mem::take(&mut self.touched)
    }

    /// Every balance and total this batch changed, for the pre-commit step to write; forgets
    /// all it holds.
    pub(crate) fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        for (customer, wallet) in std::mem::take(&mut self.wallets) {
            for (account, side) in wallet_accounts(&customer).into_iter().zip(wallet.sides) {
                if side.changed {
                    changes.balances.push((account, side.value));
                }
            }
            if wallet.totals.changed {
                changes.totals.push((customer, wallet.totals.value));
            }
        }
        changes.balances.extend(
            std::mem::take(&mut self.others)
                .into_iter()
                .filter_map(|(account, staged)| staged.changed.then_some((account, staged.value))),
        );
        changes
    }
}

/// The balances and wallet totals a batch changed, to be written before its commit.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) balances: Vec<(LedgerAccount, Amount)>,
    pub(crate) totals: Vec<(CustomerId, WalletRecord)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::ids::CompanyId;
    use crate::vocab::money::Currency;

    fn rub(text: &str) -> Amount {
        Amount::parse_request(text, Currency::parse("RUB").expect("RUB")).expect("a valid amount")
    }

    #[test]
    fn only_what_the_batch_changed_is_handed_back_for_writing_and_a_later_load_keeps_it() {
        // Proves a wallet loaded again keeps the batch's values, and the pre-commit step gets
        // exactly the changed sides, totals and other accounts, each once, each under its own
        // account (every side set to a different value, so a mixed-up side shows).
        let (customer, company) = (CustomerId::generate(), CompanyId::generate());
        let mut batch = LedgerBatch::default();
        let read = WalletRecord { topped_up_total: rub("10"), spent_total: Amount::ZERO, statement_head: None };
        let sides_read = [rub("10"), Amount::ZERO, Amount::ZERO, Amount::ZERO];
        batch.load_wallet(customer.clone(), sides_read, read.clone());
        let set = [("9", "1"), ("8", "2"), ("7", "3"), ("6", "4")];
        for ((first, second), account) in set.iter().zip(wallet_accounts(&customer)) {
            batch.set_balance(account.clone(), rub(first));
            batch.set_balance(account, rub(second));
        }
        batch.set_totals(&customer, WalletRecord { spent_total: rub("4"), ..read.clone() });
        batch.load_balance(LedgerAccount::Revenue(company.clone()), rub("1"));
        batch.set_balance(LedgerAccount::Revenue(company.clone()), rub("5"));
        batch.load_wallet(customer.clone(), sides_read, read.clone());
        let wallet = batch.wallet(&customer).expect("loaded");
        let seen = (wallet.available, wallet.held, wallet.leased, wallet.debt, wallet.spent_total);
        assert_eq!(seen, (rub("1"), rub("2"), rub("3"), rub("4"), rub("4")));

        let untouched = CustomerId::generate();
        batch.load_wallet(untouched.clone(), sides_read, read);
        assert!(batch.has_wallet(&untouched));

        let mut changes = batch.take_changes();
        changes.balances.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = vec![
            (LedgerAccount::Available(customer.clone()), rub("1")),
            (LedgerAccount::Held(customer.clone()), rub("2")),
            (LedgerAccount::Leased(customer.clone()), rub("3")),
            (LedgerAccount::Debt(customer.clone()), rub("4")),
            (LedgerAccount::Revenue(company), rub("5")),
        ];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(changes.balances, expected);
        let totals: Vec<_> = changes.totals.iter().map(|(c, t)| (c.clone(), t.spent_total)).collect();
        assert_eq!(totals, vec![(customer.clone(), rub("4"))], "an untouched wallet writes nothing");
        assert!(!batch.has_wallet(&customer), "taking the changes empties the batch");
    }
}
