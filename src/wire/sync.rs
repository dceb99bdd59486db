//! The sync protocol between a sidecar and central (DESIGN §7), version 1: enrolment, the
//! snapshot and the long-poll feed. Leases and usage are in `wire::leases`.

use serde::{Deserialize, Serialize};

use crate::domain::token::keys::Jwk;
use crate::wire::secret_text::SecretText;

/// `POST /sync/v1/sidecars` (company client credentials) → the sidecar's own credentials.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enrolled {
    pub sidecar_id: String,
    pub sidecar_secret: SecretText,
    pub company_id: String,
}

/// A revoked access token, live until its `exp` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedToken {
    pub jti: String,
    pub exp: i64,
}

/// A grant as a sidecar needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncGrant {
    pub grant_id: String,
    pub account_id: String,
    /// Space-separated scopes.
    pub scope: String,
    pub spending_cap: Option<String>,
    /// `active`, `suspended` or `revoked`.
    pub status: String,
}

/// A priced service as a sidecar needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncService {
    pub id: String,
    pub name: String,
    pub price: String,
    pub active: bool,
}

/// `GET /sync/v1/snapshot`: everything a sidecar needs, current to `cursor`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub cursor: u64,
    pub issuer: String,
    pub currency: String,
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<Jwk>,
    pub revoked: Vec<RevokedToken>,
    pub grants: Vec<SyncGrant>,
    pub services: Vec<SyncService>,
    /// The most records central takes in one `POST /sync/v1/usage`. Absent from a central of
    /// an earlier build, which takes 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_batch_len_max: Option<usize>,
}

/// One change in the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeedEvent {
    KeyAdded {
        #[schema(value_type = Object)]
        jwk: Jwk,
    },
    KeyRetired {
        kid: String,
    },
    TokenRevoked(RevokedToken),
    Grant(SyncGrant),
    Service(SyncService),
    /// Close this lease now (a sidecar ignores leases it does not hold).
    LeaseRecalled {
        lease_id: String,
        account_id: String,
    },
    /// The account's wallet `available` at central, after a lease call.
    WalletAvailable {
        account_id: String,
        available: String,
    },
}

/// `GET /sync/v1/events?after=<cursor>&wait=<s>`: the changes after `after`, oldest first, and
/// the cursor to ask from next. An empty page after `wait` seconds is normal.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedPage {
    pub events: Vec<FeedEntry>,
    pub cursor: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedEntry {
    pub seq: u64,
    pub at: String,
    #[serde(flatten)]
    pub event: FeedEvent,
}
