//! Settlement-time dedupe (DESIGN §5): an idempotency key maps to at most one settled money
//! movement per company, forever, whichever node (central or a sidecar) took the request.
//!
//! A mark lives in one of two places (schema 3). A batch keeps its new marks in memory
//! (`SettledMarks`). A stored answer written in the same batch under the same (company, key)
//! (scope `company:{id}`) takes the mark: that is the charge's own request for a charge or
//! capture taken at central, the entry it writes anyway, so the charge writes one scattered leaf
//! for both; it can also be another request under that key after a sidecar's usage settled it
//! earlier in the batch, and the mark means the same there. The pre-commit step writes every
//! mark no answer took (a sidecar's usage, a 5xx answer, which is never stored) to
//! `SETTLED_KEYS`.

use std::collections::HashMap;

use redb::ReadableTable;

use crate::storage::codec::decode;
use crate::storage::idempotency::{IdempotencyRecord, company_scope};
use crate::storage::{StoreError, Tx};
use crate::vocab::ids::{ChargeId, CompanyId};

/// The marks a batch made and no stored answer has taken yet, by (answer scope, key).
#[derive(Debug, Default)]
pub struct SettledMarks {
    pending: HashMap<(String, String), (CompanyId, ChargeId)>,
}

/// The charge already settled under (company, key), if any, as of this transaction.
pub fn settled_under(tx: &Tx<'_>, company: &CompanyId, key: &str) -> Result<Option<ChargeId>, StoreError> {
    let scope = company_scope(company);
    if let Some((_, charge)) = tx.settled.pending.get(&(scope.clone(), key.to_owned())) {
        return Ok(Some(charge.clone()));
    }
    if let Some(id) = tx.settled_keys_table()?.get((company.as_str(), key))?.map(|v| v.value().to_owned()) {
        return ChargeId::parse(&id)
            .map(Some)
            .map_err(|e| StoreError::Corrupt { table: "settled_keys", detail: format!("{id}: {e}") });
    }
    let answers = tx.idempotency_table()?;
    let Some(bytes) = answers.get((scope.as_str(), key))? else { return Ok(None) };
    let answer: IdempotencyRecord = decode("idempotency", bytes.value())?;
    Ok(answer.settled_charge)
}

/// Marks (company, key) as settled by `charge`. The caller has checked it was free.
pub fn settle(tx: &mut Tx<'_>, company: &CompanyId, key: &str, charge: &ChargeId) -> Result<(), StoreError> {
    let entry = (company_scope(company), key.to_owned());
    let previous = tx.settled.pending.insert(entry, (company.clone(), charge.clone()));
    assert!(previous.is_none(), "an idempotency key is settled at most once per company");
    Ok(())
}

/// The mark this batch made under the answer's (scope, key), handed to the answer about to be
/// stored there; `None` when the batch made none.
pub fn take_for_answer(tx: &mut Tx<'_>, scope: &str, key: &str) -> Option<ChargeId> {
    tx.settled.pending.remove(&(scope.to_owned(), key.to_owned())).map(|(_, charge)| charge)
}

/// Pre-commit step: the batch's marks no answer took go to `SETTLED_KEYS`.
pub fn write_pending(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    let pending = std::mem::take(&mut tx.settled.pending);
    if pending.is_empty() {
        return Ok(());
    }
    let mut table = tx.settled_keys_table()?;
    for ((_, key), (company, charge)) in pending {
        let previous = table.insert((company.as_str(), key.as_str()), charge.as_str())?.is_some();
        assert!(!previous, "an idempotency key is settled at most once per company");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;
    use crate::storage::central::open::open_central;
    use crate::storage::idempotency::remember;
    use crate::vocab::json_text::JsonText;
    use crate::vocab::time::Timestamp;

    fn answer(settled_charge: Option<ChargeId>) -> IdempotencyRecord {
        let created_at = Timestamp::from_unix_ms(1_800_000_000_000);
        IdempotencyRecord {
            fingerprint: "f".into(),
            status: 201,
            body: JsonText::of(&serde_json::Value::Null),
            created_at,
            settled_charge,
        }
    }

    #[test]
    fn a_mark_goes_into_the_answer_stored_under_its_key_and_otherwise_into_settled_keys() {
        // Proves a batch sees its own marks at once; the mark under the key a stored answer
        // takes lives in that answer only; one no answer takes reaches `SETTLED_KEYS` at the
        // commit; later transactions find both.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_central(dir.path(), &StoreOptions::default()).expect("open");
        let company = CompanyId::generate();
        let (direct, usage) = (ChargeId::generate(), ChargeId::generate());
        let (co, d, u) = (company.clone(), direct.clone(), usage.clone());
        let seen_in_batch = store
            .write_blocking(move |tx| {
                settle(tx, &co, "direct", &d)?;
                settle(tx, &co, "usage", &u)?;
                let seen = (settled_under(tx, &co, "direct")?, settled_under(tx, &co, "usage")?);
                let scope = company_scope(&co);
                let taken = take_for_answer(tx, &scope, "direct");
                remember(tx, &scope, "direct", &answer(taken))?;
                Ok(seen)
            })
            .expect("write");
        assert_eq!(seen_in_batch, (Some(direct.clone()), Some(usage.clone())));
        let co = company.clone();
        let (found, in_table) = store
            .write_blocking(move |tx| {
                let found = (
                    settled_under(tx, &co, "direct")?,
                    settled_under(tx, &co, "usage")?,
                    settled_under(tx, &co, "free")?,
                );
                let table = tx.settled_keys_table()?;
                let in_table =
                    (table.get((co.as_str(), "direct"))?.is_some(), table.get((co.as_str(), "usage"))?.is_some());
                Ok((found, in_table))
            })
            .expect("read back");
        assert_eq!(found, (Some(direct), Some(usage), None));
        assert_eq!(in_table, (false, true), "only the mark no answer took is in settled_keys");

        // A key marked in both places is what `verify` must catch.
        let co = company.clone();
        store
            .write_blocking(move |tx| {
                tx.settled_keys_table()?.insert((co.as_str(), "direct"), "chg_x")?;
                Ok(())
            })
            .expect("mark twice");
        let report = store.read_blocking(|r| Ok(crate::storage::central::verify::verify(r))).expect("read");
        let violations = report.expect("verify").violations;
        assert!(violations.iter().any(|v| v.contains("key \"direct\" is marked settled twice")), "{violations:?}");
    }
}
