//! Customers: registration with a unique email, lookups, and the statement.

use redb::ReadableTable;

use crate::storage::central::TxResult;
use crate::storage::central::ledger;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{CustomerRecord, OperationRecord};
use crate::storage::codec::{decode, encode};
use crate::storage::pages::Page;
use crate::storage::schema::{CUSTOMER_BY_EMAIL, CUSTOMERS, STATEMENT_LINES};
use crate::storage::threads;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::CustomerId;
use crate::vocab::names::Email;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("a customer with this email already exists")]
    EmailTaken,
}

/// Stores a new customer unless the email is taken.
pub fn register(tx: &mut Tx<'_>, customer: CustomerRecord) -> TxResult<CustomerRecord, RegisterError> {
    let mut by_email = tx.txn().open_table(CUSTOMER_BY_EMAIL)?;
    if by_email.get(customer.email.as_str())?.is_some() {
        return Ok(Err(RegisterError::EmailTaken));
    }
    by_email.insert(customer.email.as_str(), customer.id.as_str())?;
    put_record(&mut tx.txn().open_table(CUSTOMERS)?, customer.id.as_str(), &customer)?;
    Ok(Ok(customer))
}

pub fn get(reader: &Reader, id: &CustomerId) -> Result<Option<CustomerRecord>, StoreError> {
    get_record(&reader.txn.open_table(CUSTOMERS)?, "customers", id.as_str())
}

pub fn get_in_tx(tx: &Tx<'_>, id: &CustomerId) -> Result<Option<CustomerRecord>, StoreError> {
    get_record(&tx.txn().open_table(CUSTOMERS)?, "customers", id.as_str())
}

pub fn by_email(reader: &Reader, email: &Email) -> Result<Option<CustomerRecord>, StoreError> {
    let id = reader.txn.open_table(CUSTOMER_BY_EMAIL)?.get(email.as_str())?.map(|v| v.value().to_owned());
    match id {
        Some(id) => get_record(&reader.txn.open_table(CUSTOMERS)?, "customers", &id),
        None => Ok(None),
    }
}

/// Appends a statement line; lines are ordered by when central booked them. The line goes to the
/// end of the statement log and the wallet record keeps it as the statement's newest.
pub fn append_operation(tx: &mut Tx<'_>, customer: &CustomerId, line: &OperationRecord) -> Result<(), StoreError> {
    let seq = tx.next("seq")?;
    let before = ledger::advance_statement(tx, customer, seq)?;
    threads::append(
        &mut *tx.statement_lines_table()?,
        "statement_lines",
        seq,
        customer.as_str(),
        before,
        encode(line).as_slice(),
    )
}

/// The statement, newest first; `None` when `cursor` is not one this statement gave out.
pub fn operations(
    reader: &Reader,
    customer: &CustomerId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Option<Page<OperationRecord>>, StoreError> {
    let head = ledger::statement_head(reader, customer)?;
    let lines = reader.txn.open_table(STATEMENT_LINES)?;
    threads::page_desc(&lines, "statement_lines", customer.as_str(), head, cursor, limit, |bytes| {
        decode("statement_lines", bytes)
    })
}
