//! `POST /sync/v1/usage`: a sidecar reports the charges it accepted, applied in `seq` order
//! exactly once (DESIGN §7); and `GET /api/v1/company/usage/quarantine`, where the company sees
//! the records central could not apply.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::central::auth::CompanyAuth;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::events;
use crate::central::sidecar_auth::SidecarAuth;
use crate::central::state::SharedState;
use crate::http::billing_input::{check_description, check_payload};
use crate::http::json::parse_body;
use crate::http::problem::{FieldErrors, Problem};
use crate::http::query::{ApiQuery, PageParams};
use crate::storage::central::records::QuarantineRecord;
use crate::storage::central::usage::{self, UsageCharge, UsageInput};
use crate::vocab::ids::{AccountId, ChargeId, HoldId, LeaseId, ServiceId};
use crate::vocab::limits::{invoice_number_len_max, service_name_len_max, usage_batch_len_max, usage_body_bytes_max};
use crate::vocab::money::{Amount, Currency};
use crate::vocab::names::IdempotencyKey;
use crate::vocab::time::Timestamp;
use crate::wire::leases::{RejectedUsage, UsageAck, UsageBatch, UsageRecord};
use crate::wire::list::List;

/// The batch as read: each record is parsed on its own, so one malformed record is quarantined
/// instead of refusing the batch (and blocking the sidecar's queue).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    records: Vec<Box<RawValue>>,
}

/// Apply a batch of usage records (ascending `seq`, at most 500, body ≤ 4 MiB). Answers the
/// highest seq now applied or quarantined and the records quarantined by this batch.
#[utoipa::path(post, path = "/sync/v1/usage", tag = "sync", security(("sidecar" = [])), request_body = UsageBatch,
    responses((status = 200, body = UsageAck), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn ingest(
    State(state): State<SharedState>,
    auth: SidecarAuth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UsageAck>> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json") {
        return Err(Problem::invalid_request("the body must be JSON with Content-Type: application/json"));
    }
    let bytes = axum::body::to_bytes(body, usage_body_bytes_max).await.map_err(|_| {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "a usage batch must be at most 4 MiB")
    })?;
    let batch = parse_body::<RawBatch>(&bytes)?.value;
    let inputs = inputs(batch.records, state.currency)?;
    let (now, currency, sidecar, company) = (state.now(), state.currency, auth.sidecar_id, auth.company_id);
    let applied = state
        .store
        .write(move |tx| {
            let applied = usage::apply(tx, &sidecar, &company, inputs, now)?;
            for charge in &applied.charges {
                events::charge(tx, charge, currency, now)?;
            }
            for (charge, debt) in &applied.overdrawn {
                events::account_overdrawn(tx, charge, *debt, currency, now)?;
            }
            Ok(applied)
        })
        .await
        .or_internal()?;
    Ok(Json(UsageAck {
        applied_through: applied.applied_through,
        rejected: applied.rejected.into_iter().map(|(seq, reason)| RejectedUsage { seq, reason }).collect(),
        reversed: applied.reversed,
    }))
}

/// The batch's shape: at most `usage_batch_len_max` records, each with a `seq` ≥ 1, strictly
/// ascending (a sidecar bug otherwise: 422 for the whole batch).
pub fn inputs(records: Vec<Box<RawValue>>, currency: Currency) -> ApiResult<Vec<UsageInput>> {
    if records.len() > usage_batch_len_max {
        return Err(Problem::field("records", format!("at most {usage_batch_len_max} records per batch")));
    }
    let mut previous = 0;
    let mut inputs = Vec::with_capacity(records.len());
    for (index, raw) in records.into_iter().enumerate() {
        // Read once into its wire type; only a record that does not fit it is read as a value,
        // for its seq and charge id.
        let record = serde_json::from_str::<UsageRecord>(raw.get());
        let (seq, charge_id_text) = match &record {
            Ok(record) => (Some(record.seq), record.charge_id.clone()),
            Err(_) => {
                let value: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
                let charge_id = value.get("charge_id").and_then(serde_json::Value::as_str).unwrap_or_default();
                (value.get("seq").and_then(serde_json::Value::as_u64), charge_id.to_owned())
            }
        };
        let Some(seq) = seq.filter(|s| *s >= 1 && *s > previous) else {
            return Err(Problem::field(
                &format!("records[{index}].seq"),
                "must be a whole number ≥ 1, greater than the record's before it",
            ));
        };
        previous = seq;
        let parsed = record.map_err(|e| e.to_string()).and_then(|record| usage_charge(record, currency));
        inputs.push(UsageInput { seq, charge_id_text, raw, parsed });
    }
    Ok(inputs)
}

