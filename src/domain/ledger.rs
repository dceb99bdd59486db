//! The double-entry ledger of DESIGN §3: ledger accounts, transfers, and the plans that money
//! movements turn into. Pure: storage applies the plans and asserts the invariants on commit.

use std::fmt;

use crate::vocab::ids::{CompanyId, CustomerId};
use crate::vocab::money::Amount;

/// One ledger account. Wallet accounts belong to a customer, `Revenue` to a company, `Funding`
/// to a payment provider.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccount {
    Available(CustomerId),
    Held(CustomerId),
    Leased(CustomerId),
    Debt(CustomerId),
    Revenue(CompanyId),
    Funding(String),
}

/// Which way a balance grows. Debit-normal accounts (`Funding`, `Debt`) grow when money leaves
/// them; every other account grows when money arrives. Every balance is therefore ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normal {
    Debit,
    Credit,
}

impl LedgerAccount {
    pub fn normal(&self) -> Normal {
        match self {
            LedgerAccount::Funding(_) | LedgerAccount::Debt(_) => Normal::Debit,
            _ => Normal::Credit,
        }
    }

    /// A wallet's four accounts: available, held, leased, debt.
    pub fn of_wallet(customer: &CustomerId) -> [LedgerAccount; 4] {
        [
            LedgerAccount::Available(customer.clone()),
            LedgerAccount::Held(customer.clone()),
            LedgerAccount::Leased(customer.clone()),
            LedgerAccount::Debt(customer.clone()),
        ]
    }

    /// The customer whose wallet this account is part of, if any.
    pub fn wallet_owner(&self) -> Option<&CustomerId> {
        match self {
            LedgerAccount::Available(c)
            | LedgerAccount::Held(c)
            | LedgerAccount::Leased(c)
            | LedgerAccount::Debt(c) => Some(c),
            LedgerAccount::Revenue(_) | LedgerAccount::Funding(_) => None,
        }
    }

    /// Storage key, e.g. `wallet/cus_…/available`.
    pub fn key(&self) -> String {
        match self {
            LedgerAccount::Available(c) => format!("wallet/{c}/available"),
            LedgerAccount::Held(c) => format!("wallet/{c}/held"),
            LedgerAccount::Leased(c) => format!("wallet/{c}/leased"),
            LedgerAccount::Debt(c) => format!("wallet/{c}/debt"),
            LedgerAccount::Revenue(co) => format!("company/{co}/revenue"),
            LedgerAccount::Funding(p) => format!("provider/{p}/funding"),
        }
    }

    pub fn parse_key(key: &str) -> Option<Self> {
        let mut parts = key.splitn(3, '/');
        let (kind, id, name) = (parts.next()?, parts.next()?, parts.next()?);
        match (kind, name) {
            ("wallet", side) => {
                let c = CustomerId::parse(id).ok()?;
                match side {
                    "available" => Some(LedgerAccount::Available(c)),
                    "held" => Some(LedgerAccount::Held(c)),
                    "leased" => Some(LedgerAccount::Leased(c)),
                    "debt" => Some(LedgerAccount::Debt(c)),
                    _ => None,
                }
            }
            ("company", "revenue") => CompanyId::parse(id).ok().map(LedgerAccount::Revenue),
            ("provider", "funding") => Some(LedgerAccount::Funding(id.to_owned())),
            _ => None,
        }
    }

    /// The balance after `amount` leaves (`outgoing`) or enters this account; `None` if it
    /// would go negative.
    pub fn apply(&self, balance: Amount, amount: Amount, outgoing: bool) -> Option<Amount> {
        let grows = outgoing == (self.normal() == Normal::Debit);
        if grows { balance.checked_add(amount) } else { balance.checked_sub(amount) }
    }
}

impl fmt::Debug for LedgerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// One movement of a positive amount from one ledger account to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub from: LedgerAccount,
    pub to: LedgerAccount,
    pub amount: Amount,
}

