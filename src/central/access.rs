//! Bearer access tokens at central: verify (through the cache), then always consult the
//! revocation set and the grant's current state, and compute the effective scope
//! (token scope ∩ grant scope, DESIGN §4).

use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::central::error::{ApiResult, OrInternal};
use crate::central::state::SharedState;
use crate::domain::token::claims::AccessClaims;
use crate::domain::token::jwt::Expectations;
use crate::domain::token::scope::{Scope, ScopeSet};
use crate::http::bearer::bearer;
use crate::http::bearer_problems::{insufficient_scope, invalid_token, missing_token};
use crate::http::problem::Problem;
use crate::storage::central::oauth_records::{GrantRecord, GrantStatus};
use crate::storage::central::{grants, oauth};
use crate::storage::{StoreError, Tx};
use crate::vocab::ids::CompanyId;

/// A live access token: its claims, its grant as of now, and what it may do now.
#[derive(Debug, Clone)]
pub struct Access {
    pub claims: Arc<AccessClaims>,
    pub grant: GrantRecord,
    pub effective: ScopeSet,
}

impl Access {
    /// 403 `insufficient_scope` naming the missing scope (RFC 6750 §3.1).
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        if self.effective.contains(scope) { Ok(()) } else { Err(insufficient_scope(scope)) }
    }

    /// This access as its grant stands in this write transaction, for a hold or charge about
    /// to be booked: refused as at the token check if the grant was revoked or suspended
    /// since, or if it no longer allows `scope`. A request that waited for recalled leases (up
    /// to ~2 s) must not outlive a revocation, and it books under the grant's current cap.
    pub fn now_in(&self, tx: &Tx<'_>, scope: Scope) -> Result<Result<Access, Problem>, StoreError> {
        let Some(grant) = grants::get_in_tx(tx, &self.grant.id)? else {
            return Ok(Err(invalid_token("the token's grant does not exist")));
        };
        Ok(admit(self.claims.clone(), grant).and_then(|now| now.require(scope).map(|()| now)))
    }
}

/// The `aud` a token claims, read without trusting it: used only to pick the audience the
/// signature check then enforces, when no client credentials say which company is asking.
pub fn claimed_audience(token: &str) -> Option<CompanyId> {
    #[derive(serde::Deserialize)]
    struct Audience {
        aud: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let audience: Audience = serde_json::from_slice(&bytes).ok()?;
    CompanyId::parse(&audience.aud).ok()
}

/// Only the signature, times, issuer and audience: for revocation, which must work whatever
/// the grant's state (a token revoked while its grant is suspended stays revoked).
pub fn verify_signature(state: &SharedState, token: &str, audience: &CompanyId) -> Option<Arc<AccessClaims>> {
    let now = state.now();
    let snapshot = state.keyring.snapshot(now);
    let expect = Expectations { issuer: &state.public_url, audience, now };
    state.keyring.cache.verify(&snapshot.verifying, token, &expect).ok()
}

/// Checks a raw token for `audience` (or the token's own audience when `None`).
pub async fn check_token(state: &SharedState, token: &str, audience: Option<&CompanyId>) -> ApiResult<Access> {
    let audience = match audience {
        Some(company) => company.clone(),
        None => claimed_audience(token).ok_or_else(|| invalid_token("the access token is malformed"))?,
    };
    let now = state.now();
    let snapshot = state.keyring.snapshot(now);
    let expect = Expectations { issuer: &state.public_url, audience: &audience, now };
    let claims = state.keyring.cache.verify(&snapshot.verifying, token, &expect).map_err(|error| {
        tracing::debug!(error = %error, "access token refused");
        invalid_token(&format!("the access token is invalid: {error}"))
    })?;
    let (jti, grant_id) = (claims.jti.clone(), claims.grant.clone());
    let (revoked, grant) =
        state.store.read(move |r| Ok((oauth::is_revoked(r, &jti)?, grants::get(r, &grant_id)?))).await.or_internal()?;
    if revoked {
        return Err(invalid_token("the access token was revoked"));
    }
    let grant =
        grant.filter(|g| g.company_id == audience).ok_or_else(|| invalid_token("the token's grant does not exist"))?;
    admit(claims, grant)
}

/// What a verified token may do under `grant`: nothing (401) unless the grant is active, else
/// the token's scope narrowed to the grant's.
fn admit(claims: Arc<AccessClaims>, grant: GrantRecord) -> ApiResult<Access> {
    match grant.status {
        GrantStatus::Active => {}
        GrantStatus::Suspended => return Err(invalid_token("the grant is suspended until the customer confirms it")),
        GrantStatus::Revoked => return Err(invalid_token("the customer revoked this grant")),
    }
    let effective = claims.scope.intersection(grant.scope);
    Ok(Access { claims, grant, effective })
}

/// Checks the request's `Authorization: Bearer` access token.
pub async fn authenticate(state: &SharedState, headers: &HeaderMap, audience: Option<&CompanyId>) -> ApiResult<Access> {
    let token = bearer(headers).ok_or_else(missing_token)?;
    check_token(state, token.expose(), audience).await
}
