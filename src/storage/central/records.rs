//! What central stores: one serde record per table value. Not wire types: `wire` converts them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::ledger::{LedgerAccount, WalletBalances};

use crate::vocab::ids::*;
use crate::vocab::money::Amount;
use crate::vocab::names::{DisplayName, Email, HttpUrl, Username};
use crate::vocab::secret::SecretDigest;
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerRecord {
    pub id: CustomerId,
    pub email: Email,
    pub username: Username,
    /// Argon2id PHC string; `None` for a partner-created customer who has not claimed the email.
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
}

/// A secret replaced by rotation that keeps working until `until`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetiredDigest {
    pub digest: SecretDigest,
    pub until: Timestamp,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct RetiredWebhookSecret {
    pub secret: String,
    pub until: Timestamp,
}

impl std::fmt::Debug for RetiredWebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetiredWebhookSecret").field("until", &self.until).finish_non_exhaustive()
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct CompanyRecord {
    pub id: CompanyId,
    pub name: DisplayName,
    pub email: Email,
    pub password_hash: String,
    pub client_secret: SecretDigest,
    /// Rotated-out client secrets still inside their overlap.
    pub client_secret_previous: Vec<RetiredDigest>,
    /// Kept in clear: central must sign with it (HMAC). Never logged, never shown again.
    pub webhook_secret: String,
    /// Rotated-out webhook secrets still inside their overlap (receivers may still hold them).
    pub webhook_secret_previous: Vec<RetiredWebhookSecret>,
    pub webhook_url: Option<HttpUrl>,
    pub redirect_uris: Vec<HttpUrl>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for CompanyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompanyRecord").field("id", &self.id).field("name", &self.name).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Customer,
    Company,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub kind: SessionKind,
    /// The customer or company id.
    pub subject: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub id: ServiceId,
    pub company_id: CompanyId,
    pub name: DisplayName,
    pub price: Amount,
    pub active: bool,
    pub created_at: Timestamp,
}

/// An account as `accounts.rs` hands it out. The stored record (`ACCOUNTS`) holds what does not
/// change with charges; `paid_total` and `charges_head` are stored in the customer's wallet
/// record (`WalletRecord::accounts`, schema 3) and filled in when the account is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRecord {
    pub id: AccountId,
    pub company_id: CompanyId,
    pub customer_id: CustomerId,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub paid_total: Amount,
    /// Seq of the account's newest charge in `ACCOUNT_CHARGES`, if it has any.
    #[serde(skip)]
    pub charges_head: Option<u64>,
}

/// What changes in an account with every charge: the total it paid and its newest charge in
/// `ACCOUNT_CHARGES`. Kept in the customer's wallet record, which the charge rewrites anyway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountRunning {
    pub paid_total: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charges_head: Option<u64>,
}

/// A wallet whole (schema 3): the balances of its four ledger accounts, its running totals, where
/// its statement starts and the running state of the customer's accounts, under one key, so a
/// batch rewrites one leaf per wallet it touches. Every other ledger account lives in
/// `LEDGER_BALANCES`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WalletRecord {
    pub available: Amount,
    pub held: Amount,
    pub leased: Amount,
    pub debt: Amount,
    pub topped_up_total: Amount,
    pub spent_total: Amount,
    /// Seq of the newest line of the customer's statement in `STATEMENT_LINES`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_head: Option<u64>,
    /// The running state of each of the customer's accounts that has charges.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<AccountId, AccountRunning>,
}

impl WalletRecord {
    /// The wallet as the ledger sees it.
    pub fn balances(&self) -> WalletBalances {
        let WalletRecord { available, held, leased, debt, topped_up_total, spent_total, .. } = *self;
        WalletBalances { available, held, leased, debt, topped_up_total, spent_total }
    }

    /// The balance of one of this wallet's four accounts (`None` for any other account); the
    /// caller has checked the account is this wallet's.
    pub fn side(&self, account: &LedgerAccount) -> Option<Amount> {
        match account {
            LedgerAccount::Available(_) => Some(self.available),
            LedgerAccount::Held(_) => Some(self.held),
            LedgerAccount::Leased(_) => Some(self.leased),
            LedgerAccount::Debt(_) => Some(self.debt),
            LedgerAccount::Revenue(_) | LedgerAccount::Funding(_) => None,
        }
    }

