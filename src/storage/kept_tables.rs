//! The tables a write batch keeps open from first use to its commit. Opening a redb table (and
//! closing it, which stages its root) cost about a fifth of the writer's time when a charge opened
//! a dozen tables one by one (BENCHMARKS.md, run L); kept open, each is opened once per batch.
//!
//! A kept table is reached only through its `Tx` method, never `tx.txn.open_table`, which would
//! find it already open. Each sits in its own `RefCell`, so an operation can hold several at
//! once; holding the same one twice is a `StoreError`, not a panic.

use std::cell::{RefCell, RefMut};

use redb::Table;

use crate::storage::schema;
use crate::storage::{StoreError, Tx};

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
                pub(crate) fn $method(&self) -> Result<RefMut<'_, Table<'a, $key, $value>>, StoreError> {
                    let mut slot = self.kept.$method.try_borrow_mut().map_err(|_| StoreError::Corrupt {
                        table: stringify!($definition),
                        detail: "opened twice at once in one operation".to_owned(),
                    })?;
                    if slot.is_none() {
                        *slot = Some(self.txn.open_table(schema::$definition)?);
                    }
                    Ok(RefMut::map(slot, |table| table.as_mut().expect("opened above")))
                }
            )*
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
