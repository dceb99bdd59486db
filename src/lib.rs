//! PROTUS: one wallet for many internet services. Modules in layer order, lowest first.

pub mod central;
pub mod domain;
pub mod http;
pub mod storage;
pub mod vocab;
pub mod wire;
