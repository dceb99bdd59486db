//! Upgrades a central file written by an older schema version, inside the transaction that opens
//! it: the whole upgrade commits with the new version stamp, or nothing does and the file keeps
//! its old version.

use std::collections::BTreeMap;

use redb::{ReadableTable, TableDefinition, Value, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::domain::ledger::LedgerAccount;
use crate::storage::StoreError;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{AccountRunning, WalletRecord};
use crate::storage::codec::decode;
use crate::storage::schema::{
    ACCOUNT_CHARGES, ACCOUNTS, CHARGES_BY_ACCOUNT_V1, LEDGER_BALANCES, OPERATIONS_V1, STATEMENT_LINES, WALLETS,
};
use crate::storage::threads::{self, Thread};
use crate::vocab::ids::{AccountId, CustomerId};
use crate::vocab::money::Amount;

/// A wallet record as versions 1 and 2 wrote it: totals and (from 2) the statement head; the
/// balances were in `LEDGER_BALANCES`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct WalletRecordV2 {
    topped_up_total: Amount,
    spent_total: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    statement_head: Option<u64>,
}

/// Brings a file of version `from` to `SCHEMA_VERSION`, one step per version.
pub fn migrate(txn: &WriteTransaction, from: u64) -> Result<(), StoreError> {
    if from < 2 {
        thread_statements(txn)?;
        thread_account_charges(txn)?;
    }
    if from < 3 {
        wallets_whole(txn)?;
    }
    // 3 → 4 moves nothing: records are written in MessagePack from now on, and the JSON ones
    // already stored are read as they are (`storage::codec`). 4 → 5 moves nothing either: new
    // idempotent answers keep their body as JSON text, and older ones are read as they are
    // (`storage::idempotency`).
    Ok(())
}

/// Version 1 → 2: the (customer, seq) statement index becomes the statement log, each line linked
/// to the customer's line before it, and each wallet record names its newest line. Seqs are kept,
/// so the statement's cursors stay valid.
fn thread_statements(txn: &WriteTransaction) -> Result<(), StoreError> {
    let heads = thread_index(txn, OPERATIONS_V1, STATEMENT_LINES, "statement_lines")?;
    let mut wallets = txn.open_table(WALLETS)?;
    for (customer, head) in heads {
        let mut wallet: WalletRecordV2 = get_record(&wallets, "wallets", &customer)?.unwrap_or_default();
        wallet.statement_head = Some(head);
        put_record(&mut wallets, &customer, &wallet)?;
    }
    Ok(())
}

/// Version 1 → 2: the (account, seq) charges index becomes the account-charges log, and each
/// account record names its newest charge.
fn thread_account_charges(txn: &WriteTransaction) -> Result<(), StoreError> {
    let heads = thread_index(txn, CHARGES_BY_ACCOUNT_V1, ACCOUNT_CHARGES, "account_charges")?;
    let mut accounts = txn.open_table(ACCOUNTS)?;
    for (id, head) in heads {
        // The version 2 account record, as JSON: this build's `AccountRecord` no longer stores the head.
        let mut account: serde_json::Value = get_record(&accounts, "accounts", &id)?.ok_or_else(|| {
            StoreError::Corrupt { table: "charges_by_account", detail: format!("charges of unknown account {id}") }
        })?;
        let corrupt = || StoreError::Corrupt { table: "accounts", detail: format!("{id} is not a JSON object") };
        account.as_object_mut().ok_or_else(corrupt)?.insert("charges_head".into(), head.into());
        put_record(&mut accounts, &id, &account)?;
    }
    Ok(())
}

/// The running state of an account as versions 1 and 2 kept it in the account record.
#[derive(Debug, Deserialize)]
struct AccountRunningV2 {
    customer_id: CustomerId,
    paid_total: Amount,
    #[serde(default)]
    charges_head: Option<u64>,
}

