//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): signing what central sends
//! and verifying what a receiver got. Pure: the caller passes the time.
//!
//! The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`, the MAC is HMAC-SHA256 keyed
//! with the base64-decoded part of the secret after `whsec_`, and `webhook-signature` carries
//! `v1,<base64 MAC>`, one per valid secret, separated by spaces.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::vocab::time::Timestamp;

/// Prefix of a webhook secret; the rest is the key in standard base64.
pub const SECRET_PREFIX: &str = "whsec_";
/// Version tag of an HMAC-SHA256 signature.
const SIGNATURE_VERSION: &str = "v1";
/// How far `webhook-timestamp` may be from the receiver's clock, either way (the specification's 5 minutes).
pub const TIMESTAMP_TOLERANCE_S: i64 = 5 * 60;

/// Why a signature could not be made or was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook secret is not whsec_ followed by base64")]
    InvalidSecret,
    #[error("webhook-timestamp is not a whole number of seconds")]
    InvalidTimestamp,
    #[error("webhook-timestamp is more than 5 minutes away from now")]
    TimestampOutOfTolerance,
    #[error("no v1 signature matches")]
    NoMatchingSignature,
}

/// A webhook signing key, parsed from its `whsec_…` text.
#[derive(Clone)]
pub struct WebhookKey(Vec<u8>);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(..)")
    }
}

