//! Storage: the only module that names `redb`. One writer thread group-commits every change;
//! reads use short read transactions off the async workers.

pub mod error;
pub mod schema;
pub mod codec;
pub mod writer;
pub mod store;
pub mod kept_tables;
pub mod redo_log;
pub mod redo_ops;
pub mod redo_replay;
pub mod pages;
pub mod threads;
pub mod idempotency;
pub mod central;
pub mod sidecar;

pub use error::StoreError;
pub use store::{Reader, Store, StoreOptions, Tx};
