//! Client authentication for the OAuth and partner endpoints: `client_secret_basic` or
//! `client_secret_post` (RFC 6749 §2.3.1), checked in constant time against the stored digests.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::central::state::SharedState;
use crate::http::form::OAuthForm;
use crate::storage::StoreError;
use crate::storage::central::companies;
use crate::storage::central::records::CompanyRecord;
use crate::vocab::secret::Secret;

/// Why a client could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    #[error("client authentication is required (HTTP Basic or client_id and client_secret in the body)")]
    Missing,
    #[error("use one client authentication method, not two")]
    Ambiguous,
    #[error("the Authorization header is not valid HTTP Basic")]
    Malformed,
    #[error("unknown client or wrong client secret")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `(client_id, client_secret)` from `Authorization: Basic`, if present.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, Secret)>, ClientAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ClientAuthError::Malformed)?;
    let Some((scheme, encoded)) = value.split_once(' ') else { return Err(ClientAuthError::Malformed) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ClientAuthError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| ClientAuthError::Malformed)?;
    let (id, secret) = decoded.split_once(':').ok_or(ClientAuthError::Malformed)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let unescape = |text: &str| {
        form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Ok(Some((unescape(id), Secret::new(unescape(secret)))))
}

/// The authenticated company of an OAuth request.
pub async fn authenticate(
    state: &SharedState,
    headers: &HeaderMap,
    form: Option<&OAuthForm>,
) -> Result<CompanyRecord, ClientAuthError> {
    let basic = basic_credentials(headers)?;
    let posted =
        form.and_then(|f| Some((f.get("client_id")?.to_owned(), Secret::new(f.get("client_secret")?.to_owned()))));
    let (client_id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => return Err(ClientAuthError::Ambiguous),
        (Some(credentials), None) | (None, Some(credentials)) => credentials,
        (None, None) => return Err(ClientAuthError::Missing),
    };
    let now = state.now();
    let company = state.store.read(move |r| companies::authenticate_client(r, &client_id, &secret, now)).await?;
    company.ok_or(ClientAuthError::Invalid)
}
