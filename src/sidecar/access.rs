//! Bearer access tokens at the sidecar, answered from local state exactly as central answers
//! them (DESIGN §4): verify through the cache with this sidecar's company as the audience, then
//! always consult the revocation set and the grant's current state; effective scope = token
//! scope ∩ grant scope. Central's `access` module is the twin; neither imports the other.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

use crate::domain::token::claims::AccessClaims;
use crate::domain::token::jwt::Expectations;
use crate::domain::token::scope::{Scope, ScopeSet};
use crate::http::bearer::bearer;
use crate::http::problem::Problem;
use crate::sidecar::local::GrantStatus;
use crate::sidecar::metrics::Outcome;
use crate::sidecar::state::SidecarState;
use crate::vocab::limits::{grant_arrival_poll_ms, grant_arrival_wait_ms, grant_arrival_window_s};

/// A live access token: its claims and what it may do now.
#[derive(Debug, Clone)]
pub struct Access {
    pub claims: Arc<AccessClaims>,
    pub effective: ScopeSet,
}

/// A refusal, with the outcome it counts as.
#[derive(Debug)]
pub struct Refusal {
    pub outcome: Outcome,
    pub problem: Problem,
    /// A valid, freshly issued token whose grant the feed has not brought yet: worth a short wait.
    pub grant_on_its_way: bool,
}

impl Access {
    /// 403 `insufficient_scope` naming the missing scope (RFC 6750 §3.1).
    pub fn require(&self, scope: Scope) -> Result<(), Refusal> {
        if self.effective.contains(scope) {
            return Ok(());
        }
        let problem =
            Problem::new(StatusCode::FORBIDDEN, "insufficient_scope", format!("the token does not allow {scope}"))
                .with_www_authenticate(&format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""));
        Err(Refusal { outcome: Outcome::InsufficientScope, problem, grant_on_its_way: false })
    }
}

fn invalid_token(description: &str) -> Refusal {
    let problem = Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
        .with_www_authenticate(&format!("Bearer error=\"invalid_token\", error_description=\"{description}\""));
    Refusal { outcome: Outcome::InvalidToken, problem, grant_on_its_way: false }
}

/// 503 until the sidecar has enrolled and applied its first snapshot.
fn not_ready() -> Refusal {
    let problem = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "central_unavailable",
        "the sidecar has not synchronised with central yet",
    )
    .with_retry_after(1);
    Refusal { outcome: Outcome::NotReady, problem, grant_on_its_way: false }
}

/// Checks a raw token against local state. Never waits: no I/O, two short locks.
pub fn check_token(state: &SidecarState, token: &str) -> Result<Access, Refusal> {
    let Some(company) = state.company.get() else { return Err(not_ready()) };
    let local = state.local();
    let Some(local) = local.as_ref() else { return Err(not_ready()) };
    let expect = Expectations { issuer: &local.issuer, audience: company, now: state.now() };
    let claims = state.cache.verify(&local.keys, token, &expect).map_err(|error| {
        tracing::debug!(error = %error, "access token refused");
        invalid_token(&format!("the access token is invalid: {error}"))
    })?;
    if local.is_revoked(&claims.jti) {
        return Err(invalid_token("the access token was revoked"));
    }
    let grant =
        local.grant(claims.grant.as_str()).filter(|g| g.account_id == claims.sub.as_str()).ok_or_else(|| {
            let fresh = claims.iat >= state.now().unix_s().saturating_sub(grant_arrival_window_s);
            Refusal { grant_on_its_way: fresh, ..invalid_token("the token's grant does not exist") }
        })?;
    match grant.status {
        GrantStatus::Active => {}
        GrantStatus::Suspended => return Err(invalid_token("the grant is suspended until the customer confirms it")),
        GrantStatus::Revoked => return Err(invalid_token("the customer revoked this grant")),
    }
    let effective = claims.scope.intersection(grant.scope);
    Ok(Access { claims, effective })
}

/// [`authenticate`], but a valid token issued moments ago whose grant the feed has not brought
/// yet (a partner that bills right after sign-in) waits for it, up to `grant_arrival_wait_ms`,
/// instead of being refused. Anything else is answered at once.
pub async fn authenticate_waiting(state: &SidecarState, headers: &HeaderMap) -> Result<Access, Refusal> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(grant_arrival_wait_ms);
    loop {
        match authenticate(state, headers) {
            Err(refusal) if refusal.grant_on_its_way && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(grant_arrival_poll_ms)).await;
            }
            answer => return answer,
        }
    }
}

/// Checks the request's `Authorization: Bearer` access token.
pub fn authenticate(state: &SidecarState, headers: &HeaderMap) -> Result<Access, Refusal> {
    let Some(token) = bearer(headers) else {
        let problem = Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the customer's access token as Authorization: Bearer",
        )
        .with_www_authenticate("Bearer");
        return Err(Refusal { outcome: Outcome::Unauthorized, problem, grant_on_its_way: false });
    };
    check_token(state, token.expose())
}
