//! Vocabulary: pure values every other layer speaks in (ids, money, time, limits, secrets, JSON
//! text).

pub mod limits;
pub mod ids;
pub mod money;
pub mod time;
pub mod mono;
pub mod secret;
pub mod rng;
pub mod names;
pub mod json_text;
