//! Top-ups, statement lines and charges on the wire.

use serde::{Deserialize, Serialize};

use crate::storage::central::records::{
    ChargeRecord, ChargeStatus, OperationKind, OperationRecord, TopUpRecord, TopUpStatus,
};
use crate::vocab::money::Currency;
use crate::wire::amount::WireAmount;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopUp {
    pub amount: WireAmount,
}

/// top-up `{id, amount, status: pending|succeeded|failed, provider, created_at}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopUp {
    pub id: String,
    pub amount: String,
    #[schema(example = "pending")]
    pub status: String,
    pub provider: String,
    pub created_at: String,
}

fn top_up_status(s: TopUpStatus) -> &'static str {
    match s {
        TopUpStatus::Pending => "pending",
        TopUpStatus::Succeeded => "succeeded",
        TopUpStatus::Failed => "failed",
    }
}

impl TopUp {
    pub fn from_record(t: &TopUpRecord, currency: Currency) -> Self {
        TopUp {
            id: t.id.to_string(),
            amount: t.amount.to_wire(currency),
            status: top_up_status(t.status).to_owned(),
            provider: t.provider.clone(),
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

/// operation `{at, kind: top_up|charge|reversal, company_name, service_name, invoice_number, charge_id, amount, balance_after}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operation {
    pub at: String,
    pub kind: String,
    pub company_name: Option<String>,
    pub service_name: Option<String>,
    pub invoice_number: Option<String>,
    pub charge_id: Option<String>,
    pub amount: String,
    pub balance_after: String,
}

impl Operation {
    pub fn from_record(o: &OperationRecord, currency: Currency) -> Self {
        let kind = match o.kind {
            OperationKind::TopUp => "top_up",
            OperationKind::Charge => "charge",
            OperationKind::Reversal => "reversal",
        };
        Operation {
            at: o.at.to_rfc3339(),
            kind: kind.to_owned(),
            company_name: o.company_name.clone(),
            service_name: o.service_name.clone(),
            invoice_number: o.invoice_number.clone(),
            charge_id: o.charge_id.as_ref().map(ToString::to_string),
            amount: o.amount.to_wire(currency),
            balance_after: o.balance_after.to_wire(currency),
        }
    }
}

/// charge `{id, invoice_number, account_id, amount, service_id, service_name, description, payload, status, created_at}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Charge {
    pub id: String,
    pub invoice_number: String,
    pub account_id: String,
    pub amount: String,
    pub service_id: Option<String>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub status: String,
    pub created_at: String,
}

impl Charge {
    pub fn from_record(c: &ChargeRecord, currency: Currency) -> Self {
        let status = match c.status {
            ChargeStatus::Accepted => "accepted",
            ChargeStatus::Settled => "settled",
            ChargeStatus::Reversed => "reversed",
        };
        Charge {
            id: c.id.to_string(),
            invoice_number: c.invoice_number.clone(),
            account_id: c.account_id.to_string(),
            amount: c.amount.to_wire(currency),
            service_id: c.service_id.as_ref().map(ToString::to_string),
            service_name: c.service_name.clone(),
            description: c.description.clone(),
            payload: c.payload.clone(),
            status: status.to_owned(),
            created_at: c.created_at.to_rfc3339(),
        }
    }
}

/// The body a payment provider posts to `/api/v1/providers/{provider}/callback`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderCallback {
    pub top_up_id: String,
    pub amount: WireAmount,
    /// `succeeded` or `failed`.
    pub status: String,
}