impl Transfer {
    fn new(from: LedgerAccount, to: LedgerAccount, amount: Amount) -> Self {
        assert!(!amount.is_zero(), "a transfer moves a positive amount");
        assert!(from != to, "a transfer moves money between two accounts");
        Transfer { from, to, amount }
    }

    /// Money arriving in a wallet from a provider: counts into `topped_up_total`.
    pub fn is_funding(&self) -> bool {
        matches!(self.from, LedgerAccount::Funding(_)) && self.to.wallet_owner().is_some()
    }

    /// Money leaving a wallet to a company: counts into `spent_total`.
    pub fn is_spending(&self) -> bool {
        matches!(self.to, LedgerAccount::Revenue(_)) && self.from.wallet_owner().is_some()
    }
}

/// The four balances of a wallet and the two running totals the invariant relates them with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletBalances {
    pub available: Amount,
    pub held: Amount,
    pub leased: Amount,
    pub debt: Amount,
    pub topped_up_total: Amount,
    pub spent_total: Amount,
}

impl WalletBalances {
    /// `topped_up_total + debt == available + held + leased + spent_total` (DESIGN §3).
    /// Non-negativity is guaranteed by `Amount`. Returns a description of the violation.
    pub fn violation(&self) -> Option<String> {
        let left = self.topped_up_total.checked_add(self.debt);
        let right = self
            .available
            .checked_add(self.held)
            .and_then(|s| s.checked_add(self.leased))
            .and_then(|s| s.checked_add(self.spent_total));
        (left != right || left.is_none()).then(|| {
            format!(
                "topped_up_total {} + debt {} != available {} + held {} + leased {} + spent_total {}",
                self.topped_up_total, self.debt, self.available, self.held, self.leased, self.spent_total
            )
        })
    }
}

/// A refusal by the money rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient funds: {available} available, {needed} needed")]
    InsufficientFunds { available: Amount, needed: Amount },
}

/// A top-up repays debt first, then fills `available`.
pub fn plan_top_up(wallet: &WalletBalances, customer: &CustomerId, provider: &str, amount: Amount) -> Vec<Transfer> {
    let funding = LedgerAccount::Funding(provider.to_owned());
    let repay = wallet.debt.min(amount);
    let rest = amount.saturating_sub(repay);
    let mut plan = Vec::with_capacity(2);
    if !repay.is_zero() {
        plan.push(Transfer::new(funding.clone(), LedgerAccount::Debt(customer.clone()), repay));
    }
    if !rest.is_zero() {
        plan.push(Transfer::new(funding, LedgerAccount::Available(customer.clone()), rest));
    }
    plan
}

fn require_available(wallet: &WalletBalances, amount: Amount) -> Result<(), LedgerError> {
    if wallet.available < amount {
        return Err(LedgerError::InsufficientFunds { available: wallet.available, needed: amount });
    }
    Ok(())
}

/// Block `amount` of `available` in `held`.
pub fn plan_hold(wallet: &WalletBalances, customer: &CustomerId, amount: Amount) -> Result<Vec<Transfer>, LedgerError> {
    require_available(wallet, amount)?;
    Ok(vec![Transfer::new(LedgerAccount::Available(customer.clone()), LedgerAccount::Held(customer.clone()), amount)])
}

/// Return a held `amount` to `available`.
pub fn plan_release(customer: &CustomerId, amount: Amount) -> Vec<Transfer> {
    vec![Transfer::new(LedgerAccount::Held(customer.clone()), LedgerAccount::Available(customer.clone()), amount)]
}

/// Capture `captured` of a hold of `held` to the company; the rest goes back to `available`.
pub fn plan_capture(customer: &CustomerId, company: &CompanyId, held: Amount, captured: Amount) -> Vec<Transfer> {
    assert!(captured <= held, "a capture takes at most the held amount");
    let mut plan = Vec::with_capacity(2);
    if !captured.is_zero() {
        plan.push(Transfer::new(
            LedgerAccount::Held(customer.clone()),
            LedgerAccount::Revenue(company.clone()),
            captured,
        ));
    }
    let rest = held.saturating_sub(captured);
    if !rest.is_zero() {
        plan.extend(plan_release(customer, rest));
    }
    plan
}

