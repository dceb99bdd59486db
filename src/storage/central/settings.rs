//! Node-wide settings kept in the database (provider keys), created at first start.

use redb::ReadableTable;

use crate::storage::schema::META;
use crate::storage::{StoreError, Tx};

/// The value under `name`, created by `make` if absent.
pub fn get_or_create(tx: &mut Tx<'_>, name: &str, make: impl FnOnce() -> String) -> Result<String, StoreError> {
    let mut meta = tx.txn().open_table(META)?;
    if let Some(value) = meta.get(name)? {
        return Ok(value.value().to_owned());
    }
    let value = make();
    meta.insert(name, value.as_str())?;
    Ok(value)
}
