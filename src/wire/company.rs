//! Companies and services on the wire.

use serde::{Deserialize, Serialize};

use crate::wire::secret_text::SecretText;

use crate::storage::central::records::{CompanyRecord, ServiceRecord};
use crate::vocab::money::Currency;
use crate::wire::amount::WireAmount;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCompany {
    pub name: String,
    pub email: String,
    pub password: SecretText,
}

/// company `{id, client_id, name, email, webhook_url, redirect_uris}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Company {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub email: String,
    pub webhook_url: Option<String>,
    pub redirect_uris: Vec<String>,
}

impl Company {
    pub fn from_record(c: &CompanyRecord) -> Self {
        Company {
            id: c.id.to_string(),
            client_id: c.id.to_string(),
            name: c.name.as_str().to_owned(),
            email: c.email.as_str().to_owned(),
            webhook_url: c.webhook_url.as_ref().map(|u| u.as_str().to_owned()),
            redirect_uris: c.redirect_uris.iter().map(|u| u.as_str().to_owned()).collect(),
        }
    }
}

/// A newly registered company with its secrets, shown this once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisteredCompany {
    #[serde(flatten)]
    pub company: Company,
    pub client_secret: SecretText,
    pub webhook_secret: SecretText,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompany {
    /// `null` clears it.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
    pub redirect_uris: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretKindWire {
    ClientSecret,
    WebhookSecret,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    pub kind: SecretKindWire,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub kind: SecretKindWire,
    /// The new secret, shown this once.
    pub secret: SecretText,
    /// Until when the previous secret keeps working.
    pub previous_valid_until: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    pub name: String,
    pub price: WireAmount,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateService {
    pub name: Option<String>,
    pub price: Option<WireAmount>,
    pub active: Option<bool>,
}

/// service `{id, name, price, active}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub price: String,
    pub active: bool,
}

impl Service {
    pub fn from_record(s: &ServiceRecord, currency: Currency) -> Self {
        Service {
            id: s.id.to_string(),
            name: s.name.as_str().to_owned(),
            price: s.price.to_wire(currency),
            active: s.active,
        }
    }
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present_or_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
