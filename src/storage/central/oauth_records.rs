//! What central stores for OAuth: grants, pending authorization requests, codes, refresh
//! tokens, signing keys, revoked token ids, the change log and the webhook outbox.

use serde::{Deserialize, Serialize};

use crate::domain::token::scope::ScopeSet;
use crate::vocab::ids::{AccountId, CompanyId, CustomerId, EventId, GrantId, LeaseId, ServiceId};
use crate::vocab::money::Amount;
use crate::vocab::names::DisplayName;
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    /// Created by a company for a direct user who has since claimed the account: waits for the
    /// person's confirmation.
    Suspended,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantOrigin {
    /// The person consented on the authorization page.
    Consent,
    /// The company created it for a direct user (`POST /api/v1/direct-users`).
    DirectUser,
}

/// A customer's consent to a company.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: GrantId,
    pub company_id: CompanyId,
    pub customer_id: CustomerId,
    pub account_id: AccountId,
    pub scope: ScopeSet,
    pub spending_cap: Option<Amount>,
    pub status: GrantStatus,
    pub origin: GrantOrigin,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// An authorization request waiting for the person's sign-in and consent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequestRecord {
    pub id: String,
    pub company_id: CompanyId,
    pub redirect_uri: String,
    pub scope: ScopeSet,
    pub state: Option<String>,
    /// base64url SHA-256 of the PKCE verifier (S256).
    pub code_challenge: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a code or refresh token issued, so a replay can revoke it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedTokens {
    pub jti: String,
    pub access_expires_at: Timestamp,
    pub refresh_family: String,
}

/// An authorization code, stored under the SHA-256 of the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub company_id: CompanyId,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub grant_id: GrantId,
    pub scope: ScopeSet,
    pub expires_at: Timestamp,
    /// Set at the first exchange; a second exchange revokes these.
    pub issued: Option<IssuedTokens>,
}

/// A refresh token, stored under its SHA-256. Rotated on every use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub family: String,
    pub grant_id: GrantId,
    pub company_id: CompanyId,
    pub scope: ScopeSet,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Set when this token was exchanged for the next one; using it again is a reuse.
    pub rotated_at: Option<Timestamp>,
}

/// A refresh-token family: every token descending from one code exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshFamilyRecord {
    pub grant_id: GrantId,
    pub revoked_at: Option<Timestamp>,
}

/// An Ed25519 signing key. The secret never leaves central.
#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// Hex of the 32-byte secret.
    pub secret: String,
    pub created_at: Timestamp,
    /// Published from creation; signs from here (the pre-publication delay).
    pub signs_from: Timestamp,
    /// Set when a newer key takes over; the key stays published until `published_until`.
    pub retired_at: Option<Timestamp>,
    pub published_until: Option<Timestamp>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("signs_from", &self.signs_from)
            .finish_non_exhaustive()
    }
}

/// One entry of the durable change log the sidecars' feed serves (DESIGN §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub at: Timestamp,
    /// The company whose sidecars must learn it; `None` for every company (keys).
    pub company_id: Option<CompanyId>,
    pub change: Change,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    KeyAdded {
        kid: String,
    },
    KeyRetired {
        kid: String,
    },
    TokenRevoked {
        jti: String,
        exp: i64,
    },
    Grant {
        grant_id: GrantId,
        account_id: AccountId,
        scope: ScopeSet,
        spending_cap: Option<Amount>,
        status: GrantStatus,
    },
    /// A service created, renamed, repriced or (de)activated.
    Service {
        service_id: ServiceId,
        name: DisplayName,
        price: Amount,
        active: bool,
    },
    /// Central asks the sidecar holding the lease to close it (others need the funds, or the
    /// grant was revoked or suspended).
    LeaseRecalled {
        lease_id: LeaseId,
        account_id: AccountId,
    },
    /// The wallet's `available` after a lease call, for the sidecar's `check`.
    WalletAvailable {
        account_id: AccountId,
        available: Amount,
    },
}

/// A webhook event in the outbox (DESIGN §6). `data` is its wire object: a `serde_json::Value`
/// when read back; a wire type itself when queued, so it is encoded without a `Value` in
/// between; and `serde::de::IgnoredAny` where only the envelope is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord<Data = serde_json::Value> {
    pub id: EventId,
    pub company_id: CompanyId,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Data,
    pub created_at: Timestamp,
}

/// A one-time link sent by mail to claim a partner-created customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub customer_id: CustomerId,
    /// The username typed at registration, applied when the claim completes.
    pub username: String,
    pub expires_at: Timestamp,
}
