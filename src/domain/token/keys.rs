//! Token keys: the Ed25519 signing key pair (central only), its JWK (RFC 8037) with an RFC 7638
//! thumbprint as `kid`, and the set of verifying keys both roles check tokens against.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::vocab::limits::token_verifying_keys_len_max;
use crate::vocab::rng;

/// An Ed25519 signing key with its `kid`. Lives only at central (DESIGN §4); its `Debug` never
/// shows the secret, and the secret is zeroed when the pair is dropped.
pub struct SigningKeyPair {
    key: SigningKey,
    kid: String,
    /// The first segment of every token this key signs.
    header_segment: String,
}

impl SigningKeyPair {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> SigningKeyPair {
        SigningKeyPair::from_secret_bytes(rng::random_bytes::<32>())
    }

    /// The key pair of a stored 32-byte secret (RFC 8032 private key).
    pub fn from_secret_bytes(secret: [u8; 32]) -> SigningKeyPair {
        let key = SigningKey::from_bytes(&secret);
        let kid = thumbprint(&URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()));
        let header_segment = header_segment(&kid);
        SigningKeyPair { key, kid, header_segment }
    }

    /// The 32-byte secret, for central to store. Handle it as a secret.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The RFC 7638 JWK thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as published at `/.well-known/jwks.json`.
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
            kid: self.kid.clone(),
            key_use: "sig".to_owned(),
            alg: "EdDSA".to_owned(),
        }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub(crate) fn header_segment(&self) -> &str {
        &self.header_segment
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair").field("kid", &self.kid).field("secret", &"<redacted>").finish()
    }
}

/// One public key as a JSON Web Key (RFC 7517, OKP/Ed25519 per RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub alg: String,
}

/// A JWK Set, the body of `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Why a public key cannot be used to verify tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is not an Ed25519 signing key for EdDSA (kty, crv, use or alg)")]
    NotEd25519,
    #[error("key's x is not a valid Ed25519 public key")]
    BadPublicKey,
    #[error("key's kid is not its RFC 7638 thumbprint")]
    KidMismatch,
    #[error("more than {token_verifying_keys_len_max} verifying keys")]
    TooMany,
}

/// The keys tokens are checked against, each found by the exact header segment its tokens carry:
/// base64url of `{"alg":"EdDSA","typ":"at+jwt","kid":"<kid>"}`. Matching that segment byte for
/// byte is the whole header check, so `alg: none`, `HS256`, other `typ`s, unknown `kid`s and extra
/// parameters (`jku`, `crit`, …) never reach a key. At most `token_verifying_keys_len_max` keys,
/// so the lookup is a scan, which beats hashing at that size.
#[derive(Clone)]
pub struct VerifyingKeys {
    keys: Vec<KnownKey>,
}

#[derive(Clone)]
struct KnownKey {
    header_segment: Box<str>,
    kid: Box<str>,
    key: VerifyingKey,
}

impl VerifyingKeys {
    /// The keys of a JWK Set. Every key must be OKP/Ed25519 for `sig` with `alg: EdDSA`, a valid
    /// public key of full order, with its thumbprint as `kid`; a repeated key is kept once.
    pub fn from_jwks(jwks: &[Jwk]) -> Result<VerifyingKeys, KeyError> {
        let mut keys = Vec::with_capacity(jwks.len().min(token_verifying_keys_len_max));
        for jwk in jwks {
            let known = KnownKey::from_jwk(jwk)?;
            push_unique(&mut keys, known)?;
        }
        Ok(VerifyingKeys { keys })
    }

    /// The public halves of central's own key pairs.
    pub fn from_key_pairs<'a>(pairs: impl IntoIterator<Item = &'a SigningKeyPair>) -> Result<VerifyingKeys, KeyError> {
        let mut keys = Vec::new();
        for pair in pairs {
            let known = KnownKey {
                header_segment: pair.header_segment.clone().into_boxed_str(),
                kid: pair.kid.clone().into_boxed_str(),
                key: pair.verifying_key(),
            };
            push_unique(&mut keys, known)?;
        }
        Ok(VerifyingKeys { keys })
    }

    /// The key whose tokens start with exactly this header segment.
    pub(crate) fn by_header_segment(&self, segment: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|known| *known.header_segment == *segment).map(|known| &known.key)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|known| &*known.kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKeys").field("kids", &self.kids().collect::<Vec<_>>()).finish()
    }
}

