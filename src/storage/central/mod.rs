//! The central node's store: records and the operations on them, each one transaction's worth.

pub mod accounts;
pub mod billing;
pub mod companies;
pub mod customers;
pub mod idempotency;
pub mod ledger;
pub mod open;
pub mod records;
pub mod services;
pub mod sessions;
pub mod settings;
pub mod top_ups;
pub mod verify;

/// A business refusal inside a transaction, or a storage failure around it.
pub type TxResult<T, E> = Result<Result<T, E>, crate::storage::StoreError>;
