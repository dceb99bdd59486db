//! Access tokens as compact JWS: issue (central) and verify (both roles), per DESIGN §4.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer};

use crate::domain::token::claims::{AccessClaims, times_are_well_formed};
use crate::domain::token::keys::{SigningKeyPair, VerifyingKeys};
use crate::domain::token::scope::ScopeSet;
use crate::vocab::ids::{AccountId, CompanyId, GrantId};
use crate::vocab::limits::{token_clock_skew_s, token_len_max};
use crate::vocab::time::Timestamp;

/// Bytes of a decoded payload segment, with room for base64's rounding.
const PAYLOAD_BYTES_MAX: usize = token_len_max / 4 * 3 + 3;
/// Characters of an unpadded base64url Ed25519 signature (64 bytes).
const SIGNATURE_SEGMENT_LEN: usize = 86;
/// The header every PROTUS token carries, around its `kid`.
const HEADER_PREFIX: &[u8] = br#"{"alg":"EdDSA","typ":"at+jwt","kid":""#;
const HEADER_SUFFIX: &[u8] = br#""}"#;

/// Why a token was refused. Each names the first check that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is longer than {token_len_max} bytes")]
    TooLong,
    #[error("token is not three base64url segments")]
    Malformed,
    #[error("token header is not exactly EdDSA, at+jwt and a kid")]
    BadHeader,
    #[error("token is signed by an unknown key")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token claims are malformed")]
    BadClaims,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued by another issuer")]
    WrongIssuer,
    #[error("token is for another audience")]
    WrongAudience,
}

/// What a verifier expects of a token: central's issuer URL, the company it acts for, and now.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub audience: &'a CompanyId,
    pub now: Timestamp,
}

/// The compact JWS of `claims` signed by `key`: `header.payload.signature`, each base64url
/// without padding; the header is exactly `{"alg":"EdDSA","typ":"at+jwt","kid":"<kid>"}`.
///
/// Panics on claims PROTUS would not issue (see [`AccessClaims::is_well_formed`]) or that make a
/// token longer than `token_len_max`: both are our bug, and such a token would never verify.
pub fn issue(key: &SigningKeyPair, claims: &AccessClaims) -> String {
    assert!(claims.is_well_formed(), "refusing to sign misshapen claims");
    let payload = serde_json::to_vec(claims).expect("claims are strings and integers, always serializable");
    let header = key.header_segment();
    let mut token = String::with_capacity(header.len() + payload.len().div_ceil(3) * 4 + SIGNATURE_SEGMENT_LEN + 2);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.signing_key().sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    assert!(token.len() <= token_len_max, "an issued token of {} bytes would never verify", token.len());
    token
}

/// The claims of `token` if it is a PROTUS access token signed by one of `keys` that `expect`
/// accepts. Checks, in order: length, shape, header (byte for byte), signature (`verify_strict`),
/// claims' JSON (exactly the profile's fields), `exp`/`nbf` (with skew), `iss`, `aud`, then the
/// claims' form (`client_id == aud`, `nbf == iat`, lifetime, id syntax).
///
/// The caller still owns the rest of DESIGN §4: the revocation set and the grant's current state
/// (effective scope = `claims.scope` ∩ the grant's scope).
pub fn verify(keys: &VerifyingKeys, token: &str, expect: &Expectations<'_>) -> Result<AccessClaims, TokenError> {
    let mut payload = [0u8; PAYLOAD_BYTES_MAX];
    let payload_len = verify_signature(keys, token, &mut payload)?;
    // Borrowed first: the checks run on the payload's own bytes, and the two company ids are
    // cloned from `expect` rather than parsed, which halves the cost of building the claims.
    let wire: WireClaims<'_> = serde_json::from_slice(&payload[..payload_len]).map_err(|_| TokenError::BadClaims)?;
    check_fields(&wire.iss, &wire.aud, wire.nbf, wire.exp, expect)?;
    if wire.client_id != wire.aud || !times_are_well_formed(wire.iat, wire.nbf, wire.exp) {
        return Err(TokenError::BadClaims);
    }
    Ok(AccessClaims {
        iss: expect.issuer.to_owned(),
        sub: AccountId::parse(&wire.sub).map_err(|_| TokenError::BadClaims)?,
        aud: expect.audience.clone(),
        client_id: expect.audience.clone(),
        scope: wire.scope,
        grant: GrantId::parse(&wire.grant).map_err(|_| TokenError::BadClaims)?,
        iat: wire.iat,
        nbf: wire.nbf,
        exp: wire.exp,
        jti: wire.jti.into_owned(),
    })
}

