//! Every table of both roles, in one place, with the schema version the file must carry.

use redb::TableDefinition;

use crate::storage::threads::Thread;

/// Bumped whenever a table's key, value or meaning changes. A build upgrades a file of an older
/// version when it opens it (`central::migrate`) and refuses a newer or unknown one.
/// 2: a customer's statement and an account's charges are threads (`storage::threads`).
/// 3: a wallet's four balances live in its `WALLETS` record, not in `LEDGER_BALANCES`, and so
///    do its accounts' paid totals and thread heads, not in `ACCOUNTS`; a charge taken at
///    central marks its idempotency key settled in its stored answer (`IDEMPOTENCY`), not in
///    `SETTLED_KEYS`.
/// 4: records are written in MessagePack (`storage::codec`); those written before stay JSON
///    and are still read, so the upgrade moves nothing. The sidecar stores new idempotent
///    answers in its answer log (`storage::sidecar::answers`) and only reads `IDEMPOTENCY`.
/// 5: a stored idempotent answer keeps its body as the JSON text sent (`body_json`), and the
///    sidecar logs a batch's answers as one page and its usage outbox names each charge;
///    answers stored before (a JSON value `body`, one per log entry) and whole usage records in
///    the outbox are still read, so the upgrade moves nothing.
pub const SCHEMA_VERSION: u64 = 5;

/// `schema_version`, `role`, provider secrets.
pub const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Named monotonic counters (`seq`, `invoice`).
pub const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

// People and companies. Values are JSON records from `central::records`.
pub const CUSTOMERS: TableDefinition<&str, &[u8]> = TableDefinition::new("customers");
pub const CUSTOMER_BY_EMAIL: TableDefinition<&str, &str> = TableDefinition::new("customer_by_email");
pub const COMPANIES: TableDefinition<&str, &[u8]> = TableDefinition::new("companies");
pub const COMPANY_BY_EMAIL: TableDefinition<&str, &str> = TableDefinition::new("company_by_email");
pub const COMPANY_BY_NAME: TableDefinition<&str, &str> = TableDefinition::new("company_by_name");
/// SHA-256 of the session token (hex) → session record.
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
pub const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
/// (company, seq) → service id, newest last.
pub const SERVICES_BY_COMPANY: TableDefinition<(&str, u64), &str> = TableDefinition::new("services_by_company");
/// (company, case-folded name) → service id.
pub const SERVICE_BY_NAME: TableDefinition<(&str, &str), &str> = TableDefinition::new("service_by_name");
/// account id → the account as made (its running state is in its customer's `WALLETS` record).
pub const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// (company, customer) → account id.
pub const ACCOUNT_BY_PAIR: TableDefinition<(&str, &str), &str> = TableDefinition::new("account_by_pair");
pub const ACCOUNTS_BY_CUSTOMER: TableDefinition<(&str, u64), &str> = TableDefinition::new("accounts_by_customer");
pub const ACCOUNTS_BY_COMPANY: TableDefinition<(&str, u64), &str> = TableDefinition::new("accounts_by_company");

// The ledger.
/// Ledger account key (`company/co_…/revenue`, `provider/…/funding`) → balance (decimal text, ≥ 0). A
/// wallet's own four accounts are in its `WALLETS` record (schema 3).
pub const LEDGER_BALANCES: TableDefinition<&str, &str> = TableDefinition::new("ledger_balances");
/// customer → the wallet whole: its four balances, totals, statement head and the running state
/// (paid total, thread head) of each of the customer's accounts with charges.
pub const WALLETS: TableDefinition<&str, &[u8]> = TableDefinition::new("wallets");
/// seq → transfer record. Append-only.
pub const TRANSFERS: TableDefinition<u64, &[u8]> = TableDefinition::new("transfers");
pub const TOP_UPS: TableDefinition<&str, &[u8]> = TableDefinition::new("top_ups");
/// seq → (customer, the customer's previous line's seq, statement line): every customer's
/// statement threaded through one log; the wallet record keeps the newest seq.
pub const STATEMENT_LINES: Thread<&[u8]> = TableDefinition::new("statement_lines");
pub const HOLDS: TableDefinition<&str, &[u8]> = TableDefinition::new("holds");
pub const CHARGES: TableDefinition<&str, &[u8]> = TableDefinition::new("charges");
pub const CHARGES_BY_COMPANY: TableDefinition<(&str, u64), &str> = TableDefinition::new("charges_by_company");
/// seq → (account, the account's previous charge's seq, charge id): every account's charges
/// threaded through one log; the customer's wallet record keeps each account's newest seq.
pub const ACCOUNT_CHARGES: Thread<&str> = TableDefinition::new("account_charges");
/// (scope, key) → stored answer: central's, and a sidecar's stored before schema 4 (read only
/// there since). At central an answer may carry the settlement mark of its (company, key)
/// (schema 3), which is then the only copy: whatever prunes answers one day must move such
/// marks to `SETTLED_KEYS` first.
pub const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("idempotency");

