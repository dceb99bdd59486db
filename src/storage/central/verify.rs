//! `verify`: an fsck for the ledger. Re-derives every balance and total from the transfer log
//! and the charges, and reports every way the stored state disagrees with DESIGN §3 (leases
//! and settled idempotency keys included, and the threads of statements and account charges).

use std::collections::{BTreeMap, BTreeSet};

use redb::ReadableTable;

use crate::domain::ledger::LedgerAccount;
use crate::storage::central::records::{
    AccountRecord, ChargeRecord, ChargeStatus, HoldRecord, HoldStatus, IdempotencyRecord, LeaseRecord, TransferRecord,
    WalletRecord,
};
use crate::storage::central::{accounts, verify_threads};
use crate::storage::codec::decode;
use crate::storage::schema::{
    ACCOUNTS, CHARGES, CUSTOMERS, HOLD_EXPIRY, HOLDS, IDEMPOTENCY, LEASE_EXPIRY, LEASES, LEASES_BY_ACCOUNT,
    LEDGER_BALANCES, SETTLED_KEYS, TRANSFERS, WALLETS,
};
use crate::storage::{Reader, StoreError};
use crate::vocab::ids::CustomerId;
use crate::vocab::money::Amount;

/// What was checked and what was wrong.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct VerifyReport {
    pub transfers: u64,
    pub ledger_accounts: u64,
    pub wallets: u64,
    pub accounts: u64,
    pub charges: u64,
    pub violations: Vec<String>,
}

fn add(map: &mut BTreeMap<String, Amount>, key: &str, amount: Amount) {
    let total = map.entry(key.to_owned()).or_default();
    *total = total.checked_add(amount).unwrap_or(*total);
}

/// Checks every invariant over the whole database.
pub fn verify(reader: &Reader) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut derived: BTreeMap<LedgerAccount, Amount> = BTreeMap::new();
    let mut topped_up: BTreeMap<String, Amount> = BTreeMap::new();
    let mut spent: BTreeMap<String, Amount> = BTreeMap::new();

    for entry in reader.txn.open_table(TRANSFERS)?.iter()? {
        let (seq, bytes) = entry?;
        let seq = seq.value();
        report.transfers += 1;
        let t: TransferRecord = decode("transfers", bytes.value())?;
        let (Some(from), Some(to)) = (LedgerAccount::parse_key(&t.from), LedgerAccount::parse_key(&t.to)) else {
            report.violations.push(format!("transfer {seq}: unknown ledger account {} or {}", t.from, t.to));
            continue;
        };
        if t.amount.is_zero() {
            report.violations.push(format!("transfer {seq}: zero amount"));
        }
        for (account, outgoing) in [(&from, true), (&to, false)] {
            let before = derived.get(account).copied().unwrap_or_default();
            match account.apply(before, t.amount, outgoing) {
                Some(after) => drop(derived.insert(account.clone(), after)),
                None => report.violations.push(format!("transfer {seq}: {account:?} goes negative")),
            }
        }
        let transfer = crate::domain::ledger::Transfer { from: from.clone(), to: to.clone(), amount: t.amount };
        if transfer.is_funding() {
            add(&mut topped_up, to.wallet_owner().map(CustomerId::as_str).unwrap_or_default(), t.amount);
        }
        if transfer.is_spending() {
            add(&mut spent, from.wallet_owner().map(CustomerId::as_str).unwrap_or_default(), t.amount);
        }
    }

    let mut stored: BTreeMap<LedgerAccount, Amount> = BTreeMap::new();
    for entry in reader.txn.open_table(LEDGER_BALANCES)?.iter()? {
        let (key, value) = entry?;
        report.ledger_accounts += 1;
        let Some(account) = LedgerAccount::parse_key(key.value()) else {
            report.violations.push(format!("ledger balance under unknown key {}", key.value()));
            continue;
        };
        if account.wallet_owner().is_some() {
            report.violations.push(format!("{}: a wallet's balance outside its wallet record", key.value()));
            continue;
        }
        match Amount::parse_stored(value.value()) {
            Ok(amount) => drop(stored.insert(account, amount)),
            Err(_) => report.violations.push(format!(
                "{}: balance {:?} is not a non-negative amount",
                key.value(),
                value.value()
            )),
        }
    }
    // A wallet's four balances live in its record (schema 3).
    let owners = reader.txn.open_table(ACCOUNTS)?;
    for entry in reader.txn.open_table(WALLETS)?.iter()? {
        let (customer, bytes) = entry?;
        let record: WalletRecord = decode("wallets", bytes.value())?;
        let Ok(customer) = CustomerId::parse(customer.value()) else {
            report.violations.push(format!("wallet record under {:?}, which is not a customer id", customer.value()));
            continue;
        };
        for account in record.accounts.keys() {
            let owner = match owners.get(account.as_str())? {
                Some(bytes) => Some(decode::<AccountRecord>("accounts", bytes.value())?.customer_id),
                None => None,
            };
            if owner.as_ref() != Some(&customer) {
                report
                    .violations
                    .push(format!("wallet {customer}: keeps the running state of {account}, not its account"));
            }
        }
        for account in LedgerAccount::of_wallet(&customer) {
            report.ledger_accounts += 1;
            let side = record.side(&account).expect("one of the wallet's sides");
            stored.insert(account, side);
        }
    }
    let all: BTreeSet<&LedgerAccount> = derived.keys().chain(stored.keys()).collect();
    for account in all {
        let (d, s) =
            (derived.get(account).copied().unwrap_or_default(), stored.get(account).copied().unwrap_or_default());
        if d != s {
            report.violations.push(format!("{account:?}: stored balance {s} but transfers sum to {d}"));
        }
    }

    check_wallets(reader, &topped_up, &spent, &mut report)?;
    check_accounts_and_charges(reader, &mut report)?;
    check_holds(reader, &stored, &mut report)?;
    check_leases(reader, &stored, &mut report)?;
    check_settled_keys(reader, &mut report)?;
    verify_threads::check_threads(reader, &mut report)?;
    Ok(report)
}

