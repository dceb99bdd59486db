//! Wire types: the JSON shapes of DESIGN §2 (version 1), converted by hand from records.

pub mod amount;
pub mod secret_text;
pub mod list;
pub mod people;
pub mod company;
pub mod money;
pub mod oauth;
pub mod oauth_forms;
pub mod billing;
pub mod sync;
pub mod leases;
