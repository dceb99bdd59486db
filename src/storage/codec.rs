//! Encoding of stored records (schema 4): MessagePack with field names, behind a format byte.
//! Records written as JSON text by earlier versions are still read; a record is rewritten in
//! the new form only when it changes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::storage::StoreError;

/// Leads every MessagePack record. MessagePack never uses this byte and JSON text cannot start
/// with it, so the two forms are told apart without guessing.
const MESSAGEPACK_TAG: u8 = 0xc1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(MESSAGEPACK_TAG);
    rmp_serde::encode::write_named(&mut out, value).expect("stored records are plain data and always serialise");
    out
}

pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { table, detail };
    match bytes.split_first() {
        Some((&MESSAGEPACK_TAG, record)) => rmp_serde::from_slice(record).map_err(|e| corrupt(e.to_string())),
        _ => serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        id: String,
        amount: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        payload: serde_json::Value,
        at: u64,
    }

    fn record() -> Record {
        let payload = serde_json::json!({"n": -3, "big": u64::MAX, "f": 0.1, "s": "é\"", "list": [null, true]});
        Record { id: "chg_1".into(), amount: "10.5".into(), note: None, payload, at: 1_800_000_000_000 }
    }

    #[test]
    fn a_record_round_trips_with_its_json_payload_exact() {
        let bytes = encode(&record());
        assert_eq!(bytes[0], MESSAGEPACK_TAG);
        assert_eq!(decode::<Record>("t", &bytes).expect("decodes"), record());
    }

    #[test]
    fn a_record_written_as_json_by_an_earlier_version_still_reads() {
        let json = serde_json::to_vec(&record()).expect("JSON");
        assert_eq!(decode::<Record>("t", &json).expect("decodes"), record());
    }

    #[test]
    fn a_field_added_later_reads_as_its_default_from_older_records() {
        #[derive(Serialize)]
        struct Older {
            id: String,
            amount: String,
            payload: serde_json::Value,
            at: u64,
        }
        let older = Older { id: "chg_1".into(), amount: "10.5".into(), payload: record().payload, at: record().at };
        assert_eq!(decode::<Record>("t", &encode(&older)).expect("decodes"), record());
    }

    #[test]
    fn damaged_bytes_are_reported_as_corrupt_not_a_panic() {
        let mut bytes = encode(&record());
        bytes.truncate(bytes.len() / 2);
        for damaged in [&bytes[..], &[MESSAGEPACK_TAG][..], b"{\"id\":", &[]] {
            let error = decode::<Record>("charges", damaged).expect_err("refused");
            assert!(matches!(error, StoreError::Corrupt { table: "charges", .. }), "{error:?}");
        }
    }
}
