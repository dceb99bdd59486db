//! `verify`'s check of the threads (`storage::threads`): every entry of the statement and
//! account-charges logs links to its owner's entry before it, every wallet and account record
//! names its owner's newest entry, and every threaded charge is the account's.

use std::collections::BTreeMap;

use redb::{ReadableTable, Value};

use crate::storage::central::accounts;
use crate::storage::central::open::get_record;
use crate::storage::central::records::{ChargeRecord, WalletRecord};
use crate::storage::central::verify::VerifyReport;
use crate::storage::codec::decode;
use crate::storage::schema::{ACCOUNT_CHARGES, CHARGES, STATEMENT_LINES, WALLETS};
use crate::storage::{Reader, StoreError};

pub fn check_threads(reader: &Reader, report: &mut VerifyReport) -> Result<(), StoreError> {
    let mut statements = ends(&reader.txn.open_table(STATEMENT_LINES)?, "statement line", report, |_, _, _| None)?;
    for entry in reader.txn.open_table(WALLETS)?.iter()? {
        let (customer, bytes) = entry?;
        let wallet: WalletRecord = decode("wallets", bytes.value())?;
        let newest = statements.remove(customer.value());
        compare_head(report, "wallet", customer.value(), "statement line", wallet.statement_head, newest);
    }
    let charges = reader.txn.open_table(CHARGES)?;
    let mut account_charges =
        ends(&reader.txn.open_table(ACCOUNT_CHARGES)?, "account charge", report, |seq, account, id: &str| {
            match get_record::<ChargeRecord>(&charges, "charges", id) {
                Ok(Some(charge)) if charge.account_id.as_str() == account => None,
                Ok(Some(charge)) => Some(format!("account charge {seq}: {id} of {account} is {}'s", charge.account_id)),
                Ok(None) => Some(format!("account charge {seq}: {id} of {account} does not exist")),
                Err(error) => Some(format!("account charge {seq}: {error}")),
            }
        })?;
    accounts::visit_all(reader, |account| {
        let newest = account_charges.remove(account.id.as_str());
        compare_head(report, "account", account.id.as_str(), "charge", account.charges_head, newest);
    })?;
    for (owner, seq) in statements {
        report.violations.push(format!("statement lines of {owner} (newest {seq}) but no wallet record names them"));
    }
    for (owner, seq) in account_charges {
        report.violations.push(format!("account charges of {owner} (newest {seq}) but the account does not exist"));
    }
    Ok(())
}

/// Walks a thread's log in seq order, checking each entry's link (and its item with `check`);
/// returns each owner's newest seq.
fn ends<I: Value + 'static>(
    log: &impl ReadableTable<u64, (&'static str, u64, I)>,
    what: &str,
    report: &mut VerifyReport,
    mut check: impl FnMut(u64, &str, I::SelfType<'_>) -> Option<String>,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut newest: BTreeMap<String, u64> = BTreeMap::new();
    for entry in log.iter()? {
        let (seq, value) = entry?;
        let seq = seq.value();
        let (owner, prev, item) = value.value();
        let before = newest.get(owner).copied().unwrap_or(0);
        if prev != before {
            report
                .violations
                .push(format!("{what} {seq} of {owner} links to {prev}, but the owner's entry before it is {before}"));
        }
        report.violations.extend(check(seq, owner, item));
        newest.insert(owner.to_owned(), seq);
    }
    Ok(newest)
}

fn compare_head(
    report: &mut VerifyReport,
    kind: &str,
    owner: &str,
    what: &str,
    stored: Option<u64>,
    newest: Option<u64>,
) {
    if stored != newest {
        report
            .violations
            .push(format!("{kind} {owner}: names {stored:?} as its newest {what}, the log has {newest:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;
    use crate::storage::central::open::{open_central, put_record};

    #[test]
    fn a_broken_link_or_a_stale_head_is_a_violation() {
        // Proves verify reports a line linked past its owner's previous one and a head that is not the newest.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_central(dir.path(), &StoreOptions::default()).expect("open");
        let violations = |store: &crate::storage::Store| {
            store
                .read_blocking(|r| {
                    let mut report = VerifyReport::default();
                    check_threads(r, &mut report)?;
                    Ok(report.violations)
                })
                .expect("read")
        };
        let write = |entries: Vec<(u64, u64)>, head: Option<u64>| {
            store
                .write_blocking(move |tx| {
                    let mut lines = tx.statement_lines_table()?;
                    for (seq, prev) in entries {
                        lines.insert(seq, ("cus_x", prev, b"{}".as_slice()))?;
                    }
                    let wallet = WalletRecord { statement_head: head, ..WalletRecord::default() };
                    put_record(&mut *tx.wallets_table()?, "cus_x", &wallet)
                })
                .expect("write")
        };
        write(vec![(1, 0), (2, 1)], Some(2));
        assert_eq!(violations(&store), Vec::<String>::new());
        write(vec![(3, 1)], Some(2));
        assert_eq!(
            violations(&store),
            [
                "statement line 3 of cus_x links to 1, but the owner's entry before it is 2",
                "wallet cus_x: names Some(2) as its newest statement line, the log has Some(3)",
            ]
        );
        store.close();
    }
}
