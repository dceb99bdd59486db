//! The ledger balances and wallet totals one write batch has read or changed, kept in memory:
//! each is read from its table at most once per batch, and each changed one is written back
//! once, by the pre-commit step, after the batch's wallets passed the invariant check.

use std::collections::{BTreeSet, HashMap};

use crate::domain::ledger::LedgerAccount;
use crate::storage::central::records::WalletRecord;
use crate::vocab::ids::CustomerId;
use crate::vocab::money::Amount;

/// A value as the batch sees it, and whether the batch changed it.
#[derive(Debug, Clone)]
struct Staged<T> {
    value: T,
    changed: bool,
}

/// What a batch holds of the ledger. Lives in `Tx`; empty (no allocation) for a batch that
/// does not touch money, and for the sidecar, which keeps no ledger.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    balances: HashMap<LedgerAccount, Staged<Amount>>,
    totals: HashMap<CustomerId, Staged<WalletRecord>>,
    /// Wallets a transfer of this batch moved money in or out of: the ones to check.
    touched: BTreeSet<CustomerId>,
}

impl LedgerBatch {
    pub(crate) fn balance(&self, account: &LedgerAccount) -> Option<Amount> {
        self.balances.get(account).map(|staged| staged.value)
    }

    pub(crate) fn totals(&self, customer: &CustomerId) -> Option<&WalletRecord> {
        self.totals.get(customer).map(|staged| &staged.value)
    }

    /// Remembers a balance as read from the table.
    pub(crate) fn load_balance(&mut self, account: LedgerAccount, value: Amount) {
        self.balances.insert(account, Staged { value, changed: false });
    }

    /// Remembers a wallet's totals as read from the table.
    pub(crate) fn load_totals(&mut self, customer: CustomerId, value: WalletRecord) {
        self.totals.insert(customer, Staged { value, changed: false });
    }

    pub(crate) fn set_balance(&mut self, account: LedgerAccount, value: Amount) {
        self.balances.insert(account, Staged { value, changed: true });
    }

    pub(crate) fn set_totals(&mut self, customer: CustomerId, value: WalletRecord) {
        self.totals.insert(customer, Staged { value, changed: true });
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
        let balances = std::mem::take(&mut self.balances)
            .into_iter()
            .filter_map(|(account, staged)| staged.changed.then_some((account, staged.value)))
            .collect();
        let totals = std::mem::take(&mut self.totals)
            .into_iter()
            .filter_map(|(customer, staged)| staged.changed.then_some((customer, staged.value)))
            .collect();
        Changes { balances, totals }
    }
}

/// The balances and wallet totals a batch changed, to be written before its commit.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) balances: Vec<(LedgerAccount, Amount)>,
    pub(crate) totals: Vec<(CustomerId, WalletRecord)>,
}
