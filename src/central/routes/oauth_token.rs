//! `POST /oauth/token`: the authorization-code (with PKCE) and refresh-token grants.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::central::client_auth::{self, ClientAuthError};
use crate::central::events;
use crate::central::state::SharedState;
use crate::central::tokens::{MintedAccess, issued_record, lookup_hash, mint_access, new_refresh_token};
use crate::domain::token::scope::ScopeSet;
use crate::http::form::OAuthForm;
use crate::http::oauth_error::OAuthError;
use crate::storage::central::oauth::{self, GrantRefusal, NewRefresh};
use crate::storage::central::records::CompanyRecord;
use crate::vocab::limits::refresh_token_ttl_s;
use crate::vocab::secret::Secret;
use crate::wire::oauth::TokenResponse;
use crate::wire::oauth_forms::TokenForm;
use crate::wire::secret_text::SecretText;

pub fn client_error(error: ClientAuthError) -> OAuthError {
    match error {
        ClientAuthError::Store(e) => {
            tracing::error!(error = %e, "storage failure during client authentication");
            OAuthError::server_error()
        }
        ClientAuthError::Missing | ClientAuthError::Invalid => OAuthError::invalid_client(error.to_string()),
        ClientAuthError::Ambiguous | ClientAuthError::Malformed => OAuthError::invalid_request(error.to_string()),
    }
}

/// The RFC 6749 §5.1 answer, never cached.
fn answer(access: &MintedAccess, scope: ScopeSet, refresh_token: &Secret) -> Response {
    let body = TokenResponse {
        access_token: SecretText(access.token.expose().to_owned()),
        token_type: "Bearer".to_owned(),
        expires_in: access.ttl_s,
        scope: scope.to_string(),
        refresh_token: Some(SecretText(refresh_token.expose().to_owned())),
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn refusal(error: GrantRefusal) -> OAuthError {
    tracing::info!(reason = %error, "token request refused");
    match error {
        GrantRefusal::ScopeWidened => OAuthError::invalid_scope(error.to_string()),
        other => OAuthError::invalid_grant(other.to_string()),
    }
}

/// Exchange a code or a refresh token for tokens. Form-encoded; client authentication by HTTP
/// Basic or `client_id` + `client_secret` in the body.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=authorization_code&code&redirect_uri&code_verifier, or grant_type=refresh_token&refresh_token[&scope]"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthError), (status = 401, body = OAuthError),
        (status = 429, body = OAuthError)))]
pub async fn token(
    State(state): State<SharedState>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, OAuthError> {
    let company = client_auth::authenticate(&state, &headers, Some(&form)).await.map_err(client_error)?;
    state.limiters.token_client.check(company.id.as_str(), state.now()).map_err(OAuthError::slow_down)?;
    match form.require("grant_type")? {
        "authorization_code" => authorization_code(&state, company, &form).await,
        "refresh_token" => refresh(&state, company, &form).await,
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {other} is not supported; use authorization_code or refresh_token"
        ))),
    }
}

async fn authorization_code(
    state: &SharedState,
    company: CompanyRecord,
    form: &OAuthForm,
) -> Result<Response, OAuthError> {
    let code_hash = lookup_hash(form.require("code")?);
    let redirect_uri = form.require("redirect_uri")?.to_owned();
    let verifier = form.require("code_verifier")?.to_owned();
    let now = state.now();
    let (refresh_token, refresh_hash) = new_refresh_token();
    let refresh = NewRefresh { hash: refresh_hash, expires_at: now.plus_s(refresh_token_ttl_s) };
    let family = Secret::generate("fam_").expose().to_owned();
    let minting = state.clone();
    let redeemed = state
        .store
        .write(move |tx| {
            oauth::redeem_code(tx, &code_hash, &company.id, &redirect_uri, &verifier, &refresh, now, |grant, scope| {
                let minted = mint_access(&minting, grant, scope, now)?;
                Some((issued_record(&minted, &family), (minted, scope)))
            })
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storage failure at the token endpoint");
            OAuthError::server_error()
        })?;
    let (grant, (access, scope)) = redeemed.map_err(refusal)?;
    tracing::info!(grant_id = %grant.id, company_id = %grant.company_id, "code exchanged for tokens");
    Ok(answer(&access, scope, &refresh_token))
}

async fn refresh(state: &SharedState, company: CompanyRecord, form: &OAuthForm) -> Result<Response, OAuthError> {
    let old_hash = lookup_hash(form.require("refresh_token")?);
    let narrowed = match form.get("scope") {
        Some(text) => Some(
            ScopeSet::parse(text)
                .map_err(|_| OAuthError::invalid_scope("unknown scope; PROTUS has check, hold and charge"))?,
        ),
        None => None,
    };
    let now = state.now();
    let (refresh_token, refresh_hash) = new_refresh_token();
    let new = NewRefresh { hash: refresh_hash, expires_at: now.plus_s(refresh_token_ttl_s) };
    let (company_id, currency) = (company.id.clone(), state.currency);
    let rotated = state
        .store
        .write(move |tx| {
            let rotated = oauth::rotate_refresh(tx, &old_hash, &company_id, &new, narrowed, now)?;
            if let Err(GrantRefusal::RefreshReused) = &rotated
                && let Some(grant) = oauth::grant_of_refresh(tx, &old_hash)?
                && grant.revoked_at == Some(now)
            {
                events::grant(tx, "grant.revoked", &grant, currency, now)?;
            }
            Ok(rotated)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storage failure at the token endpoint");
            OAuthError::server_error()
        })?;
    let (grant, scope) = rotated.map_err(refusal)?;
    let access = mint_access(state, &grant, scope, now).ok_or_else(OAuthError::server_error)?;
    Ok(answer(&access, scope, &refresh_token))
}
