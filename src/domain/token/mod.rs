//! Access tokens (DESIGN §4): scopes, claims, keys, issuing and verifying JWTs, and the cache of
//! verified tokens. Used by both roles; only central ever holds a signing key.

pub mod scope;
pub mod claims;
pub mod keys;
pub mod jwt;
pub mod cache;