/// A direct charge from `available` to the company.
pub fn plan_charge(
    wallet: &WalletBalances,
    customer: &CustomerId,
    company: &CompanyId,
    amount: Amount,
) -> Result<Vec<Transfer>, LedgerError> {
    require_available(wallet, amount)?;
    Ok(vec![Transfer::new(LedgerAccount::Available(customer.clone()), LedgerAccount::Revenue(company.clone()), amount)])
}

/// A charge that must be booked whatever the wallet holds (a late sidecar charge, DESIGN §7):
/// from `available` as far as it goes, the rest as `debt`.
pub fn plan_late_charge(
    wallet: &WalletBalances,
    customer: &CustomerId,
    company: &CompanyId,
    amount: Amount,
) -> Vec<Transfer> {
    let from_available = wallet.available.min(amount);
    let from_debt = amount.saturating_sub(from_available);
    let revenue = LedgerAccount::Revenue(company.clone());
    let mut plan = Vec::with_capacity(2);
    if !from_available.is_zero() {
        plan.push(Transfer::new(LedgerAccount::Available(customer.clone()), revenue.clone(), from_available));
    }
    if !from_debt.is_zero() {
        plan.push(Transfer::new(LedgerAccount::Debt(customer.clone()), revenue, from_debt));
    }
    plan
}

/// Reserve `amount` of `available` in `leased` for a sidecar (DESIGN §7).
pub fn plan_lease(
    wallet: &WalletBalances,
    customer: &CustomerId,
    amount: Amount,
) -> Result<Vec<Transfer>, LedgerError> {
    require_available(wallet, amount)?;
    Ok(vec![Transfer::new(LedgerAccount::Available(customer.clone()), LedgerAccount::Leased(customer.clone()), amount)])
}

/// Return a lease's unused `amount` from `leased` to `available`.
pub fn plan_lease_return(customer: &CustomerId, amount: Amount) -> Vec<Transfer> {
    vec![Transfer::new(LedgerAccount::Leased(customer.clone()), LedgerAccount::Available(customer.clone()), amount)]
}

/// A sidecar's charge paid from its lease: `leased → revenue`.
pub fn plan_lease_charge(customer: &CustomerId, company: &CompanyId, amount: Amount) -> Vec<Transfer> {
    vec![Transfer::new(LedgerAccount::Leased(customer.clone()), LedgerAccount::Revenue(company.clone()), amount)]
}