/// Version 2 → 3: each wallet's four balances move from `LEDGER_BALANCES` into its record, and
/// each account's `paid_total` and `charges_head` from its record into its customer's wallet
/// record, so a wallet is one record and an account record changes only when the account does.
/// Other ledger accounts (revenue, funding) stay where they are.
fn wallets_whole(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut records: BTreeMap<String, WalletRecord> = BTreeMap::new();
    {
        let mut balances = txn.open_table(LEDGER_BALANCES)?;
        let mut moved = Vec::new();
        for entry in balances.iter()? {
            let (key, value) = entry?;
            let corrupt = |detail: String| StoreError::Corrupt { table: "ledger_balances", detail };
            let account = LedgerAccount::parse_key(key.value())
                .ok_or_else(|| corrupt(format!("unknown ledger account key {:?}", key.value())))?;
            let Some(customer) = account.wallet_owner() else { continue };
            let amount = Amount::parse_stored(value.value()).map_err(|e| corrupt(e.to_string()))?;
            let record = records.entry(customer.to_string()).or_default();
            *record.side_mut(&account).expect("a wallet owner's account is one of its sides") = amount;
            moved.push(key.value().to_owned());
        }
        for key in moved {
            balances.remove(key.as_str())?;
        }
    }
    {
        let mut accounts = txn.open_table(ACCOUNTS)?;
        let mut rewritten = Vec::new();
        for entry in accounts.iter()? {
            let (id, bytes) = entry?;
            let corrupt = |detail: String| StoreError::Corrupt { table: "accounts", detail };
            let running: AccountRunningV2 = decode("accounts", bytes.value())?;
            let account = AccountId::parse(id.value()).map_err(|e| corrupt(format!("{}: {e}", id.value())))?;
            if running.paid_total != Amount::ZERO || running.charges_head.is_some() {
                let state = AccountRunning { paid_total: running.paid_total, charges_head: running.charges_head };
                records.entry(running.customer_id.to_string()).or_default().accounts.insert(account, state);
            }
            let mut stored: serde_json::Value = decode("accounts", bytes.value())?;
            let object =
                stored.as_object_mut().ok_or_else(|| corrupt(format!("{} is not a JSON object", id.value())))?;
            object.remove("paid_total");
            object.remove("charges_head");
            rewritten.push((id.value().to_owned(), stored));
        }
        for (id, stored) in rewritten {
            put_record(&mut accounts, &id, &stored)?;
        }
    }
    let mut wallets = txn.open_table(WALLETS)?;
    for entry in wallets.iter()? {
        let (customer, _) = entry?;
        records.entry(customer.value().to_owned()).or_default();
    }
    for (customer, mut record) in records {
        let old: WalletRecordV2 = get_record(&wallets, "wallets", &customer)?.unwrap_or_default();
        record.topped_up_total = old.topped_up_total;
        record.spent_total = old.spent_total;
        record.statement_head = old.statement_head;
        put_record(&mut wallets, &customer, &record)?;
    }
    Ok(())
}

/// Copies an (owner, seq) index into `thread` under the same seqs, each entry linked to its
/// owner's entry before it, and deletes the index; returns each owner's newest seq.
fn thread_index<I: Value + 'static>(
    txn: &WriteTransaction,
    index: TableDefinition<'static, (&'static str, u64), I>,
    thread: Thread<I>,
    name: &'static str,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut heads = Heads::default();
    {
        let index = txn.open_table(index)?;
        let mut thread = txn.open_table(thread)?;
        for entry in index.iter()? {
            let (key, item) = entry?;
            let (owner, seq) = key.value();
            let before = heads.advance(owner, seq);
            threads::append(&mut thread, name, seq, owner, before, item.value())?;
        }
    }
    txn.delete_table(index)?;
    Ok(heads.finish())
}

/// Each owner's newest seq, fed in (owner, seq) order as a version 1 index lists them.
#[derive(Debug, Default)]
struct Heads {
    done: Vec<(String, u64)>,
    current: Option<(String, u64)>,
}

impl Heads {
    /// Records `seq` as `owner`'s newest; returns the owner's entry before it.
    fn advance(&mut self, owner: &str, seq: u64) -> Option<u64> {
        let before = match self.current.take() {
            Some((current, last)) if current == owner => Some(last),
            Some(finished) => {
                self.done.push(finished);
                None
            }
            None => None,
        };
        self.current = Some((owner.to_owned(), seq));
        before
    }

