//! Tests of `jwt`: the round trip and every rejection of issue 3's "Bad input and security".

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;
use crate::domain::token::claims::Issuance;
use crate::domain::token::scope::ScopeSet;
use crate::vocab::ids::{AccountId, GrantId};

const ISSUER: &str = "http://127.0.0.1:8080";

struct Fixture {
    pair: SigningKeyPair,
    keys: VerifyingKeys,
    company: CompanyId,
    claims: AccessClaims,
    now: Timestamp,
}

impl Fixture {
    fn new() -> Fixture {
        let pair = SigningKeyPair::generate();
        let keys = VerifyingKeys::from_key_pairs([&pair]).expect("one key");
        let company = CompanyId::generate();
        let now = Timestamp::from_unix_ms(1_700_000_000_000);
        let what = Issuance {
            issuer: ISSUER,
            account: AccountId::generate(),
            company: company.clone(),
            scope: ScopeSet::parse("check hold").expect("known scopes"),
            grant: GrantId::generate(),
        };
        let claims = AccessClaims::issued(what, now, 3600);
        Fixture { pair, keys, company, claims, now }
    }

    fn expect_at(&self, now: Timestamp) -> Expectations<'_> {
        Expectations { issuer: ISSUER, audience: &self.company, now }
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        verify(&self.keys, token, &self.expect_at(self.now))
    }

    fn token(&self) -> String {
        issue(&self.pair, &self.claims)
    }

    /// The claims as JSON text, changed by `change`.
    fn payload_with(&self, change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut json = serde_json::to_value(&self.claims).expect("serializable");
        change(&mut json);
        json.to_string()
    }

    fn header_json(&self) -> String {
        format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}"}}"#, self.pair.kid())
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token built by hand from header and payload JSON, really signed by `pair`.
fn sign_raw(pair: &SigningKeyPair, header_json: &str, payload_json: &str) -> String {
    let input = format!("{}.{}", b64(header_json), b64(payload_json));
    let signature = pair.signing_key().sign(input.as_bytes());
    format!("{input}.{}", b64(signature.to_bytes()))
}

#[test]
fn an_issued_token_verifies_to_its_claims() {
    // Proves the round trip and the exact header bytes of an issued token.
    let f = Fixture::new();
    let token = f.token();
    assert_eq!(f.verify(&token), Ok(f.claims.clone()));
    let header = token.split('.').next().expect("three segments");
    assert_eq!(URL_SAFE_NO_PAD.decode(header).expect("base64"), f.header_json().into_bytes());
    assert_eq!(token.split('.').count(), 3);
    assert!(token.len() < 600, "token of {} bytes", token.len());
}

#[test]
fn alg_none_is_refused() {
    // Proves an unsigned `alg: none` token with our kid is refused at the header.
    let f = Fixture::new();
    let header = format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#, f.pair.kid());
    let token = format!("{}.{}.", b64(header), b64(f.payload_with(|_| {})));
    assert_eq!(f.verify(&token), Err(TokenError::BadHeader));
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    // Proves the algorithm-confusion attack (HMAC keyed by the public key) is refused.
    let f = Fixture::new();
    let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#, f.pair.kid());
    let input = format!("{}.{}", b64(header), b64(f.payload_with(|_| {})));
    let mut mac = Hmac::<Sha256>::new_from_slice(f.pair.verifying_key().as_bytes()).expect("any key length");
    mac.update(input.as_bytes());
    let token = format!("{input}.{}", b64(mac.finalize().into_bytes()));
    assert_eq!(f.verify(&token), Err(TokenError::BadHeader));
}

#[test]
fn a_token_of_an_unknown_key_is_refused() {
    // Proves a token signed by a key outside the set fails as an unknown kid.
    let f = Fixture::new();
    let stranger = SigningKeyPair::generate();
    assert_eq!(f.verify(&issue(&stranger, &f.claims)), Err(TokenError::UnknownKey));
}

#[test]
fn a_known_kid_on_another_keys_signature_is_refused() {
    // Proves naming a trusted kid does not help a token signed by another key.
    let f = Fixture::new();
    let stranger = SigningKeyPair::generate();
    let input = format!("{}.{}", f.pair.header_segment(), b64(f.payload_with(|_| {})));
    let signature = stranger.signing_key().sign(input.as_bytes());
    let token = format!("{input}.{}", b64(signature.to_bytes()));
    assert_eq!(f.verify(&token), Err(TokenError::BadSignature));
}

#[test]
fn a_modified_payload_is_refused() {
    // Proves changing a claim (here the scope, then the audience) breaks the kept signature.
    let f = Fixture::new();
    let token = f.token();
    let signature = token.rsplit('.').next().expect("three segments");
    for change in [("scope", "check hold charge".to_owned()), ("sub", AccountId::generate().to_string())] {
        let payload = f.payload_with(|json| json[change.0] = change.1.into());
        let forged = format!("{}.{}.{signature}", f.pair.header_segment(), b64(payload));
        assert_eq!(f.verify(&forged), Err(TokenError::BadSignature));
    }
}

#[test]
fn a_token_of_company_a_is_useless_to_company_b() {
    // Proves the audience check: the same valid token fails for another company.
    let f = Fixture::new();
    let other = CompanyId::generate();
    let expect = Expectations { issuer: ISSUER, audience: &other, now: f.now };
    assert_eq!(verify(&f.keys, &f.token(), &expect), Err(TokenError::WrongAudience));
}

#[test]
fn a_token_of_another_issuer_is_refused() {
    // Proves the issuer check.
    let f = Fixture::new();
    let expect = Expectations { issuer: "https://protus.example", audience: &f.company, now: f.now };
    assert_eq!(verify(&f.keys, &f.token(), &expect), Err(TokenError::WrongIssuer));
}

