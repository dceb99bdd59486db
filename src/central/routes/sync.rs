//! `/sync/v1`: what a sidecar asks of central (DESIGN §7): enrolment, the snapshot it starts
//! from and the long-poll feed of changes after it. A sidecar sees only its own company's data.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::central::client_auth;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::routes::direct_users::client_problem;
use crate::central::sidecar_auth::{self, SidecarAuth};
use crate::central::state::SharedState;
use crate::domain::token::keys::{Jwk, SigningKeyPair};
use crate::http::problem::Problem;
use crate::http::query::ApiQuery;
use crate::storage::central::oauth_records::{Change, ChangeRecord, GrantRecord, SigningKeyRecord};
use crate::storage::central::records::ServiceRecord;
use crate::storage::central::sidecars::{self, FeedRead, SidecarRecord};
use crate::vocab::ids::SidecarId;
use crate::vocab::limits::{feed_poll_ms, feed_wait_s_max, usage_batch_len_max};
use crate::vocab::money::Currency;
use crate::vocab::time::Timestamp;
use crate::wire::oauth::grant_status;
use crate::wire::secret_text::SecretText;
use crate::wire::sync::{Enrolled, FeedEntry, FeedEvent, FeedPage, RevokedToken, Snapshot, SyncGrant, SyncService};

