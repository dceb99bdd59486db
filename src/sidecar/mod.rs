//! The sidecar: the company's agent next to its service. It enrols with central, mirrors the
//! keys, revocations and grants central publishes (snapshot, then the feed), and answers the
//! permission check locally; company calls such as direct users are forwarded to central with its
//! credentials. Money is decided locally inside leases of funds reserved at central, and every
//! charge is reported back exactly once through the usage outbox (DESIGN §7).

pub mod config;
pub mod client;
pub mod local;
pub mod metrics;
pub mod state;
pub mod access;
pub mod backoff;
pub mod sync;
pub mod leases;
pub mod usage;
pub mod verified_tokens;
pub mod idempotency;
pub mod billing;
pub mod direct_users;
pub mod routes;
pub mod openapi;
pub mod server;
