//! OAuth and grant shapes on the wire: token answers, introspection, grants, direct users,
//! claiming, the permission check and the server metadata.

use serde::{Deserialize, Serialize};

use crate::storage::central::oauth_records::{GrantRecord, GrantStatus};
use crate::vocab::money::Currency;
use crate::wire::amount::WireAmount;
use crate::wire::secret_text::SecretText;

/// RFC 6749 §5.1.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: SecretText,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretText>,
}

/// RFC 7662 §2.2; only `active` when the token is not active.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// grant `{id, company_id, company_name, scope, spending_cap, status, created_at, revoked_at}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: String,
    pub company_id: String,
    pub company_name: String,
    pub scope: String,
    pub spending_cap: Option<String>,
    #[schema(example = "active")]
    pub status: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

pub fn grant_status(status: GrantStatus) -> &'static str {
    match status {
        GrantStatus::Active => "active",
        GrantStatus::Suspended => "suspended",
        GrantStatus::Revoked => "revoked",
    }
}

impl Grant {
    pub fn from_record(g: &GrantRecord, company_name: &str, currency: Currency) -> Self {
        Grant {
            id: g.id.to_string(),
            company_id: g.company_id.to_string(),
            company_name: company_name.to_owned(),
            scope: g.scope.to_string(),
            spending_cap: g.spending_cap.map(|cap| cap.to_wire(currency)),
            status: grant_status(g.status).to_owned(),
            created_at: g.created_at.to_rfc3339(),
            revoked_at: g.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// `PATCH /api/v1/me/grants/{id}`: narrow the scope, change or remove the cap (`null`), or
/// confirm a suspended grant with `"status": "active"`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGrant {
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    pub spending_cap: Option<Option<WireAmount>>,
    pub status: Option<String>,
}

fn present_or_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectUser {
    pub email: String,
    pub username: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirectUser {
    pub account_id: String,
    pub grant_id: String,
    pub access_token: SecretText,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimCustomer {
    pub token: SecretText,
    pub password: SecretText,
}

/// The answer to registering with the email of an unclaimed, partner-created customer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerificationSent {
    pub status: String,
    pub detail: String,
}

/// `GET /api/v1/authorize` → `{account_id, scope, exp}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Permission {
    pub account_id: String,
    pub scope: String,
    pub exp: i64,
}
