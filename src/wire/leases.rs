//! Leases and usage on the wire (DESIGN §7): the calls a sidecar makes to reserve funds of one
//! account at central and to report the charges it accepted inside them.

use serde::{Deserialize, Serialize};

/// `POST /sync/v1/leases`: reserve up to `amount` of the account's `available` for this sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenLease {
    /// Makes the call idempotent: the same id always gets the first answer.
    pub request_id: String,
    pub account_id: String,
    /// An amount string (DESIGN §2).
    pub amount: String,
}

/// `POST /sync/v1/leases/{id}/renew`: extend the deadline and optionally raise the ceiling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewLease {
    pub request_id: String,
    pub add_amount: Option<String>,
}

/// `POST /sync/v1/leases/{id}/close`: the sidecar is done with the lease; the unused remainder
/// goes back to `available` once every usage record up to `through_seq` is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseLease {
    pub request_id: String,
    /// The sidecar's highest usage seq at the time of closing (0 when it has reported none).
    pub through_seq: u64,
}

/// The answer to open and renew: the lease's ceiling now, how long it lives from when the
/// sidecar sent the request, and the wallet's `available` after the call (for `check`).
/// An `amount` of `"0"` from open means the wallet (or the grant's cap) cannot pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaseGranted {
    /// Empty when nothing could be reserved (no lease was created).
    pub lease_id: String,
    pub account_id: String,
    /// The ceiling: everything reserved in this lease so far.
    pub amount: String,
    pub ttl_s: u64,
    pub available: String,
}

/// The answer to close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaseClosed {
    pub lease_id: String,
    /// `closing` (waiting for usage up to `through_seq`) or `closed` (the remainder returned).
    pub status: String,
    /// What went back to `available`, once closed.
    pub returned: Option<String>,
}

/// One charge the sidecar accepted, reported once and applied once per (sidecar, seq).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    pub seq: u64,
    pub lease_id: String,
    pub account_id: String,
    pub charge_id: String,
    pub hold_id: Option<String>,
    pub amount: String,
    pub invoice_number: String,
    pub service_id: Option<String>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    pub idempotency_key: String,
    /// RFC 3339, the sidecar's clock when it accepted the charge.
    pub accepted_at: String,
}

/// `POST /sync/v1/usage`, records in ascending `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    pub records: Vec<UsageRecord>,
}

/// A record central could not apply: acked, kept in quarantine, never lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedUsage {
    pub seq: u64,
    pub reason: String,
}

/// The answer to a usage batch: every record up to `applied_through` is done (applied or
/// quarantined) and may be deleted by the sidecar. A record sent again has its outcome told
/// again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageAck {
    pub applied_through: u64,
    pub rejected: Vec<RejectedUsage>,
    /// Seqs whose charges were booked `reversed`: their idempotency key was already settled
    /// through another node, so no money moved for them. Absent from older centrals.
    #[serde(default)]
    pub reversed: Vec<u64>,
}