// OAuth (central).
pub const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("grants");
/// (company, customer) → the pair's current (active or suspended) grant; removed on revocation.
pub const GRANT_BY_PAIR: TableDefinition<(&str, &str), &str> = TableDefinition::new("grant_by_pair");
pub const GRANTS_BY_CUSTOMER: TableDefinition<(&str, u64), &str> = TableDefinition::new("grants_by_customer");
/// (company, seq) → grant id: a company's grants, for the sidecars' snapshot.
pub const GRANTS_BY_COMPANY: TableDefinition<(&str, u64), &str> = TableDefinition::new("grants_by_company");
/// request id → pending authorization request.
pub const AUTH_REQUESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("auth_requests");
/// hex SHA-256 of the code → code record.
pub const AUTH_CODES: TableDefinition<&str, &[u8]> = TableDefinition::new("auth_codes");
/// hex SHA-256 of the refresh token → refresh record.
pub const REFRESH_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh_tokens");
pub const REFRESH_FAMILIES: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh_families");
/// jti → its `exp` (unix seconds); pruned after `exp`.
pub const REVOKED_TOKENS: TableDefinition<&str, i64> = TableDefinition::new("revoked_tokens");
/// kid → signing key record.
pub const SIGNING_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("signing_keys");
/// seq → change, the durable log behind the sidecars' feed.
pub const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// seq → webhook event waiting for delivery.
pub const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// hex SHA-256 of a claim token → claim record.
pub const CLAIMS: TableDefinition<&str, &[u8]> = TableDefinition::new("claims");

// Billing (central).
/// (account, seq) → hold id: an account's holds, for the spending cap.
pub const HOLDS_BY_ACCOUNT: TableDefinition<(&str, u64), &str> = TableDefinition::new("holds_by_account");
/// (expires_at unix ms, hold id) → (): open holds by expiry, for the sweeper.
pub const HOLD_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("hold_expiry");

// Webhooks (central).
/// delivery id → delivery record (its attempts, status and next attempt).
pub const WEBHOOK_DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("webhook_deliveries");
/// (company, seq) → delivery id: the company's delivery log, newest last.
pub const WEBHOOK_DELIVERIES_BY_COMPANY: TableDefinition<(&str, u64), &str> =
    TableDefinition::new("webhook_deliveries_by_company");
/// (company, next attempt unix ms, delivery id) → (): deliveries waiting for an attempt.
pub const WEBHOOK_DELIVERIES_DUE: TableDefinition<(&str, u64, &str), ()> =
    TableDefinition::new("webhook_deliveries_due");