impl KnownKey {
    fn from_jwk(jwk: &Jwk) -> Result<KnownKey, KeyError> {
        if (jwk.kty.as_str(), jwk.crv.as_str(), jwk.key_use.as_str(), jwk.alg.as_str())
            != ("OKP", "Ed25519", "sig", "EdDSA")
        {
            return Err(KeyError::NotEd25519);
        }
        let mut bytes = [0u8; 33];
        let key = match URL_SAFE_NO_PAD.decode_slice(&jwk.x, &mut bytes) {
            Ok(32) => VerifyingKey::from_bytes(bytes.first_chunk::<32>().ok_or(KeyError::BadPublicKey)?)
                .map_err(|_| KeyError::BadPublicKey)?,
            _ => return Err(KeyError::BadPublicKey),
        };
        // A small-order key lets one signature verify for many messages; verify_strict refuses
        // such keys anyway, but a bad key is better refused when it is loaded.
        if key.is_weak() {
            return Err(KeyError::BadPublicKey);
        }
        if thumbprint(&jwk.x) != jwk.kid {
            return Err(KeyError::KidMismatch);
        }
        Ok(KnownKey { header_segment: header_segment(&jwk.kid).into_boxed_str(), kid: jwk.kid.as_str().into(), key })
    }
}

fn push_unique(keys: &mut Vec<KnownKey>, known: KnownKey) -> Result<(), KeyError> {
    if keys.iter().any(|k| k.kid == known.kid) {
        return Ok(());
    }
    if keys.len() >= token_verifying_keys_len_max {
        return Err(KeyError::TooMany);
    }
    keys.push(known);
    Ok(())
}