    fn finish(mut self) -> Vec<(String, u64)> {
        self.done.extend(self.current.take());
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::codec::encode;
    use crate::vocab::ids::{CompanyId, CustomerId};
    use crate::vocab::money::Currency;
    use redb::ReadableDatabase;

    fn rub(text: &str) -> Amount {
        Amount::parse_request(text, Currency::parse("RUB").expect("RUB")).expect("a valid amount")
    }

    #[test]
    fn version_2_wallet_balances_move_into_their_records_and_nothing_else_moves() {
        // Proves the 2 → 3 step puts each wallet key's balance into its own side of its own
        // wallet's record, keeps the totals and statement head, gives a wallet with a record
        // but no balances zero sides, makes a record for balances without one, and leaves a
        // company's revenue in `LEDGER_BALANCES`; and moves an account's paid total and thread
        // head into its customer's wallet record, out of the account record.
        let dir = tempfile::tempdir().expect("temp dir");
        let db = redb::Database::create(dir.path().join("v2.redb")).expect("create");
        let (ann, bob, cat) = (CustomerId::generate(), CustomerId::generate(), CustomerId::generate());
        let account = AccountId::generate();
        let revenue = LedgerAccount::Revenue(CompanyId::generate()).key();
        let txn = db.begin_write().expect("write");
        {
            let mut balances = txn.open_table(LEDGER_BALANCES).expect("balances");
            for (account, value) in [
                (LedgerAccount::Available(ann.clone()), "7"),
                (LedgerAccount::Held(ann.clone()), "6"),
                (LedgerAccount::Debt(ann.clone()), "2"),
                (LedgerAccount::Leased(cat.clone()), "4"),
            ] {
                balances.insert(account.key().as_str(), rub(value).to_stored().as_str()).expect("insert");
            }
            balances.insert(revenue.as_str(), rub("3").to_stored().as_str()).expect("insert");
            let mut wallets = txn.open_table(WALLETS).expect("wallets");
            let old = WalletRecordV2 { topped_up_total: rub("20"), spent_total: rub("5"), statement_head: Some(9) };
            wallets.insert(ann.as_str(), encode(&old).as_slice()).expect("insert");
            let old = WalletRecordV2 { topped_up_total: rub("1"), spent_total: rub("1"), statement_head: None };
            wallets.insert(bob.as_str(), encode(&old).as_slice()).expect("insert");
            let mut accounts = txn.open_table(ACCOUNTS).expect("accounts");
            let v2 = serde_json::json!({"id": account.as_str(), "company_id": CompanyId::generate().as_str(),
                "customer_id": ann.as_str(), "created_at": 1_800_000_000_000_u64, "paid_total": "5", "charges_head": 8});
            accounts.insert(account.as_str(), encode(&v2).as_slice()).expect("insert");
        }
        wallets_whole(&txn).expect("migrate");
        txn.commit().expect("commit");

        let read = db.begin_read().expect("read");
        let wallets = read.open_table(WALLETS).expect("wallets");
        let record = |c: &CustomerId| -> WalletRecord {
            get_record(&wallets, "wallets", c.as_str()).expect("decode").expect("a record")
        };
        let z = Amount::ZERO;
        assert_eq!(
            record(&ann),
            WalletRecord {
                available: rub("7"),
                held: rub("6"),
                leased: z,
                debt: rub("2"),
                topped_up_total: rub("20"),
                spent_total: rub("5"),
                statement_head: Some(9),
                accounts: [(account.clone(), AccountRunning { paid_total: rub("5"), charges_head: Some(8) })].into(),
            }
        );
        assert_eq!(
            record(&bob),
            WalletRecord { topped_up_total: rub("1"), spent_total: rub("1"), ..WalletRecord::default() }
        );
        assert_eq!(record(&cat), WalletRecord { leased: rub("4"), ..WalletRecord::default() });
        let balances = read.open_table(LEDGER_BALANCES).expect("balances");
        let left: Vec<String> =
            balances.iter().expect("iter").map(|e| e.expect("entry").0.value().to_owned()).collect();
        assert_eq!(left, [revenue]);
        let accounts = read.open_table(ACCOUNTS).expect("accounts");
        let stored: serde_json::Value =
            get_record(&accounts, "accounts", account.as_str()).expect("decode").expect("kept");
        assert!(stored.get("paid_total").is_none() && stored.get("charges_head").is_none(), "{stored}");
        assert_eq!(stored["customer_id"], ann.as_str());
    }

    #[test]
    fn heads_link_each_owners_entries_and_end_at_its_newest() {
        // Proves the version 1 scan links every owner's entries in order and keeps each owner's newest.
        let mut heads = Heads::default();
        let links: Vec<Option<u64>> =
            [("acc_a", 3), ("acc_a", 7), ("acc_a", 9), ("acc_b", 4), ("acc_c", 1), ("acc_c", 8)]
                .into_iter()
                .map(|(owner, seq)| heads.advance(owner, seq))
                .collect();
        assert_eq!(links, [None, Some(3), Some(7), None, None, Some(1)]);
        assert_eq!(heads.finish(), [("acc_a".to_owned(), 9), ("acc_b".to_owned(), 4), ("acc_c".to_owned(), 8)]);
    }
}