// Sidecar.
/// `enrolment`, `view` (issuer, currency, company) and `cursor` → JSON records from
/// `storage::sidecar::sync_state`.
pub const SIDECAR_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecar_state");
/// kid → public JWK, as central published it.
pub const SIDECAR_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecar_keys");
/// jti → its `exp` (unix seconds); pruned after `exp`.
pub const SIDECAR_REVOKED: TableDefinition<&str, i64> = TableDefinition::new("sidecar_revoked");
/// grant id → the grant as the feed last described it.
pub const SIDECAR_GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecar_grants");
/// service id → the service as the feed last described it.
pub const SIDECAR_SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecar_services");
/// (account, lease id) → the sidecar's lease (ceiling, holds and charges against it, monotonic deadline).
pub const SIDECAR_LEASES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("sidecar_leases");
/// lease id → monotonic ms when its recall came before the lease was known here (the open's
/// answer was still on its way): the lease is stored as recalled when it arrives.
pub const SIDECAR_RECALLS: TableDefinition<&str, u64> = TableDefinition::new("sidecar_recalls");
/// (expiry on the monotonic clock in ms, hold id) → (): open holds, for the sweeper.
pub const SIDECAR_HOLD_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("sidecar_hold_expiry");
/// hold id → a hold decided by this sidecar.
pub const SIDECAR_HOLDS: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecar_holds");
/// charge id → a charge accepted by this sidecar (accepted until central acks it, then settled).
pub const SIDECAR_CHARGES: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecar_charges");
/// usage seq → the id of the charge it reports (the usage record itself before schema 5), waiting
/// for central's ack; written with the charge.
pub const SIDECAR_USAGE_OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("sidecar_usage_outbox");
/// u64 (`answer` counter) → the stored idempotent answers (with their (scope, key)) of one batch,
/// from that seq on, as one page (one answer per entry before schema 5); appended in the commit
/// of their work and kept forever (`storage::sidecar::answers`).
pub const SIDECAR_ANSWER_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("sidecar_answer_log");
/// (run, scope, key) → the answer's log seq: the index of the log up to a run's `through_seq`,
/// each run written once, in key order.
pub const SIDECAR_ANSWER_RUNS: TableDefinition<(u64, &str, &str), u64> = TableDefinition::new("sidecar_answer_runs");
/// run → the last log seq it indexes and its Bloom filter over (scope, key), loaded at start.
pub const SIDECAR_ANSWER_FILTERS: TableDefinition<u64, &[u8]> = TableDefinition::new("sidecar_answer_filters");
/// hex SHA-256 of a verified access token → its claims, to warm the cache at start.
pub const SIDECAR_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecar_tokens");

// Sync (central).
/// sidecar id → sidecar record (its company and the SHA-256 of its secret).
pub const SIDECARS: TableDefinition<&str, &[u8]> = TableDefinition::new("sidecars");
/// lease id → lease record (its sidecar, account, ceiling, charged total, state, deadline).
pub const LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("leases");
/// (account, seq) → lease id: an account's unreturned (open or closing) leases, for recalls and
/// the spending cap; an entry goes when its lease's remainder is returned.
pub const LEASES_BY_ACCOUNT: TableDefinition<(&str, u64), &str> = TableDefinition::new("leases_by_account");
/// (return-after unix ms, lease id) → (): open leases by deadline + grace, for the sweeper.
pub const LEASE_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("lease_expiry");
/// (sidecar, request id) → the stored answer of a lease call (open, renew, close are idempotent).
pub const LEASE_REQUESTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("lease_requests");
/// sidecar → the highest usage seq applied (or quarantined).
pub const USAGE_APPLIED: TableDefinition<&str, u64> = TableDefinition::new("usage_applied");
/// (sidecar, seq) → charge id: what each usage record was, to detect a cloned data dir.
pub const USAGE_SEEN: TableDefinition<(&str, u64), &str> = TableDefinition::new("usage_seen");
/// (sidecar, seq) → quarantined usage record with its reason; seen by the operator and company.
/// A clone's record (a seq already applied with another charge) is kept under
/// (`<sidecar>/clone/<its charge id>`, seq), which no sidecar id can equal.
pub const USAGE_QUARANTINE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("usage_quarantine");
/// (company, idempotency key) → the charge settled under it: settlement-time dedupe (DESIGN §5).
pub const SETTLED_KEYS: TableDefinition<(&str, &str), &str> = TableDefinition::new("settled_keys");
/// (sidecar, through_seq, lease id) → (): closing leases waiting for usage up to `through_seq`.
pub const CLOSING_LEASES: TableDefinition<(&str, u64, &str), ()> = TableDefinition::new("closing_leases");
/// (company, seq) → quarantined usage record: what the company's quarantine list shows.
pub const USAGE_QUARANTINE_BY_COMPANY: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("usage_quarantine_by_company");

// Retired: read only by the migration that replaced them.
/// Version 1: (customer, seq) → statement line. Replaced by `STATEMENT_LINES` in version 2.
pub const OPERATIONS_V1: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("operations");
/// Version 1: (account, seq) → charge id. Replaced by `ACCOUNT_CHARGES` in version 2.
pub const CHARGES_BY_ACCOUNT_V1: TableDefinition<(&str, u64), &str> = TableDefinition::new("charges_by_account");
