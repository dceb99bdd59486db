//! Webhook events queued in the outbox inside the transaction of the change they announce,
//! with `data` in the wire shapes of DESIGN §2.

use crate::storage::central::changes::queue_event;
use crate::storage::central::oauth_records::GrantRecord;
use crate::storage::central::records::{AccountRecord, ChargeRecord, ChargeStatus, CustomerRecord};
use crate::storage::central::{companies, customers};
use crate::storage::{StoreError, Tx};
use crate::vocab::money::Amount;
use crate::vocab::money::Currency;
use crate::vocab::time::Timestamp;
use crate::wire::money::Charge;
use crate::wire::oauth::Grant;
use crate::wire::people::Account;

fn company_name(tx: &Tx<'_>, grant_company: &crate::vocab::ids::CompanyId) -> Result<String, StoreError> {
    Ok(companies::name_in_tx(tx, grant_company)?.unwrap_or_default())
}

/// `grant.created` or `grant.revoked`.
pub fn grant(
    tx: &mut Tx<'_>,
    kind: &str,
    grant: &GrantRecord,
    currency: Currency,
    now: Timestamp,
) -> Result<(), StoreError> {
    let name = company_name(tx, &grant.company_id)?;
    let data = Grant::from_record(grant, &name, currency);
    queue_event(tx, &grant.company_id, kind, data, now).map(drop)
}

/// `account.created`.
pub fn account_created(
    tx: &mut Tx<'_>,
    account: &AccountRecord,
    currency: Currency,
    now: Timestamp,
) -> Result<(), StoreError> {
    let name = company_name(tx, &account.company_id)?;
    let Some(customer): Option<CustomerRecord> = customers::get_in_tx(tx, &account.customer_id)? else { return Ok(()) };
    let data = Account::from_record(account, &name, &customer, currency);
    queue_event(tx, &account.company_id, "account.created", data, now).map(drop)
}

/// `charge.settled`, or `charge.reversed` for a duplicate of a settled key; `data` is the charge.
pub fn charge(tx: &mut Tx<'_>, charge: &ChargeRecord, currency: Currency, now: Timestamp) -> Result<(), StoreError> {
    let kind = match charge.status {
        ChargeStatus::Reversed => "charge.reversed",
        ChargeStatus::Accepted | ChargeStatus::Settled => "charge.settled",
    };
    let data = Charge::from_record(charge, currency);
    queue_event(tx, &charge.company_id, kind, data, now).map(drop)
}

/// `account.overdrawn`: a late sidecar charge booked debt. `data` is
/// `{account_id, charge_id, amount, debt}`: the account, the charge that overdrew it, its
/// amount and the wallet's whole debt after it.
pub fn account_overdrawn(
    tx: &mut Tx<'_>,
    charge: &ChargeRecord,
    debt: Amount,
    currency: Currency,
    now: Timestamp,
) -> Result<(), StoreError> {
    let data = serde_json::json!({
        "account_id": charge.account_id.to_string(),
        "charge_id": charge.id.to_string(),
        "amount": charge.amount.to_wire(currency),
        "debt": debt.to_wire(currency),
    });
    queue_event(tx, &charge.company_id, "account.overdrawn", data, now).map(drop)
}