/// RFC 7638 thumbprint of an Ed25519 JWK (RFC 8037 §2): base64url SHA-256 of its required
/// members in lexicographic order, without whitespace.
fn thumbprint(x: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(br#"{"crv":"Ed25519","kty":"OKP","x":""#);
    digest.update(x.as_bytes());
    digest.update(br#""}"#);
    URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// The header segment of every token signed by the key `kid`.
fn header_segment(kid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.1: the Ed25519 key `d` (secret) and `x` (public).
    const RFC_8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC_8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    /// RFC 8037 appendix A.3: that key's RFC 7638 thumbprint.
    const RFC_8037_KID: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

    fn rfc_8037_pair() -> SigningKeyPair {
        let d: [u8; 32] = URL_SAFE_NO_PAD.decode(RFC_8037_D).expect("base64").try_into().expect("32 bytes");
        SigningKeyPair::from_secret_bytes(d)
    }

    #[test]
    fn kid_is_the_rfc_7638_thumbprint_of_the_rfc_8037_vector() {
        // Proves the public key and kid match RFC 8037 appendix A.1 and A.3 exactly.
        let pair = rfc_8037_pair();
        let jwk = pair.public_jwk();
        assert_eq!(jwk.x, RFC_8037_X);
        assert_eq!(pair.kid(), RFC_8037_KID);
        assert_eq!(jwk.kid, RFC_8037_KID);
    }

    #[test]
    fn jwk_json_has_the_published_members() {
        // Proves the JWK serializes as OKP/Ed25519 with `use: sig` and `alg: EdDSA`, and parses back.
        let jwks = Jwks { keys: vec![rfc_8037_pair().public_jwk()] };
        let json = serde_json::to_string(&jwks).expect("serializable");
        assert_eq!(
            json,
            format!(
                r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{RFC_8037_X}","kid":"{RFC_8037_KID}","use":"sig","alg":"EdDSA"}}]}}"#
            )
        );
        assert_eq!(serde_json::from_str::<Jwks>(&json).expect("parses"), jwks);
    }

    #[test]
    fn secret_bytes_round_trip_and_debug_is_redacted() {
        // Proves a stored secret restores the same key and Debug never prints secret bytes.
        let pair = SigningKeyPair::generate();
        let again = SigningKeyPair::from_secret_bytes(pair.secret_bytes());
        assert_eq!(again.kid(), pair.kid());
        let shown = format!("{pair:?}");
        assert!(shown.contains("<redacted>") && shown.contains(pair.kid()));
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(pair.secret_bytes())));
        assert!(!shown.contains(&format!("{:?}", pair.secret_bytes())));
    }

    #[test]
    fn the_header_segment_is_the_exact_profile_header() {
        // Proves the expected header is EdDSA, at+jwt and the kid, in that order, no spaces.
        let pair = rfc_8037_pair();
        let header = URL_SAFE_NO_PAD.decode(pair.header_segment()).expect("base64");
        assert_eq!(header, format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{RFC_8037_KID}"}}"#).into_bytes());
        let keys = VerifyingKeys::from_key_pairs([&pair]).expect("one key");
        assert!(keys.by_header_segment(pair.header_segment()).is_some());
        assert!(keys.by_header_segment(SigningKeyPair::generate().header_segment()).is_none());
    }

    #[test]
    fn jwks_load_checks_every_member() {
        // Proves a good JWK loads (once if repeated) and each bad member is refused by name.
        let good = rfc_8037_pair().public_jwk();
        let keys = VerifyingKeys::from_jwks(&[good.clone(), good.clone()]).expect("good key");
        assert_eq!(keys.kids().collect::<Vec<_>>(), [RFC_8037_KID]);

        let bad = |change: fn(&mut Jwk)| {
            let mut jwk = good.clone();
            change(&mut jwk);
            VerifyingKeys::from_jwks(&[jwk]).map(|_| ())
        };
        assert_eq!(bad(|j| j.kty = "oct".into()), Err(KeyError::NotEd25519));
        assert_eq!(bad(|j| j.crv = "X25519".into()), Err(KeyError::NotEd25519));
        assert_eq!(bad(|j| j.alg = "HS256".into()), Err(KeyError::NotEd25519));
        assert_eq!(bad(|j| j.key_use = "enc".into()), Err(KeyError::NotEd25519));
        assert_eq!(bad(|j| j.x.push('A')), Err(KeyError::BadPublicKey));
        assert_eq!(bad(|j| j.x.truncate(40)), Err(KeyError::BadPublicKey));
        assert_eq!(bad(|j| j.kid = "other".into()), Err(KeyError::KidMismatch));
    }

    #[test]
    fn small_order_keys_are_refused() {
        // Proves the identity point (a weak key under which S = 0 "verifies" anything) is refused.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let x = URL_SAFE_NO_PAD.encode(identity);
        let jwk = Jwk { kid: thumbprint(&x), x, ..rfc_8037_pair().public_jwk() };
        assert_eq!(VerifyingKeys::from_jwks(&[jwk]).map(|_| ()), Err(KeyError::BadPublicKey));
    }

    #[test]
    fn key_sets_are_bounded() {
        // Proves no more than token_verifying_keys_len_max keys can be loaded.
        let pairs: Vec<SigningKeyPair> =
            (0..=token_verifying_keys_len_max).map(|_| SigningKeyPair::generate()).collect();
        assert_eq!(VerifyingKeys::from_key_pairs(&pairs).map(|_| ()), Err(KeyError::TooMany));
        let jwks: Vec<Jwk> = pairs.iter().map(SigningKeyPair::public_jwk).collect();
        assert_eq!(VerifyingKeys::from_jwks(&jwks).map(|_| ()), Err(KeyError::TooMany));
        let keys = VerifyingKeys::from_jwks(&jwks[1..]).expect("at the bound");
        assert_eq!(keys.len(), token_verifying_keys_len_max);
    }
}
