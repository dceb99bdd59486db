//! Domain: pure rules with no I/O and no clock reads (`now` is always a parameter).

pub mod ledger;
pub mod idempotency;
pub mod passwords;
pub mod pkce;
pub mod token;
pub mod webhook_signature;
