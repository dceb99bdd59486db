//! Webhooks to companies (DESIGN §6): the SSRF guard on targets, one signed attempt, and the
//! dispatcher that turns the outbox into deliveries and retries them on schedule.

pub mod target;
pub mod send;
pub mod dispatcher;

pub use target::check_webhook_target;
