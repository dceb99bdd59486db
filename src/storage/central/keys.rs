//! Signing keys at rest: created at first start, added by rotation, retired when a newer key
//! takes over, unpublished once their last token has expired.

use redb::ReadableTable;

use crate::storage::central::changes::record_change;
use crate::storage::central::oauth_records::{Change, SigningKeyRecord};
use crate::storage::central::open::put_record;
use crate::storage::codec::decode;
use crate::storage::schema::SIGNING_KEYS;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::time::Timestamp;

fn all_from(table: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Vec<SigningKeyRecord>, StoreError> {
    let mut keys = Vec::new();
    for entry in table.iter()? {
        let (_, bytes) = entry?;
        keys.push(decode("signing_keys", bytes.value())?);
    }
    keys.sort_by_key(|k: &SigningKeyRecord| k.created_at);
    Ok(keys)
}

/// Every key ever made, oldest first.
pub fn all(reader: &Reader) -> Result<Vec<SigningKeyRecord>, StoreError> {
    all_from(&reader.txn.open_table(SIGNING_KEYS)?)
}

pub fn all_in_tx(tx: &Tx<'_>) -> Result<Vec<SigningKeyRecord>, StoreError> {
    all_from(&tx.txn().open_table(SIGNING_KEYS)?)
}

/// Stores `key` and logs its publication for the feed.
pub fn add(tx: &mut Tx<'_>, key: &SigningKeyRecord, now: Timestamp) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(SIGNING_KEYS)?, &key.kid, key)?;
    record_change(tx, None, Change::KeyAdded { kid: key.kid.clone() }, now).map(drop)
}

/// Rewrites a key's lifecycle fields (retirement, end of publication).
pub fn update(tx: &mut Tx<'_>, key: &SigningKeyRecord, now: Timestamp) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(SIGNING_KEYS)?, &key.kid, key)?;
    if key.retired_at.is_some() {
        record_change(tx, None, Change::KeyRetired { kid: key.kid.clone() }, now)?;
    }
    Ok(())
}
