//! Integration tests: real servers on 127.0.0.1:0, real redb files, real HTTP.

mod support;
mod child;

mod companies;
mod concurrency;
mod crash;
mod customers;
mod errors;
mod idempotency;
mod layers;
mod ledger_model;
mod openapi;
mod top_ups;
mod verify;
mod oauth_support;
mod oauth_flow;
mod oauth_consent;
mod direct_users;
mod housekeeping;
mod billing;
mod crash_billing;
mod oauth_tokens;
mod oauth_keys;
mod webhooks;
mod sync_central;
mod sidecar;
mod sidecar_support;
mod sidecar_billing;
mod sync_leases;
mod sync_usage;
mod backup;
mod demo;
mod examples;
mod web_support;
mod web_pages;
mod security_oauth;