/// Enrol a sidecar with the company's client credentials (HTTP Basic). The secret is shown
/// this once; central keeps only its SHA-256.
#[utoipa::path(post, path = "/sync/v1/sidecars", tag = "sync", security(("client" = [])),
    responses((status = 201, body = Enrolled), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn enrol(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<(StatusCode, Json<Enrolled>)> {
    let company = client_auth::authenticate(&state, &headers, None).await.map_err(client_problem)?;
    // Enrolments share the client's token-request budget: both are client-authenticated calls.
    state.limiters.token_client.check(company.id.as_str(), state.now()).map_err(|retry| {
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests from this client; retry later")
            .with_retry_after(retry)
    })?;
    let secret = sidecar_auth::new_secret();
    let record = SidecarRecord {
        id: SidecarId::generate(),
        company_id: company.id,
        secret: secret.digest(),
        created_at: state.now(),
    };
    let enrolled = Enrolled {
        sidecar_id: record.id.to_string(),
        sidecar_secret: SecretText(secret.expose().to_owned()),
        company_id: record.company_id.to_string(),
    };
    state.store.write(move |tx| sidecars::enrol(tx, &record)).await.or_internal()?;
    tracing::info!(sidecar_id = %enrolled.sidecar_id, company_id = %enrolled.company_id, "sidecar enrolled");
    Ok((StatusCode::CREATED, Json(enrolled)))
}

/// Keys, live revocations, the company's grants and services, and the feed cursor they are
/// current to, all read at one instant.
#[utoipa::path(get, path = "/sync/v1/snapshot", tag = "sync", security(("sidecar" = [])),
    responses((status = 200, body = Snapshot), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn snapshot(State(state): State<SharedState>, auth: SidecarAuth) -> ApiResult<Json<Snapshot>> {
    let now = state.now();
    let company = auth.company_id;
    let read = state.store.read(move |r| sidecars::snapshot(r, &company, now)).await.or_internal()?;
    let currency = state.currency;
    Ok(Json(Snapshot {
        cursor: read.cursor,
        issuer: state.public_url.clone(),
        currency: currency.code().to_owned(),
        keys: read.keys.iter().filter_map(public_jwk).collect(),
        revoked: read.revoked.into_iter().map(|(jti, exp)| RevokedToken { jti, exp }).collect(),
        grants: read.grants.iter().map(|g| sync_grant(g, currency)).collect(),
        services: read.services.iter().map(|s| sync_service(s, currency)).collect(),
        usage_batch_len_max: Some(usage_batch_len_max),
    }))
}

/// `?after=<cursor>&wait=<seconds>` of the feed.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    /// The cursor of the snapshot or of the previous page.
    pub after: Option<String>,
    /// Seconds to wait for a change when there is none, 0 to 25 (default 0).
    pub wait: Option<String>,
}

impl FeedParams {
    fn parse(&self) -> Result<(u64, u64), Problem> {
        let after = self.after.as_deref().ok_or_else(|| Problem::field("after", "the feed cursor is required"))?;
        let after = after.parse::<u64>().map_err(|_| Problem::field("after", "must be a cursor from central"))?;
        let wait =
            match self.wait.as_deref() {
                None => 0,
                Some(text) => text.parse::<u64>().ok().filter(|w| *w <= feed_wait_s_max).ok_or_else(|| {
                    Problem::field("wait", format!("must be whole seconds from 0 to {feed_wait_s_max}"))
                })?,
            };
        Ok((after, wait))
    }
}

/// The changes after `after` that concern this sidecar's company or everyone, oldest first.
/// With none, waits up to `wait` seconds for one. 410 `gone` when the cursor is older than the
/// feed keeps (take a new snapshot).
#[utoipa::path(get, path = "/sync/v1/events", tag = "sync", security(("sidecar" = [])), params(FeedParams),
    responses((status = 200, body = FeedPage), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn events(
    State(state): State<SharedState>,
    auth: SidecarAuth,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> ApiResult<Json<FeedPage>> {
    let (mut after, wait) = params.parse()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    // Polls the log, which is cheap (one short read transaction), rather than hooking every
    // write path: a change is seen within `feed_poll_ms`, well inside the 1 s propagation goal.
    loop {
        let company = auth.company_id.clone();
        let read = state.store.read(move |r| sidecars::feed(r, &company, after)).await.or_internal()?;
        let FeedRead::Page { changes, keys, cursor } = read else {
            return Err(Problem::new(
                StatusCode::GONE,
                "gone",
                "the feed no longer holds changes after this cursor; take a new snapshot",
            ));
        };
        after = cursor;
        let now = state.now();
        let events: Vec<FeedEntry> = changes
            .into_iter()
            .filter_map(|(seq, record)| feed_entry(seq, record, &keys, now, state.currency))
            .collect();
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !events.is_empty() || remaining.is_zero() {
            return Ok(Json(FeedPage { events, cursor }));
        }
        tokio::time::sleep(remaining.min(Duration::from_millis(feed_poll_ms))).await;
    }
}

fn feed_entry(
    seq: u64,
    record: ChangeRecord,
    keys: &std::collections::BTreeMap<String, SigningKeyRecord>,
    now: Timestamp,
    currency: Currency,
) -> Option<FeedEntry> {
    let event = match record.change {
        // A key no longer published signs nothing a sidecar could still accept.
        Change::KeyAdded { kid } => FeedEvent::KeyAdded {
            jwk: keys.get(&kid).filter(|k| k.published_until.is_none_or(|until| until > now)).and_then(public_jwk)?,
        },
        Change::KeyRetired { kid } => FeedEvent::KeyRetired { kid },
        Change::TokenRevoked { jti, exp } => FeedEvent::TokenRevoked(RevokedToken { jti, exp }),
        Change::Grant { grant_id, account_id, scope, spending_cap, status } => FeedEvent::Grant(SyncGrant {
            grant_id: grant_id.to_string(),
            account_id: account_id.to_string(),
            scope: scope.to_string(),
            spending_cap: spending_cap.map(|cap| cap.to_wire(currency)),
            status: grant_status(status).to_owned(),
        }),
        Change::Service { service_id, name, price, active } => FeedEvent::Service(SyncService {
            id: service_id.to_string(),
            name: name.as_str().to_owned(),
            price: price.to_wire(currency),
            active,
        }),
        Change::LeaseRecalled { lease_id, account_id } => {
            FeedEvent::LeaseRecalled { lease_id: lease_id.to_string(), account_id: account_id.to_string() }
        }
        Change::WalletAvailable { account_id, available } => {
            FeedEvent::WalletAvailable { account_id: account_id.to_string(), available: available.to_wire(currency) }
        }
    };
    Some(FeedEntry { seq, at: record.at.to_rfc3339(), event })
}

/// The public half of a stored key; `None` (logged) for a record that is not a key.
fn public_jwk(record: &SigningKeyRecord) -> Option<Jwk> {
    let bytes: Option<[u8; 32]> = hex::decode(&record.secret).ok().and_then(|b| b.try_into().ok());
    match bytes {
        Some(bytes) => Some(SigningKeyPair::from_secret_bytes(bytes).public_jwk()),
        None => {
            tracing::error!(kid = %record.kid, "stored signing key is not 32 hex bytes; left out of the sync");
            None
        }
    }
}

fn sync_grant(grant: &GrantRecord, currency: Currency) -> SyncGrant {
    SyncGrant {
        grant_id: grant.id.to_string(),
        account_id: grant.account_id.to_string(),
        scope: grant.scope.to_string(),
        spending_cap: grant.spending_cap.map(|cap| cap.to_wire(currency)),
        status: grant_status(grant.status).to_owned(),
    }
}

fn sync_service(service: &ServiceRecord, currency: Currency) -> SyncService {
    SyncService {
        id: service.id.to_string(),
        name: service.name.as_str().to_owned(),
        price: service.price.to_wire(currency),
        active: service.active,
    }
}
