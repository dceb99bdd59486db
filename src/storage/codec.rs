//! JSON encoding of stored records, with corruption reported as an error, not a panic.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::storage::StoreError;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("stored records are plain data and always serialise")
}

pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { table, detail: e.to_string() })
}