/// `wallet` after `transfer`, or `None` if a balance would go negative (a bug in the plan).
pub fn apply_to_wallet(wallet: &WalletBalances, customer: &CustomerId, transfer: &Transfer) -> Option<WalletBalances> {
    let mut next = wallet.clone();
    for (account, outgoing) in [(&transfer.from, true), (&transfer.to, false)] {
        if account.wallet_owner() != Some(customer) {
            continue;
        }
        let slot = match account {
            LedgerAccount::Available(_) => &mut next.available,
            LedgerAccount::Held(_) => &mut next.held,
            LedgerAccount::Leased(_) => &mut next.leased,
            LedgerAccount::Debt(_) => &mut next.debt,
            LedgerAccount::Revenue(_) | LedgerAccount::Funding(_) => continue,
        };
        *slot = account.apply(*slot, transfer.amount, outgoing)?;
    }
    if transfer.is_funding() && transfer.to.wallet_owner() == Some(customer) {
        next.topped_up_total = next.topped_up_total.checked_add(transfer.amount)?;
    }
    if transfer.is_spending() && transfer.from.wallet_owner() == Some(customer) {
        next.spent_total = next.spent_total.checked_add(transfer.amount)?;
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::money::Currency;

    fn amt(text: &str) -> Amount {
        Amount::parse_request(text, Currency::parse("RUB").expect("known")).expect("valid amount")
    }

    fn run(wallet: &WalletBalances, customer: &CustomerId, plan: &[Transfer]) -> WalletBalances {
        plan.iter()
            .fold(wallet.clone(), |w, t| apply_to_wallet(&w, customer, t).expect("plan keeps balances non-negative"))
    }

    #[test]
    fn a_late_charge_books_debt_that_the_next_top_up_repays() {
        // Proves the debt path of DESIGN §3/§7 keeps the wallet invariant at every step.
        let (cus, co) = (CustomerId::generate(), CompanyId::generate());
        let mut w =
            run(&WalletBalances::default(), &cus, &plan_top_up(&WalletBalances::default(), &cus, "test", amt("100")));
        w = run(&w, &cus, &plan_charge(&w, &cus, &co, amt("30")).expect("covered"));
        assert_eq!(
            plan_charge(&w, &cus, &co, amt("80")),
            Err(LedgerError::InsufficientFunds { available: amt("70"), needed: amt("80") })
        );
        w = run(&w, &cus, &plan_late_charge(&w, &cus, &co, amt("80")));
        assert_eq!((w.available, w.debt, w.spent_total), (Amount::ZERO, amt("10"), amt("110")));
        assert_eq!(w.violation(), None);
        w = run(&w, &cus, &plan_top_up(&w, &cus, "test", amt("50")));
        assert_eq!((w.available, w.debt, w.topped_up_total), (amt("40"), Amount::ZERO, amt("150")));
        assert_eq!(w.violation(), None);
    }

    #[test]
    fn holds_capture_part_and_release_the_rest() {
        // Proves a partial capture moves the captured part to revenue and the rest back.
        let (cus, co) = (CustomerId::generate(), CompanyId::generate());
        let mut w =
            run(&WalletBalances::default(), &cus, &plan_top_up(&WalletBalances::default(), &cus, "test", amt("10")));
        w = run(&w, &cus, &plan_hold(&w, &cus, amt("6")).expect("covered"));
        assert_eq!((w.available, w.held), (amt("4"), amt("6")));
        w = run(&w, &cus, &plan_capture(&cus, &co, amt("6"), amt("2.50")));
        assert_eq!((w.available, w.held, w.spent_total), (amt("7.5"), Amount::ZERO, amt("2.5")));
        assert_eq!(w.violation(), None);
    }

    #[test]
    fn a_lease_reserves_pays_and_returns_its_rest() {
        // Proves lease, lease charge and return keep the wallet invariant and move money where §7 says.
        let (cus, co) = (CustomerId::generate(), CompanyId::generate());
        let mut w =
            run(&WalletBalances::default(), &cus, &plan_top_up(&WalletBalances::default(), &cus, "test", amt("10")));
        assert!(plan_lease(&w, &cus, amt("11")).is_err());
        w = run(&w, &cus, &plan_lease(&w, &cus, amt("8")).expect("covered"));
        w = run(&w, &cus, &plan_lease_charge(&cus, &co, amt("3")));
        assert_eq!((w.available, w.leased, w.spent_total), (amt("2"), amt("5"), amt("3")));
        w = run(&w, &cus, &plan_lease_return(&cus, amt("5")));
        assert_eq!((w.available, w.leased), (amt("7"), Amount::ZERO));
        assert_eq!(w.violation(), None);
    }

    #[test]
    fn ledger_keys_round_trip() {
        // Proves every ledger account's storage key parses back to the same account.
        let (cus, co) = (CustomerId::generate(), CompanyId::generate());
        for account in [
            LedgerAccount::Available(cus.clone()),
            LedgerAccount::Held(cus.clone()),
            LedgerAccount::Leased(cus.clone()),
            LedgerAccount::Debt(cus),
            LedgerAccount::Revenue(co),
            LedgerAccount::Funding("test".into()),
        ] {
            assert_eq!(LedgerAccount::parse_key(&account.key()), Some(account));
        }
    }
}
