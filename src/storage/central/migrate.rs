//! Upgrades a central file written by an older schema version, inside the transaction that opens
//! it: the whole upgrade commits with the new version stamp, or nothing does and the file keeps
//! its old version.

use redb::{ReadableTable, TableDefinition, Value, WriteTransaction};

use crate::storage::StoreError;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{AccountRecord, WalletRecord};
use crate::storage::schema::{
    ACCOUNT_CHARGES, ACCOUNTS, CHARGES_BY_ACCOUNT_V1, OPERATIONS_V1, STATEMENT_LINES, WALLETS,
};
use crate::storage::threads::{self, Thread};

/// Brings a file of version `from` to `SCHEMA_VERSION`, one step per version.
pub fn migrate(txn: &WriteTransaction, from: u64) -> Result<(), StoreError> {
    if from < 2 {
        thread_statements(txn)?;
        thread_account_charges(txn)?;
    }
    Ok(())
}

/// Version 1 → 2: the (customer, seq) statement index becomes the statement log, each line linked
/// to the customer's line before it, and each wallet record names its newest line. Seqs are kept,
/// so the statement's cursors stay valid.
fn thread_statements(txn: &WriteTransaction) -> Result<(), StoreError> {
    let heads = thread_index(txn, OPERATIONS_V1, STATEMENT_LINES, "statement_lines")?;
    let mut wallets = txn.open_table(WALLETS)?;
    for (customer, head) in heads {
        let mut wallet: WalletRecord = get_record(&wallets, "wallets", &customer)?.unwrap_or_default();
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
        let mut account: AccountRecord = get_record(&accounts, "accounts", &id)?.ok_or_else(|| {
            StoreError::Corrupt { table: "charges_by_account", detail: format!("charges of unknown account {id}") }
        })?;
        account.charges_head = Some(head);
        put_record(&mut accounts, &id, &account)?;
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
