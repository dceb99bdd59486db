//! Vocabulary: pure values every other layer speaks in (ids, money, time, limits, secrets).

pub mod ids;
pub mod limits;
pub mod money;
pub mod names;
pub mod rng;
pub mod secret;
pub mod time;