    /// The balance of one of this wallet's four accounts, to change; as `side`.
    pub fn side_mut(&mut self, account: &LedgerAccount) -> Option<&mut Amount> {
        match account {
            LedgerAccount::Available(_) => Some(&mut self.available),
            LedgerAccount::Held(_) => Some(&mut self.held),
            LedgerAccount::Leased(_) => Some(&mut self.leased),
            LedgerAccount::Debt(_) => Some(&mut self.debt),
            LedgerAccount::Revenue(_) | LedgerAccount::Funding(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRecord {
    pub from: String,
    pub to: String,
    pub amount: Amount,
    pub at: Timestamp,
    /// What caused it, e.g. `top_up top_…` or `charge chg_…`.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopUpRecord {
    pub id: TopUpId,
    pub customer_id: CustomerId,
    pub amount: Amount,
    pub status: TopUpStatus,
    pub provider: String,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    TopUp,
    Charge,
    Reversal,
}

/// One line of a customer's statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationRecord {
    pub at: Timestamp,
    pub kind: OperationKind,
    pub company_name: Option<String>,
    pub service_name: Option<String>,
    pub invoice_number: Option<String>,
    pub charge_id: Option<ChargeId>,
    pub top_up_id: Option<TopUpId>,
    pub amount: Amount,
    /// `available` right after this operation.
    pub balance_after: Amount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Held,
    Captured,
    Released,
    Expired,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldRecord {
    pub id: HoldId,
    pub account_id: AccountId,
    pub company_id: CompanyId,
    pub customer_id: CustomerId,
    pub amount: Amount,
    pub captured: Amount,
    pub capturable: bool,
    pub status: HoldStatus,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Accepted,
    Settled,
    Reversed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChargeRecord {
    pub id: ChargeId,
    pub invoice_number: String,
    pub account_id: AccountId,
    pub company_id: CompanyId,
    pub customer_id: CustomerId,
    pub amount: Amount,
    pub service_id: Option<ServiceId>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub hold_id: Option<HoldId>,
    /// The partner's `Idempotency-Key`: at most one settled charge per (company, key), forever.
    pub idempotency_key: Option<String>,
    pub status: ChargeStatus,
    pub created_at: Timestamp,
    /// The lease a sidecar's charge was reported against (`None` for central's own charges).
    #[serde(default)]
    pub lease_id: Option<LeaseId>,
    /// A sidecar's charge that its lease did not fully cover when it was applied: the rest came
    /// from `available` and then `debt` (DESIGN §7).
    #[serde(default)]
    pub late: bool,
}

pub use crate::storage::idempotency::IdempotencyRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseStatus {
    /// In use by its sidecar; its remainder sits in `leased`.
    Open,
    /// Closed by its sidecar; the remainder goes back once usage up to `through_seq` is applied.
    Closing,
    /// Closed; the remainder went back to `available`.
    Closed,
    /// Its deadline and the grace period passed; the sweeper returned the remainder.
    Expired,
}

impl LeaseStatus {
    /// Whether the lease's unused remainder is still in `leased`.
    pub fn is_unreturned(self) -> bool {
        matches!(self, LeaseStatus::Open | LeaseStatus::Closing)
    }
}

/// Funds of one account reserved at central for one sidecar (DESIGN §7). While it is
/// unreturned, `ceiling − charged` of it sits in the wallet's `leased`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub id: LeaseId,
    pub sidecar_id: SidecarId,
    pub company_id: CompanyId,
    pub account_id: AccountId,
    pub customer_id: CustomerId,
    /// Everything reserved in this lease so far.
    pub ceiling: Amount,
    /// What usage took from the lease (`leased → revenue`); late parts are not in it.
    pub charged: Amount,
    /// Everything the sidecar's usage records booked against the lease, late parts and reversed
    /// duplicates included: never above the ceiling, since the sidecar accepts charges only
    /// inside it. (Absent in leases written before it was kept: 0.)
    #[serde(default)]
    pub reported: Amount,
    pub status: LeaseStatus,
    /// Central's clock: the sidecar's own deadline is earlier (it counts from when it sent).
    pub deadline: Timestamp,
    /// Set by close: the remainder goes back once this sidecar's usage reaches it.
    pub through_seq: Option<u64>,
    /// What went back to `available` when the lease was closed or expired.
    pub returned: Option<Amount>,
    /// Whether central has asked the sidecar to close it (sent once per lease).
    pub recalled: bool,
    /// Key of the lease in `leases_by_account` while it is unreturned.
    pub account_seq: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl LeaseRecord {
    /// The part of the ceiling not charged yet.
    pub fn remainder(&self) -> Amount {
        self.ceiling.saturating_sub(self.charged)
    }
}

/// A usage record central could not apply, kept for the operator and the company.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantineRecord {
    pub sidecar_id: SidecarId,
    pub company_id: CompanyId,
    pub seq: u64,
    /// A stable code: `clone`, `invalid_record`, `unknown_lease`, `unknown_account`,
    /// `lease_account_mismatch`, `duplicate_charge_id`.
    pub reason: String,
    /// What exactly was wrong, for people.
    pub detail: String,
    /// The record as the sidecar sent it.
    pub record: serde_json::Value,
    pub at: Timestamp,
}
