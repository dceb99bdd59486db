//! HTTP adapter shared by both roles: problem+json errors, strict JSON and query extractors,
//! bearer parsing, the limits every listener carries, and the connection loop that serves them.

pub mod problem;
pub mod json;
pub mod query;
pub mod bearer;
pub mod bearer_problems;
pub mod limits;
pub mod serve;
pub mod trace;
pub mod rate_limit;
pub mod oauth_error;
pub mod form;
pub mod billing_input;
pub mod replay;
pub mod server_errors_doc;
