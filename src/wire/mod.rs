//! Wire types: the JSON shapes of DESIGN §2 (version 1), converted by hand from records.

pub mod amount;
pub mod company;
pub mod list;
pub mod money;
pub mod people;
pub mod secret_text;
