//! The central node's store: records and the operations on them, each one transaction's worth.

pub mod records;
pub mod oauth_records;
pub mod open;
pub mod migrate;
pub mod settings;
pub mod ledger;
pub mod ledger_batch;
pub mod customers;
pub mod companies;
pub mod sessions;
pub mod services;
pub mod accounts;
pub mod top_ups;
pub mod billing;
pub mod spending;
pub mod hold_expiry;
pub mod settled_keys;
pub mod leases;
pub mod usage;
pub mod changes;
pub mod deliveries;
pub mod grants;
pub mod oauth;
pub mod keys;
pub mod claims;
pub mod sidecars;
pub mod verify;
pub mod verify_threads;
pub mod backup;

/// A business refusal inside a transaction, or a storage failure around it.
pub type TxResult<T, E> = Result<Result<T, E>, crate::storage::StoreError>;
