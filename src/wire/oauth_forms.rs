//! The form bodies of the OAuth endpoints and the consent page, for the OpenAPI document only:
//! the handlers read them with `OAuthForm` (every parameter at most once, RFC 6749 §3.1), so
//! these types describe the fields and are never built.

/// `POST /oauth/token` (RFC 6749 §4.1.3, §6): `authorization_code` with `code`, `redirect_uri`
/// and `code_verifier`, or `refresh_token` with `refresh_token` and an optional narrower `scope`.
/// `client_id` and `client_secret` only for `client_secret_post`.
#[derive(Debug, utoipa::ToSchema)]
pub struct TokenForm {
    /// `authorization_code` or `refresh_token`
    pub grant_type: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009 §2.1) and `POST /oauth/introspect` (RFC 7662 §2.1).
/// `client_id` and `client_secret` only for `client_secret_post`.
#[derive(Debug, utoipa::ToSchema)]
pub struct TokenHintForm {
    pub token: String,
    /// `access_token` or `refresh_token`
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// The consent page's form (DESIGN §5.1).
#[derive(Debug, utoipa::ToSchema)]
pub struct ConsentForm {
    pub request_id: String,
    pub csrf_token: String,
    /// only when not signed in
    pub email: Option<String>,
    /// only when not signed in
    pub password: Option<String>,
    /// one per checked scope
    pub granted_scope: Option<Vec<String>>,
    /// blank = none
    pub spending_cap: Option<String>,
    /// `allow` or `deny`
    pub decision: String,
}
