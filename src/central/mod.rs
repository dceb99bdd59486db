//! The central node: authorization server, wallet ledger, partner API and admin socket.

pub mod config;
pub mod state;
pub mod error;
pub mod auth;
pub mod client_auth;
pub mod sidecar_auth;
pub mod keyring;
pub mod tokens;
pub mod access;
pub mod billing_auth;
pub mod hold_sweeper;
pub mod events;
pub mod mail;
pub mod web;
pub mod idempotency;
pub mod providers;
pub mod webhooks;
pub mod routes;
pub mod openapi;
pub mod admin;
pub mod server;
