//! RFC 6749 §5.2 error answers (`{"error", "error_description"}`) for the OAuth endpoints,
//! which answer in that form instead of problem+json (DESIGN §5).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
    #[serde(skip)]
    pub status: u16,
    #[serde(skip)]
    pub retry_after_s: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        OAuthError {
            error: error.to_owned(),
            error_description: description.into(),
            status: status.as_u16(),
            retry_after_s: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 with `WWW-Authenticate: Basic`, as RFC 6749 §5.2 asks for failed client auth.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    pub fn unsupported_token_type(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_token_type", description)
    }

    pub fn server_error() -> Self {
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn slow_down(retry_after_s: u64) -> Self {
        let mut error = OAuthError::new(StatusCode::TOO_MANY_REQUESTS, "slow_down", "too many requests; retry later");
        error.retry_after_s = Some(retry_after_s);
        error
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"protus\""));
        }
        if let Some(seconds) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
