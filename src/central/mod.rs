//! The central node: authorization server, wallet ledger, partner API and admin socket.

pub mod admin;
pub mod auth;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod openapi;
pub mod providers;
pub mod routes;
pub mod server;
pub mod state;