/// A record's values, or every complaint about them in one line.
fn usage_charge(record: UsageRecord, currency: Currency) -> Result<UsageCharge, String> {
    let mut errors = FieldErrors::default();
    let lease_id = errors.check("lease_id", LeaseId::parse(&record.lease_id));
    let account_id = errors.check("account_id", AccountId::parse(&record.account_id));
    let charge_id = errors.check("charge_id", ChargeId::parse(&record.charge_id));
    let hold_id = record.hold_id.as_deref().and_then(|h| errors.check("hold_id", HoldId::parse(h)));
    let amount = errors.check("amount", Amount::parse_request(&record.amount, currency));
    let invoice = record.invoice_number.trim().to_owned();
    let invoice_ok = !invoice.is_empty()
        && invoice.chars().count() <= invoice_number_len_max
        && !invoice.chars().any(char::is_control);
    errors.check(
        "invoice_number",
        if invoice_ok { Ok(()) } else { Err("must be 1 to 64 characters, without control characters") },
    );
    let service_id = record.service_id.as_deref().and_then(|s| errors.check("service_id", ServiceId::parse(s)));
    let service_name = record.service_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if service_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > service_name_len_max || n.chars().any(char::is_control))
    {
        errors.check::<(), _>("service_name", Err("must be at most 100 characters, without control characters"));
    }
    let description = check_description(&mut errors, record.description);
    let payload = match check_payload(record.payload) {
        Ok(payload) => payload,
        Err(problem) => errors.check("payload", Err(problem.detail.unwrap_or_default())).flatten(),
    };
    let key = errors.check("idempotency_key", IdempotencyKey::parse(&record.idempotency_key));
    let accepted = Timestamp::parse_rfc3339(&record.accepted_at).ok_or("must be an RFC 3339 time");
    errors.check("accepted_at", accepted);
    if let Err(problem) = errors.finish() {
        return Err(problem.detail.unwrap_or_default());
    }
    match (lease_id, account_id, charge_id, amount, key) {
        (Some(lease_id), Some(account_id), Some(charge_id), Some(amount), Some(key)) => Ok(UsageCharge {
            lease_id,
            account_id,
            charge_id,
            hold_id,
            amount,
            invoice_number: invoice,
            service_id,
            service_name,
            description,
            payload,
            idempotency_key: key.as_str().to_owned(),
        }),
        _ => Err("the record is incomplete".to_owned()),
    }
}

/// One usage record central could not apply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuarantinedUsage {
    pub sidecar_id: String,
    pub seq: u64,
    /// `clone`, `invalid_record`, `unknown_lease`, `unknown_account`, `lease_account_mismatch`
    /// or `duplicate_charge_id`.
    pub reason: String,
    /// What exactly was wrong.
    pub detail: String,
    /// The record as the sidecar sent it.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
    pub at: String,
}

impl QuarantinedUsage {
    fn from_record(q: QuarantineRecord) -> Self {
        QuarantinedUsage {
            sidecar_id: q.sidecar_id.to_string(),
            seq: q.seq,
            reason: q.reason,
            detail: q.detail,
            record: q.record,
            at: q.at.to_rfc3339(),
        }
    }
}

/// The company's quarantined usage records, newest first.
#[utoipa::path(get, path = "/api/v1/company/usage/quarantine", tag = "sync", security(("session" = [])), params(PageParams),
    responses((status = 200, body = List<QuarantinedUsage>), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn quarantine(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<List<QuarantinedUsage>>> {
    let (cursor, limit) = page.parse()?;
    let company = auth.company.id;
    let page =
        state.store.read(move |r| usage::quarantine_for_company(r, &company, cursor, limit)).await.or_internal()?;
    Ok(Json(List::from_page(page, QuarantinedUsage::from_record)))
}