fn check_wallets(
    reader: &Reader,
    topped_up: &BTreeMap<String, Amount>,
    spent: &BTreeMap<String, Amount>,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    let wallets = reader.txn.open_table(WALLETS)?;
    for entry in reader.txn.open_table(CUSTOMERS)?.iter()? {
        let (id, _) = entry?;
        report.wallets += 1;
        let customer = CustomerId::parse(id.value())
            .map_err(|e| StoreError::Corrupt { table: "customers", detail: e.to_string() })?;
        let totals: WalletRecord = match wallets.get(customer.as_str())? {
            Some(bytes) => decode("wallets", bytes.value())?,
            None => WalletRecord::default(),
        };
        if let Some(violation) = totals.balances().violation() {
            report.violations.push(format!("wallet {customer}: {violation}"));
        }
        let derived_top = topped_up.get(customer.as_str()).copied().unwrap_or_default();
        let derived_spent = spent.get(customer.as_str()).copied().unwrap_or_default();
        if derived_top != totals.topped_up_total || derived_spent != totals.spent_total {
            report.violations.push(format!(
                "wallet {customer}: stored totals (topped up {}, spent {}) differ from transfers (topped up {derived_top}, spent {derived_spent})",
                totals.topped_up_total, totals.spent_total
            ));
        }
    }
    Ok(())
}

fn check_accounts_and_charges(reader: &Reader, report: &mut VerifyReport) -> Result<(), StoreError> {
    let mut paid: BTreeMap<String, Amount> = BTreeMap::new();
    let mut keys: BTreeMap<(String, String), String> = BTreeMap::new();
    for entry in reader.txn.open_table(CHARGES)?.iter()? {
        let (_, bytes) = entry?;
        report.charges += 1;
        let charge: ChargeRecord = decode("charges", bytes.value())?;
        if charge.status == ChargeStatus::Reversed {
            continue;
        }
        add(&mut paid, charge.account_id.as_str(), charge.amount);
        if let Some(key) = &charge.idempotency_key
            && let Some(first) = keys.insert((charge.company_id.to_string(), key.clone()), charge.id.to_string())
        {
            report.violations.push(format!(
                "company {}: idempotency key {key:?} settled twice ({first}, {})",
                charge.company_id, charge.id
            ));
        }
    }
    accounts::visit_all(reader, |account| {
        report.accounts += 1;
        let derived = paid.get(account.id.as_str()).copied().unwrap_or_default();
        if derived != account.paid_total {
            report.violations.push(format!(
                "account {}: paid_total {} but its charges sum to {derived}",
                account.id, account.paid_total
            ));
        }
    })
}

fn check_holds(
    reader: &Reader,
    stored: &BTreeMap<LedgerAccount, Amount>,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    let mut open: BTreeMap<CustomerId, Amount> = BTreeMap::new();
    let mut indexed: BTreeSet<String> = BTreeSet::new();
    for entry in reader.txn.open_table(HOLD_EXPIRY)?.iter()? {
        let (key, _) = entry?;
        indexed.insert(key.value().1.to_owned());
    }
    for entry in reader.txn.open_table(HOLDS)?.iter()? {
        let (_, bytes) = entry?;
        let hold: HoldRecord = decode("holds", bytes.value())?;
        let is_open = hold.status == HoldStatus::Held;
        if is_open {
            let total = open.entry(hold.customer_id.clone()).or_default();
            *total = total.checked_add(hold.amount).unwrap_or(*total);
        }
        // An open hold the sweeper cannot find would never expire; a closed one in the index is stale.
        if is_open != indexed.contains(hold.id.as_str()) {
            report
                .violations
                .push(format!("hold {}: status {:?} but expiry index says otherwise", hold.id, hold.status));
        }
        if hold.captured > hold.amount || (hold.status != HoldStatus::Captured && !hold.captured.is_zero()) {
            report.violations.push(format!(
                "hold {}: captured {} of {} with status {:?}",
                hold.id, hold.captured, hold.amount, hold.status
            ));
        }
    }
    for (account, balance) in stored {
        if let LedgerAccount::Held(customer) = account {
            let derived = open.get(customer).copied().unwrap_or_default();
            if derived != *balance {
                report.violations.push(format!("wallet {customer}: held {balance} but open holds sum to {derived}"));
            }
        }
    }
    for (customer, total) in &open {
        if !stored.contains_key(&LedgerAccount::Held(customer.clone())) && !total.is_zero() {
            report.violations.push(format!("wallet {customer}: open holds sum to {total} but nothing is held"));
        }
    }
    Ok(())
}