/// The claims as the payload carries them, borrowed where JSON has no escapes. Same fields and
/// rules as [`AccessClaims`]: unknown or repeated fields and unknown scopes fail.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireClaims<'a> {
    #[serde(borrow)]
    iss: Cow<'a, str>,
    #[serde(borrow)]
    sub: Cow<'a, str>,
    #[serde(borrow)]
    aud: Cow<'a, str>,
    #[serde(borrow)]
    client_id: Cow<'a, str>,
    scope: ScopeSet,
    #[serde(borrow)]
    grant: Cow<'a, str>,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(borrow)]
    jti: Cow<'a, str>,
}

/// Checks length, shape, header and signature; decodes the payload into `payload` and returns
/// its length.
fn verify_signature(keys: &VerifyingKeys, token: &str, payload: &mut [u8]) -> Result<usize, TokenError> {
    if token.len() > token_len_max {
        return Err(TokenError::TooLong);
    }
    let (header, rest) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let (payload_segment, signature) = rest.split_once('.').ok_or(TokenError::Malformed)?;
    let key = keys.by_header_segment(header).ok_or_else(|| classify_header(header))?;
    let signature = decode_signature(signature)?;
    let payload_len = URL_SAFE_NO_PAD.decode_slice(payload_segment, payload).map_err(|_| TokenError::Malformed)?;
    let signing_input = &token.as_bytes()[..header.len() + 1 + payload_segment.len()];
    key.verify_strict(signing_input, &signature).map_err(|_| TokenError::BadSignature)?;
    Ok(payload_len)
}

/// The time, issuer and audience checks, also run on every cache hit.
pub fn check_claims(claims: &AccessClaims, expect: &Expectations<'_>) -> Result<(), TokenError> {
    check_fields(&claims.iss, claims.aud.as_str(), claims.nbf, claims.exp, expect)
}

fn check_fields(iss: &str, aud: &str, nbf: i64, exp: i64, expect: &Expectations<'_>) -> Result<(), TokenError> {
    let now_s = expect.now.unix_s();
    if now_s >= exp.saturating_add(token_clock_skew_s) {
        return Err(TokenError::Expired);
    }
    if nbf > now_s.saturating_add(token_clock_skew_s) {
        return Err(TokenError::NotYetValid);
    }
    if iss != expect.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if aud != expect.audience.as_str() {
        return Err(TokenError::WrongAudience);
    }
    Ok(())
}

/// The header segment of `token` when it is one of `keys`' (for the cache's re-check).
pub(crate) fn header_is_known(keys: &VerifyingKeys, token: &str) -> bool {
    token.split_once('.').is_some_and(|(header, _)| keys.by_header_segment(header).is_some())
}

fn decode_signature(segment: &str) -> Result<Signature, TokenError> {
    if segment.len() != SIGNATURE_SEGMENT_LEN {
        return Err(TokenError::Malformed);
    }
    let mut bytes = [0u8; 66];
    match URL_SAFE_NO_PAD.decode_slice(segment, &mut bytes) {
        Ok(64) => Ok(Signature::from_bytes(bytes.first_chunk::<64>().ok_or(TokenError::Malformed)?)),
        _ => Err(TokenError::Malformed),
    }
}

/// Why a header segment matched no key (the error path only): one that is not base64url of a
/// JSON object is malformed, one of PROTUS's exact form names an unknown key, and anything else
/// is a header PROTUS never issues.
fn classify_header(segment: &str) -> TokenError {
    // Ours are about 110 characters; a header this long is no PROTUS header, whatever it holds.
    if segment.len() > 256 {
        return TokenError::BadHeader;
    }
    let mut bytes = [0u8; 192];
    let header = match URL_SAFE_NO_PAD.decode_slice(segment, &mut bytes) {
        Ok(len) if bytes[..len].starts_with(b"{") => &bytes[..len],
        _ => return TokenError::Malformed,
    };
    let kid = header.strip_prefix(HEADER_PREFIX).and_then(|rest| rest.strip_suffix(HEADER_SUFFIX));
    match kid {
        Some(kid) if !kid.is_empty() && kid.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) => {
            TokenError::UnknownKey
        }
        _ => TokenError::BadHeader,
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
