//! Access-token claims: the RFC 9068 JWT profile PROTUS issues (DESIGN §4).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::token::scope::ScopeSet;
use crate::vocab::ids::{AccountId, CompanyId, GrantId};
use crate::vocab::limits::token_ttl_s_max;
use crate::vocab::rng;
use crate::vocab::time::Timestamp;

/// The claims of a PROTUS access token. Field names are the JSON names (RFC 9068 §2.2); times
/// are Unix seconds. Parsing refuses unknown fields, so a token carries exactly these.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// Central's public URL.
    pub iss: String,
    /// The account (company × customer): the pairwise subject the company sees.
    pub sub: AccountId,
    /// The company the token is for.
    pub aud: CompanyId,
    /// The OAuth client, which is the company itself: always equal to `aud`.
    pub client_id: CompanyId,
    /// The scopes granted when the token was issued; the grant's current scope may be narrower.
    pub scope: ScopeSet,
    /// The grant the token was issued under.
    pub grant: GrantId,
    pub iat: i64,
    /// Always equal to `iat`.
    pub nbf: i64,
    pub exp: i64,
    /// A unique token id (16 random bytes, base64url), used to revoke this one token.
    pub jti: String,
}

/// What a token is issued for; [`AccessClaims::issued`] adds the times and the `jti`.
#[derive(Debug, Clone)]
pub struct Issuance<'a> {
    pub issuer: &'a str,
    pub account: AccountId,
    pub company: CompanyId,
    pub scope: ScopeSet,
    pub grant: GrantId,
}

impl AccessClaims {
    /// Claims issued at `now`, valid for `ttl_s` seconds, with a fresh random `jti`.
    ///
    /// Panics when `ttl_s` is not in `1..=token_ttl_s_max`: configuration is checked at start-up,
    /// so another value here is our bug.
    pub fn issued(what: Issuance<'_>, now: Timestamp, ttl_s: i64) -> AccessClaims {
        assert!(0 < ttl_s && ttl_s <= token_ttl_s_max, "token lifetime {ttl_s} s is out of range");
        let iat = now.unix_s();
        AccessClaims {
            iss: what.issuer.to_owned(),
            sub: what.account,
            aud: what.company.clone(),
            client_id: what.company,
            scope: what.scope,
            grant: what.grant,
            iat,
            nbf: iat,
            exp: iat.saturating_add(ttl_s),
            jti: URL_SAFE_NO_PAD.encode(rng::random_bytes::<16>()),
        }
    }

    /// Whether the claims are shaped as PROTUS issues them: `client_id == aud`, `nbf == iat` and
    /// a lifetime in `1..=token_ttl_s_max`.
    pub fn is_well_formed(&self) -> bool {
        self.client_id == self.aud && times_are_well_formed(self.iat, self.nbf, self.exp)
    }
}

/// `nbf == iat` and a lifetime in `1..=token_ttl_s_max`.
pub(crate) fn times_are_well_formed(iat: i64, nbf: i64, exp: i64) -> bool {
    let ttl_s = exp.saturating_sub(iat);
    nbf == iat && 0 < ttl_s && ttl_s <= token_ttl_s_max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AccessClaims {
        let what = Issuance {
            issuer: "http://127.0.0.1:8080",
            account: AccountId::generate(),
            company: CompanyId::generate(),
            scope: ScopeSet::ALL,
            grant: GrantId::generate(),
        };
        AccessClaims::issued(what, Timestamp::from_unix_ms(1_700_000_000_500), 3600)
    }

    #[test]
    fn issued_claims_follow_the_profile() {
        // Proves issuance sets client_id = aud, nbf = iat, exp = iat + ttl and a fresh jti.
        let claims = sample();
        assert_eq!(claims.client_id, claims.aud);
        assert_eq!((claims.iat, claims.nbf, claims.exp), (1_700_000_000, 1_700_000_000, 1_700_003_600));
        assert_eq!(claims.jti.len(), 22);
        assert_ne!(claims.jti, sample().jti);
        assert!(claims.is_well_formed());
    }

    #[test]
    fn json_uses_the_rfc_9068_names_and_refuses_extra_fields() {
        // Proves the serde names are exactly the profile's and unknown or missing fields fail.
        let claims = sample();
        let json = serde_json::to_value(&claims).expect("serializable");
        let mut names: Vec<&str> = json.as_object().expect("an object").keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["aud", "client_id", "exp", "grant", "iat", "iss", "jti", "nbf", "scope", "sub"]);
        assert_eq!(json["scope"], "check hold charge");
        let back: AccessClaims = serde_json::from_value(json.clone()).expect("round trip");
        assert_eq!(back, claims);

        let mut extra = json.clone();
        extra["admin"] = serde_json::Value::Bool(true);
        assert!(serde_json::from_value::<AccessClaims>(extra).is_err());
        let mut missing = json;
        missing.as_object_mut().expect("an object").remove("nbf");
        assert!(serde_json::from_value::<AccessClaims>(missing).is_err());
    }

    #[test]
    fn misshapen_claims_are_not_well_formed() {
        // Proves a foreign client_id, nbf ≠ iat, or an over-long or negative lifetime is caught.
        let mut claims = sample();
        claims.client_id = CompanyId::generate();
        assert!(!claims.is_well_formed());
        let mut claims = sample();
        claims.nbf += 1;
        assert!(!claims.is_well_formed());
        let mut claims = sample();
        claims.exp = claims.iat + token_ttl_s_max + 1;
        assert!(!claims.is_well_formed());
        let mut claims = sample();
        claims.exp = claims.iat;
        assert!(!claims.is_well_formed());
    }
}
