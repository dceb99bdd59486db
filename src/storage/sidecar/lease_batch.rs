//! The sidecar's leases as one write batch sees them, kept in memory: each is read and decoded
//! from `SIDECAR_LEASES` at most once per batch, and each changed one is encoded and written
//! back once, by the pre-commit step. A batch of hold+capture pairs on one account changed its
//! lease twice per pair, and reading, decoding, encoding and storing it each time was about 8 %
//! of the sidecar writer's time (BENCHMARKS.md, the sidecar's twelfth run).
//!
//! Every lease read or write inside a write batch goes through here; readers (outside the
//! writer) see committed state as before. A failed batch drops its `Tx`, and this with it.

use std::collections::{BTreeMap, HashSet};

use redb::ReadableTable;

use crate::storage::codec::{decode, encode};
use crate::storage::sidecar::money::{LocalLease, all_in, leases_in};
use crate::storage::{StoreError, Tx};

/// (account id, lease id): the table's key.
type LeaseKey = (String, String);

/// A lease as the batch sees it (`None`: absent, or forgotten by the batch), and whether the
/// batch changed it.
#[derive(Debug)]
struct Staged {
    lease: Option<LocalLease>,
    changed: bool,
}

/// What a batch holds of the leases. Lives in `Tx`; empty for a batch that touches no lease,
/// and always on central.
#[derive(Debug, Default)]
pub struct LeaseBatch {
    leases: BTreeMap<LeaseKey, Staged>,
    /// Accounts all of whose leases are in `leases`.
    listed: HashSet<String>,
}

fn key(account: &str, lease: &str) -> LeaseKey {
    (account.to_owned(), lease.to_owned())
}

/// The lease as this batch sees it.
pub(crate) fn get(tx: &mut Tx<'_>, account: &str, lease: &str) -> Result<Option<LocalLease>, StoreError> {
    let key = key(account, lease);
    if let Some(staged) = tx.leases.leases.get(&key) {
        return Ok(staged.lease.clone());
    }
    let stored: Option<LocalLease> = {
        let table = tx.sidecar_leases_table()?;
        let value = table.get((account, lease))?;
        value.map(|v| decode("sidecar_leases", v.value())).transpose()?
    };
    tx.leases.leases.insert(key, Staged { lease: stored.clone(), changed: false });
    Ok(stored)
}

/// Stores `lease` as the batch's value, written at the commit.
pub(crate) fn put(tx: &mut Tx<'_>, lease: &LocalLease) {
    let staged = Staged { lease: Some(lease.clone()), changed: true };
    tx.leases.leases.insert(key(&lease.account_id, &lease.id), staged);
}

/// Forgets the lease, removed from the table at the commit.
pub(crate) fn forget(tx: &mut Tx<'_>, account: &str, lease: &str) {
    tx.leases.leases.insert(key(account, lease), Staged { lease: None, changed: true });
}

/// Every lease of `account`, as this batch sees them, in lease id order.
pub(crate) fn of_account(tx: &mut Tx<'_>, account: &str) -> Result<Vec<LocalLease>, StoreError> {
    if !tx.leases.listed.contains(account) {
        let stored = leases_in(&*tx.sidecar_leases_table()?, account)?;
        stage_read(tx, stored);
        tx.leases.listed.insert(account.to_owned());
    }
    let from = (account.to_owned(), String::new());
    Ok(tx
        .leases
        .leases
        .range(from..)
        .take_while(|((owner, _), _)| owner == account)
        .filter_map(|(_, staged)| staged.lease.clone())
        .collect())
}

/// Every lease, as this batch sees them.
pub(crate) fn all(tx: &mut Tx<'_>) -> Result<Vec<LocalLease>, StoreError> {
    let stored = all_in(&*tx.sidecar_leases_table()?)?;
    stage_read(tx, stored);
    Ok(tx.leases.leases.values().filter_map(|staged| staged.lease.clone()).collect())
}

/// Remembers leases as read from the table; one the batch already holds keeps the batch's value.
fn stage_read(tx: &mut Tx<'_>, stored: Vec<LocalLease>) {
    for lease in stored {
        let key = key(&lease.account_id, &lease.id);
        tx.leases.leases.entry(key).or_insert(Staged { lease: Some(lease), changed: false });
    }
}

/// Pre-commit step: writes every lease the batch changed, removes every one it forgot.
pub(crate) fn write_changed(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    let batch = std::mem::take(&mut tx.leases);
    if !batch.leases.values().any(|staged| staged.changed) {
        return Ok(());
    }
    let mut table = tx.sidecar_leases_table()?;
    for ((account, id), staged) in batch.leases.into_iter().filter(|(_, staged)| staged.changed) {
        match staged.lease {
            Some(lease) => table.insert((account.as_str(), id.as_str()), encode(&lease).as_slice())?,
            None => table.remove((account.as_str(), id.as_str()))?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sidecar::money::{LeaseState, all_leases, leases_of};
    use crate::storage::sidecar::open::open_sidecar;
    use crate::storage::{Store, StoreOptions};
    use crate::vocab::money::Amount;

    fn lease(account: &str, id: &str, held: &str) -> LocalLease {
        LocalLease {
            id: id.into(),
            account_id: account.into(),
            ceiling: Amount::parse_stored("10").expect("amount"),
            charged: Amount::ZERO,
            held: Amount::parse_stored(held).expect("amount"),
            deadline_ms: 1_000,
            state: LeaseState::Open,
            last_used_ms: 0,
        }
    }

    fn stored(store: &Store) -> Vec<LocalLease> {
        store.read_blocking(all_leases).expect("read")
    }

    #[test]
    fn a_batch_sees_its_own_lease_changes_and_only_a_committed_batch_stores_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_sidecar(dir.path(), &StoreOptions::default()).expect("open");
        store
            .write_blocking(|tx| {
                put(tx, &lease("acct_1", "lse_1", "0"));
                put(tx, &lease("acct_2", "lse_2", "0"));
                Ok(())
            })
            .expect("first batch");
        assert_eq!(stored(&store), vec![lease("acct_1", "lse_1", "0"), lease("acct_2", "lse_2", "0")]);

        // One batch: a change, a new lease and a forgotten one are seen by every later read of
        // the batch, whichever way it reads.
        let seen = store
            .write_blocking(|tx| {
                let mut first = get(tx, "acct_1", "lse_1")?.expect("stored");
                first.held = Amount::parse_stored("4").expect("amount");
                put(tx, &first);
                put(tx, &lease("acct_1", "lse_3", "1"));
                forget(tx, "acct_2", "lse_2");
                Ok((get(tx, "acct_1", "lse_1")?, of_account(tx, "acct_1")?, get(tx, "acct_2", "lse_2")?, all(tx)?))
            })
            .expect("second batch");
        let changed = vec![lease("acct_1", "lse_1", "4"), lease("acct_1", "lse_3", "1")];
        assert_eq!(seen, (Some(changed[0].clone()), changed.clone(), None, changed.clone()));
        assert_eq!(stored(&store), changed, "the commit wrote the changes and removed the forgotten lease");
        let second_account = store.read_blocking(|r| leases_of(r, "acct_2")).expect("read");
        assert!(second_account.is_empty());

        // A batch that fails leaves the stored leases as they were.
        let failed = store.write_blocking(|tx| {
            put(tx, &lease("acct_1", "lse_1", "9"));
            forget(tx, "acct_1", "lse_3");
            Err::<(), _>(StoreError::Corrupt { table: "test", detail: "the batch fails".into() })
        });
        assert!(failed.is_err());
        assert_eq!(stored(&store), changed);
    }
}
