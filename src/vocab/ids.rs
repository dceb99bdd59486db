//! Opaque typed ids (`cus_…`, `co_…`, …): random or time-ordered, prefixed, parsed at the
//! boundary.

use std::fmt;

use crate::vocab::rng;
use crate::vocab::time::Timestamp;

/// Characters after the prefix: lowercase base32 of 16 bytes (26 characters).
const ID_BODY_LEN: usize = 26;
const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// The same 32 characters in ASCII order, so a body's text sorts as its bytes do.
const SORTED_BASE32_ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// The id did not have the expected prefix or body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct IdError {
    pub kind: &'static str,
}

fn random_body() -> String {
    let bytes: [u8; 16] = rng::id_bytes();
    encode_base32(&bytes)
}

/// 48 bits of `now` in milliseconds, then 80 random bits, in the sorted alphabet: ids made
/// together sort together, so records written in one batch share B-tree leaves instead of
/// dirtying one random leaf each (docs/design.md, "Ids").
fn time_ordered_body(now: Timestamp) -> String {
    let ms = u64::try_from(now.unix_ms()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&rng::id_bytes::<10>());
    encode_with(&bytes, SORTED_BASE32_ALPHABET)
}

/// Lowercase, unpadded RFC 4648 base32.
pub fn encode_base32(bytes: &[u8]) -> String {
    encode_with(bytes, BASE32_ALPHABET)
}

/// Unpadded base32 of `bytes` in `alphabet`.
fn encode_with(bytes: &[u8], alphabet: &[u8; 32]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(alphabet[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(alphabet[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn body_is_valid(body: &str) -> bool {
    body.len() == ID_BODY_LEN && body.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_body()))
            }

            /// A fresh id that sorts after those made at earlier milliseconds (80 random bits
            /// keep it unique and unguessable); for records written at a high rate.
            pub fn generate_at(now: Timestamp) -> Self {
                Self(format!("{}{}", $prefix, time_ordered_body(now)))
            }

            pub fn parse(text: &str) -> Result<Self, IdError> {
                match text.strip_prefix($prefix) {
                    Some(body) if body_is_valid(body) => Ok(Self(text.to_owned())),
                    _ => Err(IdError { kind: $kind }),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(/// A person.
    CustomerId, "cus_", "customer");
typed_id!(/// A partner company; also its OAuth `client_id`.
    CompanyId, "co_", "company");
typed_id!(/// A priced billable item of a company.
    ServiceId, "svc_", "service");
typed_id!(/// The pair (company, customer): the `sub` a company sees.
    AccountId, "acct_", "account");
typed_id!(/// A customer's consent to a company.
    GrantId, "grt_", "grant");
typed_id!(/// Funds blocked for one account.
    HoldId, "hold_", "hold");
typed_id!(/// A final debit of one account.
    ChargeId, "chg_", "charge");
typed_id!(/// Money entering a wallet through a payment provider.
    TopUpId, "top_", "top-up");
typed_id!(/// Funds reserved at central for one sidecar.
    LeaseId, "lse_", "lease");
typed_id!(/// One sidecar instance.
    SidecarId, "sc_", "sidecar");
typed_id!(/// One webhook event.
    EventId, "evt_", "event");
typed_id!(/// One event's delivery to its company's webhook URL, with its attempts.
    DeliveryId, "dlv_", "delivery");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_foreign_prefixes_fail() {
        // Proves a generated id round-trips and that an id of another type is refused.
        let id = CustomerId::generate();
        assert_eq!(CustomerId::parse(id.as_str()), Ok(id.clone()));
        assert!(CompanyId::parse(id.as_str()).is_err());
        assert!(CustomerId::parse("cus_").is_err());
        assert!(CustomerId::parse("cus_AAAAAAAAAAAAAAAAAAAAAAAAAA").is_err());
    }

    #[test]
    fn time_ordered_ids_sort_by_time_and_stay_unique_and_valid() {
        // Proves ids made at later milliseconds sort after earlier ones as text, that two ids
        // of the same millisecond differ, and that they parse like random ids.
        let earlier = ChargeId::generate_at(Timestamp::from_unix_ms(1_790_000_000_000));
        let same = ChargeId::generate_at(Timestamp::from_unix_ms(1_790_000_000_000));
        let later = ChargeId::generate_at(Timestamp::from_unix_ms(1_790_000_000_001));
        let much_later = ChargeId::generate_at(Timestamp::from_unix_ms(2_790_000_000_000));
        assert!(earlier.as_str() < later.as_str() && same.as_str() < later.as_str());
        assert!(later.as_str() < much_later.as_str());
        assert_ne!(earlier, same);
        assert_eq!(ChargeId::parse(earlier.as_str()), Ok(earlier.clone()));
        assert_eq!(&earlier.as_str()[..12], &same.as_str()[..12], "same millisecond, same prefix");
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // Proves the encoder against RFC 4648 §10 test vectors (lowercase, unpadded).
        assert_eq!(encode_base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(encode_base32(b"f"), "my");
        assert_eq!(encode_base32(b""), "");
    }
}
