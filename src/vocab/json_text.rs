//! `JsonText`: a JSON document kept as the text sent on the wire, so an answer is serialized
//! once, stored as it is and replayed byte for byte, never rebuilt through `serde_json::Value`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of one JSON document, produced by `serde_json` from a value of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// `value` as JSON text. Our wire types serialize infallibly (string keys, no foreign
    /// `Serialize` that can fail); should one ever fail, the answer is `null`, as
    /// `serde_json::to_value(..).unwrap_or_default()` gave before.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> JsonText {
        JsonText(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The document parsed, for the few readers that look inside (tests, tools).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

impl From<&serde_json::Value> for JsonText {
    fn from(value: &serde_json::Value) -> JsonText {
        JsonText(value.to_string())
    }
}

/// Stored as a string; read back only from a string (the text is not checked again: it was
/// produced by `serde_json` and is covered by the record's codec checks).
impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsonText, D::Error> {
        String::deserialize(deserializer).map(JsonText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_becomes_its_json_text_and_parses_back_to_itself() {
        let value = serde_json::json!({"id": "hld_1", "amount": "0.01", "note": "a \"quoted\" word"});
        let text = JsonText::of(&value);
        assert_eq!(text.as_str(), r#"{"amount":"0.01","id":"hld_1","note":"a \"quoted\" word"}"#);
        assert_eq!(text.to_value(), value);
        assert_eq!(JsonText::from(&value), text);
    }
}
