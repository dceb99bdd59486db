//! Secrets: redacted in `Debug`, compared in constant time, stored as SHA-256 digests.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::vocab::rng;

/// A secret value (client secret, session token, webhook secret). Never printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// `prefix` followed by 32 random bytes in unpadded base64url.
    pub fn generate(prefix: &str) -> Self {
        let bytes: [u8; 32] = rng::random_bytes();
        Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
    pub fn generate_webhook() -> Self {
        let bytes: [u8; 32] = rng::random_bytes();
        Secret(format!("whsec_{}", STANDARD.encode(bytes)))
    }

    /// The value, for the one place that must show or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    pub fn ct_eq(&self, other: &str) -> bool {
        self.0.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 of a high-entropy secret: what is stored instead of the secret itself. Deliberately
/// not `PartialEq`: the only comparison is the constant-time [`SecretDigest::matches`].
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct SecretDigest(#[serde(with = "hex_bytes")] pub [u8; 32]);

impl SecretDigest {
    /// Constant-time comparison.
    pub fn matches(&self, candidate: &Secret) -> bool {
        self.0.ct_eq(&candidate.digest().0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(<redacted>)")
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        bytes.try_into().map_err(|_| serde::de::Error::custom("digest must be 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_and_digests_match_only_their_secret() {
        // Proves redaction and that a digest accepts its own secret and no other.
        let secret = Secret::generate("cs_");
        assert!(!format!("{secret:?}").contains(secret.expose()));
        let digest = secret.digest();
        assert!(digest.matches(&secret));
        assert!(!digest.matches(&Secret::generate("cs_")));
        assert!(secret.ct_eq(secret.expose()));
        assert!(!secret.ct_eq("cs_other"));
        assert!(Secret::generate_webhook().expose().starts_with("whsec_"));
    }
}