/// Every wallet's `leased` equals Σ `ceiling − charged` over its unreturned leases, and exactly
/// the unreturned leases are in the expiry and account indexes.
fn check_leases(
    reader: &Reader,
    stored: &BTreeMap<LedgerAccount, Amount>,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    let mut unused: BTreeMap<CustomerId, Amount> = BTreeMap::new();
    let mut by_expiry: BTreeSet<String> = BTreeSet::new();
    for entry in reader.txn.open_table(LEASE_EXPIRY)?.iter()? {
        by_expiry.insert(entry?.0.value().1.to_owned());
    }
    let mut by_account: BTreeSet<String> = BTreeSet::new();
    for entry in reader.txn.open_table(LEASES_BY_ACCOUNT)?.iter()? {
        by_account.insert(entry?.1.value().to_owned());
    }
    for entry in reader.txn.open_table(LEASES)?.iter()? {
        let (_, bytes) = entry?;
        let lease: LeaseRecord = decode("leases", bytes.value())?;
        let unreturned = lease.status.is_unreturned();
        if lease.charged > lease.ceiling {
            report
                .violations
                .push(format!("lease {}: charged {} above its ceiling {}", lease.id, lease.charged, lease.ceiling));
        }
        if unreturned {
            let total = unused.entry(lease.customer_id.clone()).or_default();
            *total = total.checked_add(lease.remainder()).unwrap_or(*total);
        }
        if unreturned != by_expiry.contains(lease.id.as_str()) || unreturned != by_account.contains(lease.id.as_str()) {
            report
                .violations
                .push(format!("lease {}: status {:?} but its indexes say otherwise", lease.id, lease.status));
        }
    }
    for (account, balance) in stored {
        if let LedgerAccount::Leased(customer) = account {
            let derived = unused.get(customer).copied().unwrap_or_default();
            if derived != *balance {
                report
                    .violations
                    .push(format!("wallet {customer}: leased {balance} but unreturned leases hold {derived}"));
            }
        }
    }
    for (customer, total) in &unused {
        if !stored.contains_key(&LedgerAccount::Leased(customer.clone())) && !total.is_zero() {
            report.violations.push(format!("wallet {customer}: unreturned leases hold {total} but nothing is leased"));
        }
    }
    Ok(())
}

/// Every settlement mark, in `SETTLED_KEYS` or in a stored answer (schema 3), points at a
/// settled charge of its company under that key, and no key is marked in both places.
fn check_settled_keys(reader: &Reader, report: &mut VerifyReport) -> Result<(), StoreError> {
    let charges = reader.txn.open_table(CHARGES)?;
    let check = |company: &str, key: &str, id: &str, report: &mut VerifyReport| -> Result<(), StoreError> {
        let charge: Option<ChargeRecord> = match charges.get(id)? {
            Some(bytes) => Some(decode("charges", bytes.value())?),
            None => None,
        };
        let fits = charge.is_some_and(|c| {
            c.status == ChargeStatus::Settled
                && c.company_id.as_str() == company
                && c.idempotency_key.as_deref() == Some(key)
        });
        if !fits {
            report.violations.push(format!(
                "company {company}: settled key {key:?} points at {id}, which is not a settled charge under that key"
            ));
        }
        Ok(())
    };
    let settled_keys = reader.txn.open_table(SETTLED_KEYS)?;
    for entry in settled_keys.iter()? {
        let (key, id) = entry?;
        let (company, key) = key.value();
        check(company, key, id.value(), report)?;
    }
    for entry in reader.txn.open_table(IDEMPOTENCY)?.iter()? {
        let (scope_key, bytes) = entry?;
        let (scope, key) = scope_key.value();
        let answer: IdempotencyRecord = decode("idempotency", bytes.value())?;
        let Some(charge) = answer.settled_charge else { continue };
        let Some(company) = scope.strip_prefix("company:") else {
            report.violations.push(format!("answer {scope}/{key:?} marks {charge} settled outside a company's scope"));
            continue;
        };
        check(company, key, charge.as_str(), report)?;
        if settled_keys.get((company, key))?.is_some() {
            report.violations.push(format!("company {company}: key {key:?} is marked settled twice"));
        }
    }
    Ok(())
}
