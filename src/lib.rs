//! PROTUS: one wallet for many internet services. Modules in layer order, lowest first.

pub mod vocab;
pub mod domain;
pub mod storage;
pub mod http;
pub mod wire;
pub mod central;
pub mod sidecar;
