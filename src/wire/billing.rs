//! Billing shapes on the wire: balance, holds and the requests of the billing API (DESIGN §5.1).

use serde::{Deserialize, Serialize};

use crate::storage::central::records::{HoldRecord, HoldStatus};
use crate::vocab::money::Currency;
use crate::wire::amount::WireAmount;

/// `GET /api/v1/billing/balance` → `{account_id, currency, available, as_of}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Balance {
    pub account_id: String,
    pub currency: String,
    pub available: String,
    pub as_of: String,
}

/// hold `{id, account_id, amount, captured, capturable, status, expires_at}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub id: String,
    pub account_id: String,
    pub amount: String,
    pub captured: String,
    pub capturable: bool,
    #[schema(example = "held")]
    pub status: String,
    pub description: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

impl Hold {
    pub fn from_record(h: &HoldRecord, currency: Currency) -> Self {
        let status = match h.status {
            HoldStatus::Held => "held",
            HoldStatus::Captured => "captured",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        };
        Hold {
            id: h.id.to_string(),
            account_id: h.account_id.to_string(),
            amount: h.amount.to_wire(currency),
            captured: h.captured.to_wire(currency),
            capturable: h.capturable,
            status: status.to_owned(),
            description: h.description.clone(),
            created_at: h.created_at.to_rfc3339(),
            expires_at: h.expires_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHold {
    pub amount: WireAmount,
    pub description: Option<String>,
    /// Seconds until the hold expires (default 900, at most 604800).
    pub expires_in_s: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureHold {
    /// At most the hold's amount; all of it when absent. The rest is released.
    pub amount: Option<WireAmount>,
    pub service_id: Option<String>,
    pub description: Option<String>,
    /// The partner's own JSON object, at most 4 KiB.
    pub payload: Option<serde_json::Value>,
}

/// Either `{service_id}` (the service's current price) or `{amount, description}`, with an
/// optional partner `payload`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCharge {
    pub service_id: Option<String>,
    pub amount: Option<WireAmount>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
}
