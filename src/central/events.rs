//! Webhook events queued in the outbox inside the transaction of the change they announce,
//! with `data` in the wire shapes of DESIGN §2.

use crate::storage::central::changes::queue_event;
use crate::storage::central::oauth_records::GrantRecord;
use crate::storage::central::records::{AccountRecord, CustomerRecord};
use crate::storage::central::{companies, customers};
use crate::storage::{StoreError, Tx};
use crate::vocab::money::Currency;
use crate::vocab::time::Timestamp;
use crate::wire::oauth::Grant;
use crate::wire::people::Account;

fn company_name(tx: &Tx<'_>, grant_company: &crate::vocab::ids::CompanyId) -> Result<String, StoreError> {
    Ok(companies::get_in_tx(tx, grant_company)?.map(|c| c.name.as_str().to_owned()).unwrap_or_default())
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
    let data = serde_json::to_value(Grant::from_record(grant, &name, currency)).unwrap_or_default();
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
    let data = serde_json::to_value(Account::from_record(account, &name, &customer, currency)).unwrap_or_default();
    queue_event(tx, &account.company_id, "account.created", data, now).map(drop)
}
