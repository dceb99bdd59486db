//! `OAuthForm`: an `application/x-www-form-urlencoded` body as RFC 6749 wants it — every
//! parameter at most once — with RFC 6749 error answers.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

use crate::http::oauth_error::OAuthError;

#[derive(Debug, Default)]
pub struct OAuthForm(Vec<(String, String)>);

impl OAuthForm {
    /// Parses the body; a repeated parameter is `invalid_request` (RFC 6749 §3.1, §3.2).
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!("parameter {name} appears more than once")));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(OAuthForm(pairs))
    }

    /// The parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| OAuthError::invalid_request(format!("could not read the body: {e}")))?;
        OAuthForm::parse(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        // Proves RFC 6749's "at most once" rule and that empty values read as absent.
        assert!(OAuthForm::parse(b"a=1&a=2").is_err());
        let form = OAuthForm::parse(b"grant_type=refresh_token&scope=&x=%2Fy").expect("valid");
        assert_eq!(form.get("grant_type"), Some("refresh_token"));
        assert_eq!(form.get("scope"), None);
        assert_eq!(form.get("x"), Some("/y"));
        assert!(form.require("code").is_err());
    }
}
