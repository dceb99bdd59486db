//! Minting tokens at central: signed access tokens (DESIGN §4) and opaque refresh tokens, which
//! are stored only as their SHA-256.

use crate::central::state::AppState;
use crate::domain::token::claims::{AccessClaims, Issuance};
use crate::domain::token::jwt;
use crate::domain::token::scope::ScopeSet;
use crate::storage::central::oauth_records::{GrantRecord, IssuedTokens};
use crate::vocab::secret::Secret;
use crate::vocab::time::Timestamp;

/// A signed access token and what must be remembered about it.
#[derive(Debug, Clone)]
pub struct MintedAccess {
    pub token: Secret,
    pub jti: String,
    pub expires_at: Timestamp,
    pub ttl_s: i64,
}

/// Signs an access token for `grant` with `scope` at `now`. `None` only if no key may sign yet,
/// which cannot happen once the keyring has loaded (the first key signs from its creation).
pub fn mint_access(state: &AppState, grant: &GrantRecord, scope: ScopeSet, now: Timestamp) -> Option<MintedAccess> {
    let ttl_s = state.oauth.access_token_ttl_s;
    let claims = AccessClaims::issued(
        Issuance {
            issuer: &state.public_url,
            account: grant.account_id.clone(),
            company: grant.company_id.clone(),
            scope,
            grant: grant.id.clone(),
        },
        now,
        ttl_s,
    );
    let snapshot = state.keyring.snapshot(now);
    let signer = snapshot.signer(now)?;
    let token = jwt::issue(signer, &claims);
    Some(MintedAccess {
        token: Secret::new(token),
        jti: claims.jti.clone(),
        expires_at: Timestamp::from_unix_ms(claims.exp * 1000),
        ttl_s,
    })
}

/// A fresh refresh token and the hex SHA-256 it is stored under.
pub fn new_refresh_token() -> (Secret, String) {
    let token = Secret::generate("prt_");
    let hash = hex::encode(token.digest().0);
    (token, hash)
}

/// The hex SHA-256 a presented opaque token (code, refresh token) is looked up by.
pub fn lookup_hash(presented: &str) -> String {
    hex::encode(Secret::new(presented.to_owned()).digest().0)
}

/// What a code or refresh exchange issued, for replay detection.
pub fn issued_record(access: &MintedAccess, family: &str) -> IssuedTokens {
    IssuedTokens { jti: access.jti.clone(), access_expires_at: access.expires_at, refresh_family: family.to_owned() }
}
