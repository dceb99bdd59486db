//! Checks of the inputs every billing call shares, on central and at the sidecar: the
//! `Idempotency-Key` header, the partner `payload`, a `description`, and the request bodies of
//! holds, captures and charges.

use axum::http::{HeaderMap, StatusCode};

use crate::http::problem::{FieldErrors, Problem};
use crate::vocab::ids::ServiceId;
use crate::vocab::limits::{description_len_max, hold_ttl_s_default, hold_ttl_s_max, partner_payload_bytes_max};
use crate::vocab::money::{Amount, Currency};
use crate::vocab::names::IdempotencyKey;
use crate::wire::billing::{CaptureHold, CreateCharge, CreateHold};

/// The required `Idempotency-Key` header; missing or malformed is 400.
pub fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, Problem> {
    let value = headers
        .get("idempotency-key")
        .ok_or_else(|| Problem::invalid_request("the Idempotency-Key header is required for this request"))?;
    let text = value.to_str().map_err(|_| Problem::invalid_request("Idempotency-Key must be printable ASCII"))?;
    IdempotencyKey::parse(text).map_err(|e| Problem::invalid_request(e.to_string()))
}

/// A partner payload: a JSON object of at most 4 KiB (413 above, DESIGN §5).
pub fn check_payload(payload: Option<serde_json::Value>) -> Result<Option<serde_json::Value>, Problem> {
    let Some(payload) = payload else { return Ok(None) };
    if !payload.is_object() {
        return Err(Problem::field("payload", "must be a JSON object"));
    }
    if serde_json::to_vec(&payload).map_or(usize::MAX, |b| b.len()) > partner_payload_bytes_max {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "payload must be at most 4 KiB of JSON",
        ));
    }
    Ok(Some(payload))
}

pub fn check_description(errors: &mut FieldErrors, description: Option<String>) -> Option<String> {
    let description = description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty())?;
    if description.chars().count() > description_len_max || description.chars().any(char::is_control) {
        errors.check::<(), _>("description", Err("must be at most 500 characters, without control characters"));
        return None;
    }
    Some(description)
}

/// A checked `POST /api/v1/billing/holds` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldAsk {
    pub amount: Amount,
    pub ttl_s: i64,
    pub description: Option<String>,
}

pub fn hold_ask(input: CreateHold, currency: Currency) -> Result<HoldAsk, Problem> {
    let mut errors = FieldErrors::default();
    let amount = errors.check("amount", input.amount.parse(currency));
    let ttl_s = input.expires_in_s.unwrap_or(hold_ttl_s_default);
    if !(1..=hold_ttl_s_max).contains(&ttl_s) {
        errors.check::<(), _>("expires_in_s", Err("must be from 1 to 604800 seconds"));
    }
    let description = check_description(&mut errors, input.description);
    errors.finish()?;
    let amount = amount.ok_or_else(Problem::internal)?;
    Ok(HoldAsk { amount, ttl_s, description })
}

/// A checked capture body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureAsk {
    pub amount: Option<Amount>,
    pub service_id: Option<ServiceId>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
}

pub fn capture_ask(input: CaptureHold, currency: Currency) -> Result<CaptureAsk, Problem> {
    let mut errors = FieldErrors::default();
    let amount = input.amount.as_ref().and_then(|a| errors.check("amount", a.parse(currency)));
    let service_id = input.service_id.as_deref().and_then(|s| errors.check("service_id", ServiceId::parse(s)));
    let description = check_description(&mut errors, input.description);
    errors.finish()?;
    let payload = check_payload(input.payload)?;
    Ok(CaptureAsk { amount, service_id, description, payload })
}

/// A checked `POST /api/v1/billing/charges` body: either a service (priced by its owner) or an
/// amount with a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeAsk {
    pub service_id: Option<ServiceId>,
    pub amount: Option<Amount>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
}

pub fn charge_ask(input: CreateCharge, currency: Currency) -> Result<ChargeAsk, Problem> {
    let mut errors = FieldErrors::default();
    let service_id = input.service_id.as_deref().and_then(|s| errors.check("service_id", ServiceId::parse(s)));
    let amount = input.amount.as_ref().and_then(|a| errors.check("amount", a.parse(currency)));
    let description = check_description(&mut errors, input.description);
    let (field, shape): (&str, Result<(), &str>) = match (input.service_id.is_some(), input.amount.is_some()) {
        (true, true) => ("amount", Err("give either service_id or amount, not both")),
        (false, false) => ("service_id", Err("give service_id, or amount with description")),
        (false, true) if description.is_none() => ("description", Err("is required with amount")),
        _ => ("body", Ok(())),
    };
    errors.check(field, shape);
    errors.finish()?;
    let payload = check_payload(input.payload)?;
    Ok(ChargeAsk { service_id, amount, description, payload })
}
