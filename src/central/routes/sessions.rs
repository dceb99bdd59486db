//! Signing in and out.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;

use crate::central::auth::AnySession;
use crate::central::error::{ApiResult, OrInternal, blocking};
use crate::central::state::SharedState;
use crate::domain::passwords;
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::storage::central::records::{SessionKind, SessionRecord};
use crate::storage::central::{companies, customers, sessions};
use crate::vocab::limits::session_ttl_s;
use crate::vocab::names::Email;
use crate::vocab::secret::Secret;
use crate::wire::people::{CreateSession, Session, SessionKindWire};
use crate::wire::secret_text::SecretText;

/// Sign in as a customer or a company; the token goes in `Authorization: Bearer`.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = CreateSession,
    responses((status = 201, body = Session), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn create_session(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: ApiJson<CreateSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let input = body.value;
    let invalid = || Problem::unauthorized("invalid email or password");
    let email = Email::parse(&input.email).map_err(|_| invalid())?;
    let now = state.now();
    let limited = state.limiters.sign_in(&email, peer.ip(), now);
    if let Err(retry_after) = limited {
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many sign-in attempts; wait and retry",
        )
        .with_retry_after(retry_after));
    }
    let (kind, subject, hash) = match input.kind {
        SessionKindWire::Customer => {
            let found = state.store.read(move |r| customers::by_email(r, &email)).await.or_internal()?;
            (SessionKind::Customer, found.as_ref().map(|c| c.id.to_string()), found.and_then(|c| c.password_hash))
        }
        SessionKindWire::Company => {
            let found = state.store.read(move |r| companies::by_email(r, &email)).await.or_internal()?;
            (SessionKind::Company, found.as_ref().map(|c| c.id.to_string()), found.map(|c| c.password_hash))
        }
    };
    // Unknown emails still pay for a hash check, so timing does not tell which emails exist.
    let password = Secret::new(input.password.0);
    let _permit = state.hashing.acquire().await.map_err(|_| Problem::internal())?;
    let matches = blocking(move || {
        passwords::verify(&password, hash.as_deref().unwrap_or(passwords::dummy_hash())) && hash.is_some()
    })
    .await?;
    let subject = subject.filter(|_| matches).ok_or_else(invalid)?;
    let token = Secret::generate("pts_");
    let session = SessionRecord { kind, subject, created_at: now, expires_at: now.plus_s(session_ttl_s) };
    let expires_at = session.expires_at;
    let stored = token.clone();
    state.store.write(move |tx| sessions::create(tx, &stored, &session)).await.or_internal()?;
    Ok((
        StatusCode::CREATED,
        Json(Session { token: SecretText(token.expose().to_owned()), expires_at: expires_at.to_rfc3339() }),
    ))
}

/// Sign out: the session token stops working at once.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions", security(("session" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_current_session(State(state): State<SharedState>, current: AnySession) -> ApiResult<StatusCode> {
    let token = current.token;
    state.store.write(move |tx| sessions::revoke(tx, &token)).await.or_internal()?;
    Ok(StatusCode::NO_CONTENT)
}
