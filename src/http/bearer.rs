//! Reading `Authorization: Bearer …` without ever logging the credential.

use axum::http::{HeaderMap, header};

use crate::vocab::secret::Secret;

/// The bearer credential, if the header is present and well-formed.
pub fn bearer(headers: &HeaderMap) -> Option<Secret> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| Secret::new(token.to_owned()))
}
