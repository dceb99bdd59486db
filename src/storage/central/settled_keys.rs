//! Settlement-time dedupe (DESIGN §5): an idempotency key maps to at most one settled money
//! movement per company, forever, whichever node (central or a sidecar) took the request.

use redb::ReadableTable;

use crate::storage::{StoreError, Tx};
use crate::vocab::ids::{ChargeId, CompanyId};

/// The charge already settled under (company, key), if any.
pub fn settled_under(tx: &Tx<'_>, company: &CompanyId, key: &str) -> Result<Option<ChargeId>, StoreError> {
    let Some(id) = tx.settled_keys_table()?.get((company.as_str(), key))?.map(|v| v.value().to_owned()) else {
        return Ok(None);
    };
    ChargeId::parse(&id)
        .map(Some)
        .map_err(|e| StoreError::Corrupt { table: "settled_keys", detail: format!("{id}: {e}") })
}

/// Marks (company, key) as settled by `charge`. The caller has checked it was free.
pub fn settle(tx: &mut Tx<'_>, company: &CompanyId, key: &str, charge: &ChargeId) -> Result<(), StoreError> {
    let previous = tx.settled_keys_table()?.insert((company.as_str(), key), charge.as_str())?.is_some();
    assert!(!previous, "an idempotency key is settled at most once per company");
    Ok(())
}