impl WebhookKey {
    /// The key of `whsec_<base64>`; like the reference libraries, the prefix may be left out.
    pub fn parse(secret: &str) -> Result<Self, SignatureError> {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        let key = STANDARD.decode(encoded).map_err(|_| SignatureError::InvalidSecret)?;
        if key.is_empty() {
            return Err(SignatureError::InvalidSecret);
        }
        Ok(WebhookKey(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("{SIGNATURE_VERSION},{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }
}

/// One signature with `secret` (`whsec_…`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    Ok(WebhookKey::parse(secret)?.sign(id, timestamp, body))
}

/// The `webhook-signature` value: one signature per key, space-separated (a rotation's overlap
/// sends the new and the old ones, so a receiver holding either verifies).
pub fn signature_header(keys: &[WebhookKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|key| key.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// The three Standard Webhooks headers of one request, as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: &'a str,
    /// `webhook-signature`.
    pub signature: &'a str,
}

/// Accepts when the timestamp is within 5 minutes of `now` and any `v1` signature of the header
/// is the MAC of this id, timestamp and body under `secret`, compared in constant time.
pub fn verify(secret: &str, headers: SignedHeaders<'_>, body: &[u8], now: Timestamp) -> Result<(), SignatureError> {
    let key = WebhookKey::parse(secret)?;
    let timestamp: i64 = headers.timestamp.trim().parse().map_err(|_| SignatureError::InvalidTimestamp)?;
    if now.unix_s().abs_diff(timestamp) > TIMESTAMP_TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::TimestampOutOfTolerance);
    }
    let expected = key.mac(headers.id, timestamp, body);
    // Every candidate is compared, so timing does not tell which one matched.
    let matched = headers
        .signature
        .split(' ')
        .filter_map(|candidate| candidate.split_once(','))
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        .fold(false, |hit, given| hit | bool::from(given.as_slice().ct_eq(&expected)));
    if matched { Ok(()) } else { Err(SignatureError::NoMatchingSignature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector of the Standard Webhooks reference libraries (and Svix's).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(unix_s: i64) -> Timestamp {
        Timestamp::from_unix_ms(unix_s * 1000)
    }

    fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> SignedHeaders<'a> {
        SignedHeaders { id, timestamp, signature }
    }

    #[test]
    fn the_specification_test_vectors_reproduce_exactly() {
        // Proves interoperability: signatures equal the ones the reference implementations compute.
        assert_eq!(sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), Ok(SPEC_SIGNATURE.to_owned()));
        // The vector of the reference Rust library.
        let rust_lib = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(rust_lib, Ok("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=".to_owned()));
        let ts = SPEC_TIMESTAMP.to_string();
        assert_eq!(verify(SPEC_SECRET, headers(SPEC_ID, &ts, SPEC_SIGNATURE), SPEC_BODY, at(SPEC_TIMESTAMP)), Ok(()));
    }

    #[test]
    fn any_matching_signature_of_several_is_accepted() {
        // Proves a header with several signatures (a rotation) verifies under each of its secrets.
        let old = WebhookKey::parse(SPEC_SECRET).expect("valid");
        let new_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let new = WebhookKey::parse(new_secret).expect("valid");
        let header = signature_header(&[new, old], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        assert_eq!(header.split(' ').count(), 2);
        let ts = SPEC_TIMESTAMP.to_string();
        for secret in [SPEC_SECRET, new_secret] {
            assert_eq!(verify(secret, headers(SPEC_ID, &ts, &header), SPEC_BODY, at(SPEC_TIMESTAMP)), Ok(()));
        }
        let other = "whsec_".to_owned() + &STANDARD.encode([7u8; 32]);
        assert_eq!(
            verify(&other, headers(SPEC_ID, &ts, &header), SPEC_BODY, at(SPEC_TIMESTAMP)),
            Err(SignatureError::NoMatchingSignature)
        );
        // Unknown versions and malformed entries are skipped, not fatal.
        let mixed = format!("v2,abc v1,!!! {SPEC_SIGNATURE}");
        assert_eq!(verify(SPEC_SECRET, headers(SPEC_ID, &ts, &mixed), SPEC_BODY, at(SPEC_TIMESTAMP)), Ok(()));
    }

    #[test]
    fn a_changed_body_id_or_timestamp_is_refused() {
        // Proves each signed part matters, stale or future timestamps are refused, and bad input is named.
        let ts = SPEC_TIMESTAMP.to_string();
        let now = at(SPEC_TIMESTAMP);
        let refused = Err(SignatureError::NoMatchingSignature);
        assert_eq!(verify(SPEC_SECRET, headers(SPEC_ID, &ts, SPEC_SIGNATURE), br#"{"test": 1}"#, now), refused);
        assert_eq!(verify(SPEC_SECRET, headers("msg_other", &ts, SPEC_SIGNATURE), SPEC_BODY, now), refused);
        let moved = (SPEC_TIMESTAMP + 1).to_string();
        assert_eq!(
            verify(SPEC_SECRET, headers(SPEC_ID, &moved, SPEC_SIGNATURE), SPEC_BODY, at(SPEC_TIMESTAMP + 1)),
            refused
        );
        let signature = headers(SPEC_ID, &ts, SPEC_SIGNATURE);
        assert_eq!(verify(SPEC_SECRET, signature, SPEC_BODY, at(SPEC_TIMESTAMP + 300)), Ok(()));
        assert_eq!(verify(SPEC_SECRET, signature, SPEC_BODY, at(SPEC_TIMESTAMP - 300)), Ok(()));
        let out = Err(SignatureError::TimestampOutOfTolerance);
        assert_eq!(verify(SPEC_SECRET, signature, SPEC_BODY, at(SPEC_TIMESTAMP + 301)), out);
        assert_eq!(verify(SPEC_SECRET, signature, SPEC_BODY, at(SPEC_TIMESTAMP - 301)), out);
        assert_eq!(
            verify(SPEC_SECRET, headers(SPEC_ID, "soon", SPEC_SIGNATURE), SPEC_BODY, now),
            Err(SignatureError::InvalidTimestamp)
        );
        assert_eq!(sign("whsec_not base64!", SPEC_ID, 1, b"{}"), Err(SignatureError::InvalidSecret));
        assert_eq!(sign("whsec_", SPEC_ID, 1, b"{}"), Err(SignatureError::InvalidSecret));
        // Without the prefix the same key is used, as in the reference libraries.
        assert_eq!(
            sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            Ok(SPEC_SIGNATURE.to_owned())
        );
    }
}