#[test]
fn expiry_allows_sixty_seconds_of_skew_and_no_more() {
    // Proves a token is accepted up to 60 s past exp and refused from then on.
    let f = Fixture::new();
    let token = f.token();
    let exp = Timestamp::from_unix_ms(f.claims.exp * 1000);
    assert!(verify(&f.keys, &token, &f.expect_at(exp.plus_s(59))).is_ok());
    assert_eq!(verify(&f.keys, &token, &f.expect_at(exp.plus_s(60))), Err(TokenError::Expired));
    assert_eq!(verify(&f.keys, &token, &f.expect_at(exp.plus_s(3600))), Err(TokenError::Expired));
}

#[test]
fn not_before_allows_sixty_seconds_of_skew_and_no_more() {
    // Proves a token is accepted from 60 s before nbf and refused earlier.
    let f = Fixture::new();
    let token = f.token();
    assert!(verify(&f.keys, &token, &f.expect_at(f.now.minus_s(60))).is_ok());
    assert_eq!(verify(&f.keys, &token, &f.expect_at(f.now.minus_s(61))), Err(TokenError::NotYetValid));
}

#[test]
fn unknown_scopes_and_misshapen_claims_are_refused_even_when_signed() {
    // Proves correctly signed claims still fail on an unknown scope, an extra or duplicate
    // field, client_id ≠ aud, nbf ≠ iat, an over-long lifetime, or a payload that is not JSON.
    let f = Fixture::new();
    let header = f.header_json();
    let payloads = [
        f.payload_with(|json| json["scope"] = "check admin".into()),
        f.payload_with(|json| json["admin"] = true.into()),
        f.payload_with(|json| json["client_id"] = CompanyId::generate().to_string().into()),
        f.payload_with(|json| json["nbf"] = (f.claims.iat - 1).into()),
        f.payload_with(|json| json["exp"] = (f.claims.iat + 2 * 24 * 3600).into()),
        f.payload_with(|json| json["sub"] = f.company.to_string().into()),
        f.payload_with(|_| {}).replacen('{', r#"{"iss":"http://evil","#, 1),
        "not json".to_owned(),
    ];
    for payload in payloads {
        assert_eq!(f.verify(&sign_raw(&f.pair, &header, &payload)), Err(TokenError::BadClaims), "{payload}");
    }
    // The same hand-built path accepts the untouched claims, so the refusals above are the changes.
    assert_eq!(f.verify(&sign_raw(&f.pair, &header, &f.payload_with(|_| {}))), Ok(f.claims.clone()));
}

#[test]
fn any_other_header_is_refused_even_when_signed() {
    // Proves extra parameters (jku, crit), another typ, reordering and whitespace all fail.
    let f = Fixture::new();
    let kid = f.pair.kid();
    let headers = [
        format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","jku":"https://evil.example/jwks"}}"#),
        format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","crit":["exp"]}}"#),
        format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
        format!(r#"{{"kid":"{kid}","alg":"EdDSA","typ":"at+jwt"}}"#),
        format!(r#"{{"alg": "EdDSA","typ":"at+jwt","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"Ed25519","typ":"at+jwt","kid":"{kid}"}}"#),
    ];
    let payload = f.payload_with(|_| {});
    for header in headers {
        assert_eq!(f.verify(&sign_raw(&f.pair, &header, &payload)), Err(TokenError::BadHeader), "{header}");
    }
}

#[test]
fn a_malleated_signature_with_s_above_the_group_order_is_refused() {
    // Proves verify_strict's canonical-S rule: (R, S + L) satisfies the group equation of the
    // original signature but is refused.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let f = Fixture::new();
    let token = f.token();
    let (input, signature) = token.rsplit_once('.').expect("three segments");
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("base64");
    let mut carry = 0u16;
    for (s, l) in bytes[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits");
    let malleated = format!("{input}.{}", b64(&bytes));
    assert_eq!(f.verify(&malleated), Err(TokenError::BadSignature));

    // A small-order R (the identity) with the same S is refused too.
    bytes[..32].copy_from_slice(&[
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert_eq!(f.verify(&format!("{input}.{}", b64(&bytes))), Err(TokenError::BadSignature));
}

#[test]
fn truncated_padded_and_garbage_input_is_malformed() {
    // Proves inputs that are not three strict base64url segments fail as malformed or too long.
    let f = Fixture::new();
    let token = f.token();
    let (input, _) = token.rsplit_once('.').expect("three segments");
    let (header, payload) = input.split_once('.').expect("three segments");
    let malformed = [
        String::new(),
        ".".to_owned(),
        "..".to_owned(),
        "a.b".to_owned(),
        token[..token.len() - 1].to_owned(),
        format!("{token}A"),
        format!("{token}="),
        format!("{token}.x"),
        input.to_owned(),
        format!("{header}.{payload}*.{}", token.rsplit('.').next().expect("signature")),
        "!!!.abc.def".to_owned(),
        "ünïcödé.x.y".to_owned(),
    ];
    for bad in &malformed {
        assert_eq!(f.verify(bad), Err(TokenError::Malformed), "{bad}");
    }
    assert_eq!(f.verify(&"a".repeat(token_len_max + 1)), Err(TokenError::TooLong));
    assert_eq!(f.verify(&format!("{}{token}", "A".repeat(4000))), Err(TokenError::TooLong));
}

#[test]
#[should_panic(expected = "refusing to sign misshapen claims")]
fn issuing_refuses_claims_that_could_never_verify() {
    // Proves issue panics on claims PROTUS would not issue (client_id ≠ aud): that is our bug.
    let f = Fixture::new();
    let mut claims = f.claims.clone();
    claims.client_id = CompanyId::generate();
    issue(&f.pair, &claims);
}
