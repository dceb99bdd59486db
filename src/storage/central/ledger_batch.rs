//! The wallets and ledger balances one write batch has read or changed, kept in memory: each
//! is read from its table at most once per batch, and each changed one is written back once,
//! by the pre-commit step, after the batch's wallets passed the invariant check. A wallet is
//! one record (its four balances, its totals, its statement head, its accounts' running state),
//! so reading it again costs one lookup in memory.

use std::collections::{BTreeSet, HashMap};

use crate::domain::ledger::{LedgerAccount, WalletBalances};
use crate::storage::central::records::WalletRecord;
use crate::vocab::ids::CustomerId;
use crate::vocab::money::Amount;

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
}

/// What a batch holds of the ledger. Lives in `Tx`; empty (no allocation) for a batch that
/// does not touch money, and for the sidecar, which keeps no ledger.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    wallets: HashMap<CustomerId, Staged<WalletRecord>>,
    /// Accounts outside wallets: companies' revenue, providers' funding.
    others: HashMap<LedgerAccount, Staged<Amount>>,
    /// Wallets a transfer of this batch moved money in or out of: the ones to check.
    touched: BTreeSet<CustomerId>,
}

impl LedgerBatch {
    /// The wallet as this batch sees it, if the batch has loaded it.
    pub(crate) fn wallet(&self, customer: &CustomerId) -> Option<WalletBalances> {
        self.wallets.get(customer).map(|wallet| wallet.value.balances())
    }

    /// Whether this batch holds the wallet (read once, maybe changed since).
    pub(crate) fn has_wallet(&self, customer: &CustomerId) -> bool {
        self.wallets.contains_key(customer)
    }

    /// Remembers a wallet as read from its table; a wallet already held keeps the batch's value.
    pub(crate) fn load_wallet(&mut self, customer: CustomerId, record: WalletRecord) {
        self.wallets.entry(customer).or_insert_with(|| Staged::read(record));
    }

    /// A balance as this batch sees it, if loaded: a wallet's side, or another account.
    pub(crate) fn balance(&self, account: &LedgerAccount) -> Option<Amount> {
        match account.wallet_owner() {
            Some(customer) => self.wallets.get(customer)?.value.side(account),
            None => self.others.get(account).map(|staged| staged.value),
        }
    }

    /// Remembers an account outside any wallet as read from the table (wallets are loaded
    /// whole, by `load_wallet`).
    pub(crate) fn load_balance(&mut self, account: LedgerAccount, value: Amount) {
        debug_assert!(account.wallet_owner().is_none(), "wallet balances are loaded whole");
        self.others.entry(account).or_insert_with(|| Staged::read(value));
    }

    /// Changes a loaded balance; a wallet's side needs its wallet loaded first.
    pub(crate) fn set_balance(&mut self, account: LedgerAccount, value: Amount) {
        match account.wallet_owner() {
            Some(customer) => {
                let wallet = self.loaded_mut(customer);
                *wallet.value.side_mut(&account).expect("a wallet owner's account is one of its sides") = value;
                wallet.changed = true;
            }
            None => {
                self.others.insert(account, Staged { value, changed: true });
            }
        }
    }

    /// A loaded wallet's record as this batch sees it.
    pub(crate) fn record(&self, customer: &CustomerId) -> Option<&WalletRecord> {
        self.wallets.get(customer).map(|wallet| &wallet.value)
    }

    /// A loaded wallet's record, to change in place; the batch writes it back.
    pub(crate) fn record_mut(&mut self, customer: &CustomerId) -> &mut WalletRecord {
        let wallet = self.loaded_mut(customer);
        wallet.changed = true;
        &mut wallet.value
    }

    fn loaded_mut(&mut self, customer: &CustomerId) -> &mut Staged<WalletRecord> {
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

    /// Every wallet and balance this batch changed, for the pre-commit step to write; forgets
    /// all it holds.
    pub(crate) fn take_changes(&mut self) -> Changes {
        Changes {
            wallets: changed(std::mem::take(&mut self.wallets)),
            balances: changed(std::mem::take(&mut self.others)),
        }
    }
}

/// The entries of `staged` the batch changed, with their values.
fn changed<K, T>(staged: HashMap<K, Staged<T>>) -> Vec<(K, T)> {
    staged.into_iter().filter_map(|(key, staged)| staged.changed.then_some((key, staged.value))).collect()
}

/// The wallets and other balances a batch changed, to be written before its commit.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) wallets: Vec<(CustomerId, WalletRecord)>,
    pub(crate) balances: Vec<(LedgerAccount, Amount)>,
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
        // exactly the changed wallets (whole) and other accounts, each once, each under its own
        // key (every side set to a different value, so a mixed-up side shows).
        let (customer, company) = (CustomerId::generate(), CompanyId::generate());
        let mut batch = LedgerBatch::default();
        let read = WalletRecord { available: rub("10"), topped_up_total: rub("10"), ..WalletRecord::default() };
        batch.load_wallet(customer.clone(), read.clone());
        let set = [("9", "1"), ("8", "2"), ("7", "3"), ("6", "4")];
        for ((first, second), account) in set.iter().zip(LedgerAccount::of_wallet(&customer)) {
            batch.set_balance(account.clone(), rub(first));
            batch.set_balance(account, rub(second));
        }
        batch.record_mut(&customer).spent_total = rub("4");
        batch.load_balance(LedgerAccount::Revenue(company.clone()), rub("1"));
        batch.set_balance(LedgerAccount::Revenue(company.clone()), rub("5"));
        batch.load_wallet(customer.clone(), read.clone());
        let wallet = batch.wallet(&customer).expect("loaded");
        let seen = (wallet.available, wallet.held, wallet.leased, wallet.debt, wallet.spent_total);
        assert_eq!(seen, (rub("1"), rub("2"), rub("3"), rub("4"), rub("4")));
        assert_eq!(batch.balance(&LedgerAccount::Leased(customer.clone())), Some(rub("3")));

        let untouched = CustomerId::generate();
        batch.load_wallet(untouched.clone(), read);
        assert!(batch.has_wallet(&untouched));

        let changes = batch.take_changes();
        assert_eq!(changes.balances, vec![(LedgerAccount::Revenue(company), rub("5"))]);
        let expected = WalletRecord {
            available: rub("1"),
            held: rub("2"),
            leased: rub("3"),
            debt: rub("4"),
            topped_up_total: rub("10"),
            spent_total: rub("4"),
            statement_head: None,
            accounts: Default::default(),
        };
        assert_eq!(changes.wallets, vec![(customer.clone(), expected)], "an untouched wallet writes nothing");
        assert!(!batch.has_wallet(&customer), "taking the changes empties the batch");
    }
}
