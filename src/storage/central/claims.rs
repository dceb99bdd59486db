//! Partner-created ("direct") customers and how a person claims one: a one-time link by mail,
//! then a password. A company can create an unclaimed customer but never take a claimed one.

use redb::ReadableTable;

use crate::storage::central::TxResult;
use crate::storage::central::grants::suspend_partner_grants;
use crate::storage::central::oauth_records::{ClaimRecord, GrantRecord};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::CustomerRecord;
use crate::storage::schema::{CLAIMS, CUSTOMER_BY_EMAIL, CUSTOMERS};
use crate::storage::{StoreError, Tx};
use crate::vocab::ids::CustomerId;
use crate::vocab::names::{Email, Username};
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectUserError {
    #[error("this email belongs to a registered PROTUS customer; they must use \"Sign in with PROTUS\"")]
    CustomerExists,
}

/// The unclaimed customer with `email`, created if absent; refuses a registered customer.
pub fn get_or_create_unclaimed(
    tx: &mut Tx<'_>,
    email: &Email,
    username: &Username,
    now: Timestamp,
) -> TxResult<(CustomerRecord, bool), DirectUserError> {
    let existing = tx.txn().open_table(CUSTOMER_BY_EMAIL)?.get(email.as_str())?.map(|v| v.value().to_owned());
    if let Some(id) = existing {
        let customer: CustomerRecord = get_record(&tx.txn().open_table(CUSTOMERS)?, "customers", &id)?
            .ok_or(StoreError::Corrupt { table: "customer_by_email", detail: format!("dangling id {id}") })?;
        if customer.password_hash.is_some() {
            return Ok(Err(DirectUserError::CustomerExists));
        }
        return Ok(Ok((customer, false)));
    }
    let customer = CustomerRecord {
        id: CustomerId::generate(),
        email: email.clone(),
        username: username.clone(),
        password_hash: None,
        created_at: now,
    };
    tx.txn().open_table(CUSTOMER_BY_EMAIL)?.insert(email.as_str(), customer.id.as_str())?;
    put_record(&mut tx.txn().open_table(CUSTOMERS)?, customer.id.as_str(), &customer)?;
    Ok(Ok((customer, true)))
}

pub fn save_claim(tx: &mut Tx<'_>, token_hash: &str, claim: &ClaimRecord) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(CLAIMS)?, token_hash, claim)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the link is unknown, already used or expired; register again to get a new one")]
    InvalidLink,
}

/// Completes a claim: sets the password hash (the field sign-in reads), applies the username,
/// spends the link and suspends the grants companies created for this person.
pub fn claim(
    tx: &mut Tx<'_>,
    token_hash: &str,
    password_hash: String,
    now: Timestamp,
) -> TxResult<(CustomerRecord, Vec<GrantRecord>), ClaimError> {
    let record: Option<ClaimRecord> = get_record(&tx.txn().open_table(CLAIMS)?, "claims", token_hash)?;
    let Some(record) = record.filter(|c| c.expires_at > now) else { return Ok(Err(ClaimError::InvalidLink)) };
    let customer: Option<CustomerRecord> =
        get_record(&tx.txn().open_table(CUSTOMERS)?, "customers", record.customer_id.as_str())?;
    let Some(mut customer) = customer.filter(|c| c.password_hash.is_none()) else {
        return Ok(Err(ClaimError::InvalidLink));
    };
    customer.password_hash = Some(password_hash);
    if let Ok(username) = Username::parse(&record.username) {
        customer.username = username;
    }
    put_record(&mut tx.txn().open_table(CUSTOMERS)?, customer.id.as_str(), &customer)?;
    tx.txn().open_table(CLAIMS)?.remove(token_hash)?;
    let suspended = suspend_partner_grants(tx, &customer.id, now)?;
    Ok(Ok((customer, suspended)))
}

/// The unclaimed (partner-created) customer with `email`, if that is what the email belongs to.
pub fn unclaimed_by_email(tx: &Tx<'_>, email: &Email) -> Result<Option<CustomerRecord>, StoreError> {
    let id = tx.txn().open_table(CUSTOMER_BY_EMAIL)?.get(email.as_str())?.map(|v| v.value().to_owned());
    let Some(id) = id else { return Ok(None) };
    let customer: Option<CustomerRecord> = get_record(&tx.txn().open_table(CUSTOMERS)?, "customers", &id)?;
    Ok(customer.filter(|c| c.password_hash.is_none()))
}
