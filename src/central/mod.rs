//! The central node: authorization server, wallet ledger, partner API and admin socket.

pub mod config;
pub mod state;
pub mod error;
pub mod auth;
pub mod idempotency;
pub mod providers;
pub mod routes;
pub mod openapi;
pub mod admin;
pub mod server;
