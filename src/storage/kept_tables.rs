//! The tables a write batch keeps open from first use to its commit. Opening a redb table (and
//! closing it, which stages its root) cost about a fifth of the writer's time when a charge opened
//! a dozen tables one by one (BENCHMARKS.md, run L); kept open, each is opened once per batch.
//!
//! A kept table is reached only through its `Tx` method, never `tx.txn().open_table`, which would
//! find it already open. Each sits in its own `RefCell`, so an operation can hold several at
//! once; holding the same one twice is a `StoreError`, not a panic.
//!
//! A kept table changes only through `KeptTable::insert` and `remove`, which also write the change
//! into the batch's redo record when the store keeps a redo log (`redo_log.rs`); `replay` applies
//! such a record's writes again.

use std::borrow::Borrow;
use std::cell::{Cell, RefCell, RefMut};
use std::ops::{Deref, DerefMut};

use redb::{AccessGuard, Key, Table, TableHandle, Value, WriteTransaction};

use crate::storage::redo_ops::{RedoOp, RedoOps};
use crate::storage::schema;
use crate::storage::{StoreError, Tx};

/// A kept table as an operation holds it: reads through `Deref`, writes through `insert` and
/// `remove`, which the batch's redo record follows. Any other change goes through `DerefMut`,
/// which the record cannot follow: the batch then commits durably.
pub(crate) struct KeptTable<'t, 'a, K: Key + 'static, V: Value + 'static> {
    table: RefMut<'t, Table<'a, K, V>>,
    name: &'static str,
    redo: Option<&'t RefCell<RedoOps>>,
    unlogged_change: &'t Cell<bool>,
}

impl<'a, K: Key + 'static, V: Value + 'static> KeptTable<'_, 'a, K, V> {
    pub(crate) fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<Option<AccessGuard<'_, V>>, redb::StorageError> {
        if let Some(redo) = self.redo {
            let (key, value) = (K::as_bytes(key.borrow()), V::as_bytes(value.borrow()));
            redo.borrow_mut().put(self.name, key.as_ref(), value.as_ref());
        }
        self.table.insert(key, value)
    }

    pub(crate) fn remove<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<AccessGuard<'_, V>>, redb::StorageError> {
        if let Some(redo) = self.redo {
            redo.borrow_mut().remove(self.name, K::as_bytes(key.borrow()).as_ref());
        }
        self.table.remove(key)
    }
}

impl<'a, K: Key + 'static, V: Value + 'static> Deref for KeptTable<'_, 'a, K, V> {
    type Target = Table<'a, K, V>;

    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

impl<K: Key + 'static, V: Value + 'static> DerefMut for KeptTable<'_, '_, K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.unlogged_change.set(true);
        &mut self.table
    }
}

/// Applies one write of a redo record in `txn`.
fn apply<K: Key + 'static, V: Value + 'static>(
    txn: &WriteTransaction,
    definition: redb::TableDefinition<K, V>,
    op: RedoOp<'_>,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(definition)?;
    match op {
        RedoOp::Put { key, value, .. } => drop(table.insert(K::from_bytes(key), V::from_bytes(value))?),
        RedoOp::Remove { key, .. } => drop(table.remove(K::from_bytes(key))?),
    }
    Ok(())
}

macro_rules! kept_tables {
    ($($method:ident: $definition:ident => ($key:ty, $value:ty);)*) => {
        /// Each kept table, once the batch has opened it.
        #[derive(Default)]
        pub(crate) struct KeptTables<'a> {
            $($method: RefCell<Option<Table<'a, $key, $value>>>,)*
        }

        impl<'a> Tx<'a> {
            $(
                #[doc = concat!("`", stringify!($definition), "`, opened at its first use in the batch.")]
                pub(crate) fn $method(&self) -> Result<KeptTable<'_, 'a, $key, $value>, StoreError> {
                    let mut slot = self.kept.$method.try_borrow_mut().map_err(|_| StoreError::Corrupt {
                        table: stringify!($definition),
                        detail: "opened twice at once in one operation".to_owned(),
                    })?;
                    if slot.is_none() {
                        *slot = Some(self.open_kept(schema::$definition)?);
                    }
                    Ok(KeptTable {
                        table: RefMut::map(slot, |table| table.as_mut().expect("opened above")),
                        name: schema::$definition.name(),
                        redo: self.redo(),
                        unlogged_change: self.used_txn_flag(),
                    })
                }
            )*
        }

        /// Applies one write of a redo record: to a kept table, or to `COUNTERS`
        /// (`Tx::write_counters`).
        pub(crate) fn replay(txn: &WriteTransaction, op: RedoOp<'_>) -> Result<(), StoreError> {
            let table = match op { RedoOp::Put { table, .. } | RedoOp::Remove { table, .. } => table };
            $(
                if table == schema::$definition.name() {
                    return apply(txn, schema::$definition, op);
                }
            )*
            if table == schema::COUNTERS.name() {
                return apply(txn, schema::COUNTERS, op);
            }
            Err(StoreError::Corrupt { table: "redo log", detail: format!("a write to {table}, which is not logged") })
        }
    };
}

