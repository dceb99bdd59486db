//! Top-ups: created pending, completed once by the provider's callback (moving the money), or failed.

use crate::domain::ledger::plan_top_up;
use crate::storage::central::TxResult;
use crate::storage::central::customers::append_operation;
use crate::storage::central::ledger::{post, wallet_in_tx};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{OperationKind, OperationRecord, TopUpRecord, TopUpStatus};
use crate::storage::schema::TOP_UPS;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::TopUpId;
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

pub fn create(tx: &mut Tx<'_>, top_up: &TopUpRecord) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(TOP_UPS)?, top_up.id.as_str(), top_up)
}

pub fn get(reader: &Reader, id: &TopUpId) -> Result<Option<TopUpRecord>, StoreError> {
    get_record(&reader.txn.open_table(TOP_UPS)?, "top_ups", id.as_str())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompleteError {
    #[error("unknown top-up")]
    NotFound,
    #[error("the callback's amount or provider does not match the top-up")]
    Mismatch,
}

/// The provider's final word on a top-up. Money moves only on the first `succeeded`; a replayed
/// or contradicting callback after the top-up is final changes nothing and returns it as it is.
pub fn complete(
    tx: &mut Tx<'_>,
    id: &TopUpId,
    provider: &str,
    amount: Amount,
    succeeded: bool,
    now: Timestamp,
) -> TxResult<TopUpRecord, CompleteError> {
    let Some(mut top_up) = get_record::<TopUpRecord>(&tx.txn().open_table(TOP_UPS)?, "top_ups", id.as_str())? else {
        return Ok(Err(CompleteError::NotFound));
    };
    if top_up.provider != provider || top_up.amount != amount {
        return Ok(Err(CompleteError::Mismatch));
    }
    if top_up.status != TopUpStatus::Pending {
        return Ok(Ok(top_up));
    }
    if succeeded {
        let wallet = wallet_in_tx(tx, &top_up.customer_id)?;
        let plan = plan_top_up(&wallet, &top_up.customer_id, provider, amount);
        post(tx, &plan, now, &format!("top_up {id}"))?;
        let balance_after = wallet_in_tx(tx, &top_up.customer_id)?.available;
        let line = OperationRecord {
            at: now,
            kind: OperationKind::TopUp,
            company_name: None,
            service_name: None,
            invoice_number: None,
            charge_id: None,
            top_up_id: Some(id.clone()),
            amount,
            balance_after,
        };
        append_operation(tx, &top_up.customer_id, &line)?;
    }
    top_up.status = if succeeded { TopUpStatus::Succeeded } else { TopUpStatus::Failed };
    top_up.completed_at = Some(now);
    put_record(&mut tx.txn().open_table(TOP_UPS)?, id.as_str(), &top_up)?;
    Ok(Ok(top_up))
}

/// Top-ups of `provider` still waiting for their callback (to resume after a restart).
pub fn pending(reader: &Reader, provider: &str) -> Result<Vec<TopUpRecord>, StoreError> {
    use redb::ReadableTable;
    let mut waiting = Vec::new();
    for entry in reader.txn.open_table(TOP_UPS)?.iter()? {
        let (_, bytes) = entry?;
        let top_up: TopUpRecord = crate::storage::codec::decode("top_ups", bytes.value())?;
        if top_up.status == TopUpStatus::Pending && top_up.provider == provider {
            waiting.push(top_up);
        }
    }
    Ok(waiting)
}
