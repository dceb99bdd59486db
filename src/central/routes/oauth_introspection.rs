//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662), client-authenticated.
//! A company sees and revokes only its own tokens; anyone else's look inactive.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::central::access::{check_token, verify_signature};
use crate::central::client_auth;
use crate::central::routes::oauth_token::client_error;
use crate::central::state::SharedState;
use crate::central::tokens::lookup_hash;
use crate::http::form::OAuthForm;
use crate::http::oauth_error::OAuthError;
use crate::storage::central::grants;
use crate::storage::central::oauth;
use crate::storage::central::oauth_records::GrantStatus;
use crate::vocab::time::Timestamp;
use crate::wire::oauth::Introspection;
use crate::wire::oauth_forms::TokenHintForm;

fn server_error(error: impl std::fmt::Display) -> OAuthError {
    tracing::error!(error = %error, "storage failure at an OAuth endpoint");
    OAuthError::server_error()
}

/// Revoke an access or refresh token of the calling company. Always 200, as RFC 7009 says, so
/// a caller learns nothing about tokens that are not theirs.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded", description = "token[&token_type_hint]"),
    responses((status = 200, description = "revoked, or nothing to revoke"), (status = 400, body = OAuthError), (status = 401, body = OAuthError)))]
pub async fn revoke(
    State(state): State<SharedState>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<StatusCode, OAuthError> {
    let company = client_auth::authenticate(&state, &headers, Some(&form)).await.map_err(client_error)?;
    let token = form.require("token")?.to_owned();
    if let Some(hint) = form.get("token_type_hint")
        && !matches!(hint, "access_token" | "refresh_token")
    {
        return Err(OAuthError::unsupported_token_type("token_type_hint must be access_token or refresh_token"));
    }
    let now = state.now();
    if token.contains('.') {
        if let Some(claims) = verify_signature(&state, &token, &company.id) {
            let (jti, exp, company_id) =
                (claims.jti.clone(), Timestamp::from_unix_ms(claims.exp * 1000), company.id.clone());
            state
                .store
                .write(move |tx| oauth::revoke_jti(tx, Some(&company_id), &jti, exp, now))
                .await
                .map_err(server_error)?;
            tracing::info!(company_id = %company.id, "access token revoked by its company");
        }
    } else {
        let hash = lookup_hash(&token);
        let company_id = company.id.clone();
        let revoked = state
            .store
            .write(move |tx| oauth::revoke_refresh(tx, &company_id, &hash, now))
            .await
            .map_err(server_error)?;
        if revoked {
            tracing::info!(company_id = %company.id, "refresh token family revoked by its company");
        }
    }
    Ok(StatusCode::OK)
}

/// Is this token active, and what may it do? Only the calling company's tokens are ever active.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded", description = "token[&token_type_hint]"),
    responses((status = 200, body = Introspection), (status = 400, body = OAuthError), (status = 401, body = OAuthError)))]
pub async fn introspect(
    State(state): State<SharedState>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Json<Introspection>, OAuthError> {
    let company = client_auth::authenticate(&state, &headers, Some(&form)).await.map_err(client_error)?;
    let token = form.require("token")?.to_owned();
    let now = state.now();
    if token.contains('.') {
        let Ok(access) = check_token(&state, &token, Some(&company.id)).await else {
            return Ok(Json(Introspection::default()));
        };
        let claims = &access.claims;
        return Ok(Json(Introspection {
            active: true,
            scope: Some(access.effective.to_string()),
            client_id: Some(claims.client_id.to_string()),
            token_type: Some("Bearer".to_owned()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: Some(claims.nbf),
            sub: Some(claims.sub.to_string()),
            aud: Some(claims.aud.to_string()),
            iss: Some(claims.iss.clone()),
            jti: Some(claims.jti.clone()),
        }));
    }
    let hash = lookup_hash(&token);
    let found = state
        .store
        .read(move |r| {
            let Some((record, family_live)) = oauth::refresh_token(r, &hash)? else { return Ok(None) };
            let grant = grants::get(r, &record.grant_id)?;
            Ok(Some((record, family_live, grant)))
        })
        .await
        .map_err(server_error)?;
    let active = found.filter(|(record, family_live, grant)| {
        *family_live
            && record.company_id == company.id
            && record.rotated_at.is_none()
            && record.expires_at > now
            && grant.as_ref().is_some_and(|g| g.status == GrantStatus::Active)
    });
    let Some((record, _, Some(grant))) = active else { return Ok(Json(Introspection::default())) };
    Ok(Json(Introspection {
        active: true,
        scope: Some(record.scope.intersection(grant.scope).to_string()),
        client_id: Some(record.company_id.to_string()),
        token_type: Some("refresh_token".to_owned()),
        exp: Some(record.expires_at.unix_s()),
        iat: Some(record.created_at.unix_s()),
        sub: Some(grant.account_id.to_string()),
        ..Introspection::default()
    }))
}
