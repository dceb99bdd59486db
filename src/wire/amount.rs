//! An amount as it arrives: a JSON string only (a JSON number is refused with a clear message).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use crate::vocab::money::{Amount, AmountError, Currency};

/// The text of an amount field, not yet checked against the currency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "10.50")]
pub struct WireAmount(pub String);

impl WireAmount {
    pub fn parse(&self, currency: Currency) -> Result<Amount, AmountError> {
        Amount::parse_request(&self.0, currency)
    }
}

impl<'de> Deserialize<'de> for WireAmount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StringOnly;
        impl Visitor<'_> for StringOnly {
            type Value = WireAmount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount as a JSON string, like \"10.50\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireAmount, E> {
                Ok(WireAmount(v.to_owned()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<WireAmount, E> {
                Err(E::custom("must be a string like \"10.50\", not a JSON number"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<WireAmount, E> {
                Err(E::custom("must be a string like \"10.50\", not a JSON number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<WireAmount, E> {
                Err(E::custom("must be a string like \"10.50\", not a JSON number"))
            }
        }
        d.deserialize_any(StringOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_are_refused_for_amounts() {
        // Proves DESIGN §2: an amount must be a JSON string.
        assert!(serde_json::from_str::<WireAmount>("10.5").is_err());
        assert!(serde_json::from_str::<WireAmount>("10").is_err());
        assert_eq!(serde_json::from_str::<WireAmount>("\"10.5\"").ok(), Some(WireAmount("10.5".into())));
    }
}
