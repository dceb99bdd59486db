//! The sidecar's database: its enrolment, and the keys, revocations, grants and services that
//! the snapshot and the feed bring, with the feed cursor they are current to; its leases, holds,
//! charges and usage outbox; its stored idempotent answers; the tokens it has verified.

pub mod answer_filter;
pub mod answers;
pub mod lease_batch;
pub mod open;
pub mod sync_state;
pub mod money;
pub mod tokens;
