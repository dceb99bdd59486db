//! The spending cap of DESIGN §5.1: over a rolling 30 days of central's clock, settled charges +
//! open holds + open leases of an account never exceed its grant's cap.

use redb::ReadableTable;

use crate::storage::central::billing::BillingError;
use crate::storage::central::open::get_record;
use crate::storage::central::records::{ChargeRecord, ChargeStatus, HoldRecord, HoldStatus};
use crate::storage::central::{accounts, leases};
use crate::storage::{StoreError, Tx};
use crate::vocab::ids::AccountId;
use crate::vocab::limits::{hold_ttl_s_max, spending_window_s};
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

/// What counts against the cap at `now`.
pub fn used(tx: &mut Tx<'_>, account: &AccountId, now: Timestamp) -> Result<Amount, StoreError> {
    let window_start = now.minus_s(spending_window_s);
    let mut total = Amount::ZERO;
    let add = |total: Amount, amount: Amount| total.checked_add(amount).expect("cap usage stays within Decimal range");
    let head = accounts::get_in_tx(tx, account)?.and_then(|a| a.charges_head);
    let charges = tx.charges_table()?;
    accounts::visit_charges(&*tx.account_charges_table()?, account, head, |_, id| {
        let Some(charge): Option<ChargeRecord> = get_record(&*charges, "charges", id)? else { return Ok(true) };
        if charge.created_at < window_start {
            return Ok(false);
        }
        if charge.status != ChargeStatus::Reversed {
            total = add(total, charge.amount);
        }
        Ok(true)
    })?;
    // Holds older than the longest hold lifetime have expired; the scan stops there.
    let oldest_open = now.minus_s(hold_ttl_s_max);
    let holds = tx.holds_table()?;
    for entry in tx.holds_by_account_table()?.range((account.as_str(), 0)..=(account.as_str(), u64::MAX))?.rev() {
        let (_, id) = entry?;
        let Some(hold): Option<HoldRecord> = get_record(&*holds, "holds", id.value())? else { continue };
        if hold.created_at < oldest_open {
            break;
        }
        if hold.status == HoldStatus::Held && hold.expires_at > now {
            total = add(total, hold.amount);
        }
    }
    // Open and closing leases count with what is not charged yet (their charges are above).
    Ok(add(total, leases::unused_total(tx, account)?))
}

/// Refuses `amount` when it would take the account past `cap`; `cap: None` means no cap.
pub fn check(
    tx: &mut Tx<'_>,
    account: &AccountId,
    cap: Option<Amount>,
    amount: Amount,
    now: Timestamp,
) -> Result<Result<(), BillingError>, StoreError> {
    let Some(cap) = cap else { return Ok(Ok(())) };
    let used = used(tx, account, now)?;
    let after = used.checked_add(amount).expect("cap usage stays within Decimal range");
    if after > cap {
        return Ok(Err(BillingError::SpendingCapExceeded { cap, used, needed: amount }));
    }
    Ok(Ok(()))
}