kept_tables! {
    charges_table: CHARGES => (&'static str, &'static [u8]);
    charges_by_company_table: CHARGES_BY_COMPANY => ((&'static str, u64), &'static str);
    account_charges_table: ACCOUNT_CHARGES => (u64, (&'static str, u64, &'static str));
    accounts_table: ACCOUNTS => (&'static str, &'static [u8]);
    companies_table: COMPANIES => (&'static str, &'static [u8]);
    statement_lines_table: STATEMENT_LINES => (u64, (&'static str, u64, &'static [u8]));
    transfers_table: TRANSFERS => (u64, &'static [u8]);
    ledger_balances_table: LEDGER_BALANCES => (&'static str, &'static str);
    wallets_table: WALLETS => (&'static str, &'static [u8]);
    idempotency_table: IDEMPOTENCY => ((&'static str, &'static str), &'static [u8]);
    settled_keys_table: SETTLED_KEYS => ((&'static str, &'static str), &'static str);
    grants_table: GRANTS => (&'static str, &'static [u8]);
    services_table: SERVICES => (&'static str, &'static [u8]);
    changes_table: CHANGES => (u64, &'static [u8]);
    outbox_table: OUTBOX => (u64, &'static [u8]);
    holds_table: HOLDS => (&'static str, &'static [u8]);
    holds_by_account_table: HOLDS_BY_ACCOUNT => ((&'static str, u64), &'static str);
    hold_expiry_table: HOLD_EXPIRY => ((u64, &'static str), ());
    leases_table: LEASES => (&'static str, &'static [u8]);
    leases_by_account_table: LEASES_BY_ACCOUNT => ((&'static str, u64), &'static str);
    lease_expiry_table: LEASE_EXPIRY => ((u64, &'static str), ());
    usage_seen_table: USAGE_SEEN => ((&'static str, u64), &'static str);
    sidecar_leases_table: SIDECAR_LEASES => ((&'static str, &'static str), &'static [u8]);
    sidecar_holds_table: SIDECAR_HOLDS => (&'static str, &'static [u8]);
    sidecar_hold_expiry_table: SIDECAR_HOLD_EXPIRY => ((u64, &'static str), ());
    sidecar_charges_table: SIDECAR_CHARGES => (&'static str, &'static [u8]);
    sidecar_usage_outbox_table: SIDECAR_USAGE_OUTBOX => (u64, &'static [u8]);
    sidecar_answer_log_table: SIDECAR_ANSWER_LOG => (u64, &'static [u8]);
    sidecar_answer_runs_table: SIDECAR_ANSWER_RUNS => ((u64, &'static str, &'static str), u64);
}

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;
    use redb::{Database, ReadableTable};

    use super::*;
    use crate::storage::schema::CHARGES;

    #[test]
    fn a_kept_table_stays_open_for_the_batch_and_a_second_hold_is_an_error() {
        // Proves one open serves the whole batch, holding it twice is a StoreError, and a raw open is refused.
        let db = Database::builder().create_with_backend(InMemoryBackend::new()).expect("db");
        let txn = db.begin_write().expect("write");
        let tx = Tx::new(&txn);
        {
            let mut charges = tx.charges_table().expect("first open");
            charges.insert("chg_1", b"{}".as_slice()).expect("insert");
            let second = tx.charges_table().map(|_| ());
            assert!(matches!(second, Err(StoreError::Corrupt { table: "CHARGES", .. })), "{second:?}");
        }
        let again = tx.charges_table().expect("free again");
        assert_eq!(again.get("chg_1").expect("get").map(|v| v.value().to_vec()), Some(b"{}".to_vec()));
        drop(again);
        assert!(txn.open_table(CHARGES).is_err(), "redb refuses a second open while the batch keeps it");
        drop(tx);
        txn.commit().expect("commit");
    }
}
