//! Storage: the only module that names `redb`. One writer thread group-commits every change;
//! reads use short read transactions off the async workers.

pub mod central;
pub mod codec;
pub mod error;
pub mod pages;
pub mod schema;
pub mod store;
pub mod writer;

pub use error::StoreError;
pub use store::{Reader, Store, StoreOptions, Tx};
