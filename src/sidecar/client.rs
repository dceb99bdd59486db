//! The sidecar's HTTP client for central (DESIGN §7): enrolment with the company's client
//! credentials, then snapshot and feed as the sidecar itself (HTTP Basic `sc_…:<secret>`); and
//! the company calls the sidecar makes on the partner's behalf (direct users, DESIGN §5.2).

use std::time::Duration;

use axum::body::Bytes;
use reqwest::header::HeaderValue;
use serde::de::DeserializeOwned;

use crate::storage::sidecar::sync_state::Enrolment;
use crate::vocab::limits::{request_body_bytes_max, sync_answer_bytes_max, sync_pool_idle_s, sync_request_timeout_s};
use crate::vocab::secret::Secret;
use crate::wire::leases::{CloseLease, LeaseClosed, LeaseGranted, OpenLease, RenewLease, UsageAck, UsageBatch};
use crate::wire::sync::{Enrolled, FeedPage, Snapshot};

/// Why a call to central failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("central is unreachable: {0}")]
    Unreachable(String),
    /// The cursor is older than the feed keeps: take a new snapshot.
    #[error("central no longer keeps the feed after our cursor")]
    Gone,
    #[error("central refused the credentials (status {0})")]
    Refused(u16),
    #[error("central answered status {0}")]
    Status(u16),
    /// Central refused the request itself (a 4xx other than 401/403/410): retrying the same
    /// request will not help.
    #[error("central refused the request: {status} {code}")]
    Rejected { status: u16, code: String },
    #[error("central's answer is malformed: {0}")]
    Malformed(String),
}

/// The company's OAuth client credentials: the sidecar acts for the company with them.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: Secret,
}

/// The request headers a company call forwards unchanged.
#[derive(Debug, Default)]
pub struct Forwarded<'a> {
    pub content_type: Option<&'a HeaderValue>,
    pub idempotency_key: Option<&'a HeaderValue>,
}

/// Central's answer to a forwarded company call, kept whole so it can be relayed as it came.
#[derive(Debug)]
pub struct Relayed {
    pub status: u16,
    pub content_type: Option<HeaderValue>,
    pub idempotent_replayed: Option<HeaderValue>,
    pub retry_after: Option<HeaderValue>,
    pub body: Vec<u8>,
}

/// Talks to one central.
#[derive(Debug, Clone)]
pub struct CentralClient {
    base: String,
    http: reqwest::Client,
}

impl CentralClient {
    pub fn new(base: &str) -> Result<CentralClient, SyncError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(sync_request_timeout_s))
            .pool_idle_timeout(Duration::from_secs(sync_pool_idle_s))
            .build()
            .map_err(|e| SyncError::Unreachable(e.to_string()))?;
        Ok(CentralClient { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// `POST /sync/v1/sidecars` with the company's client credentials.
    pub async fn enrol(&self, client: &ClientCredentials) -> Result<Enrolment, SyncError> {
        let request = self
            .http
            .post(format!("{}/sync/v1/sidecars", self.base))
            .basic_auth(&client.id, Some(client.secret.expose()))
            .timeout(Duration::from_secs(sync_request_timeout_s));
        let enrolled: Enrolled = answer(request).await?;
        Ok(Enrolment {
            sidecar_id: enrolled.sidecar_id,
            sidecar_secret: enrolled.sidecar_secret.expose().to_owned(),
            company_id: enrolled.company_id,
        })
    }

    /// `GET /sync/v1/snapshot`.
    pub async fn snapshot(&self, me: &Enrolment) -> Result<Snapshot, SyncError> {
        let request = self
            .http
            .get(format!("{}/sync/v1/snapshot", self.base))
            .basic_auth(&me.sidecar_id, Some(&me.sidecar_secret))
            .timeout(Duration::from_secs(sync_request_timeout_s));
        answer(request).await
    }

    /// `GET /sync/v1/events?after=&wait=`: the long-poll.
    pub async fn events(&self, me: &Enrolment, after: u64, wait_s: u64) -> Result<FeedPage, SyncError> {
        let request = self
            .http
            .get(format!("{}/sync/v1/events", self.base))
            .query(&[("after", after), ("wait", wait_s)])
            .basic_auth(&me.sidecar_id, Some(&me.sidecar_secret))
            .timeout(Duration::from_secs(wait_s + sync_request_timeout_s));
        answer(request).await
    }

    /// `POST /sync/v1/leases`.
    pub async fn open_lease(&self, me: &Enrolment, body: &OpenLease) -> Result<LeaseGranted, SyncError> {
        self.sync_post(me, "/sync/v1/leases".to_owned(), body).await
    }

    /// `POST /sync/v1/leases/{id}/renew`.
    pub async fn renew_lease(&self, me: &Enrolment, id: &str, body: &RenewLease) -> Result<LeaseGranted, SyncError> {
        self.sync_post(me, format!("/sync/v1/leases/{id}/renew"), body).await
    }

    /// `POST /sync/v1/leases/{id}/close`.
    pub async fn close_lease(&self, me: &Enrolment, id: &str, body: &CloseLease) -> Result<LeaseClosed, SyncError> {
        self.sync_post(me, format!("/sync/v1/leases/{id}/close"), body).await
    }

    /// `POST /sync/v1/usage`.
    pub async fn report_usage(&self, me: &Enrolment, body: &UsageBatch) -> Result<UsageAck, SyncError> {
        self.sync_post(me, "/sync/v1/usage".to_owned(), body).await
    }

    async fn sync_post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        me: &Enrolment,
        path: String,
        body: &B,
    ) -> Result<T, SyncError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&me.sidecar_id, Some(&me.sidecar_secret))
            .timeout(Duration::from_secs(sync_request_timeout_s))
            .json(body);
        answer(request).await
    }

    /// `POST /api/v1/direct-users` with the company's client credentials. The body and the
    /// forwarded headers go through unchanged; any answer central gives is returned whole (its
    /// body bounded like a request body), and only a failure to get one is an error.
    pub async fn create_direct_user(
        &self,
        client: &ClientCredentials,
        forwarded: Forwarded<'_>,
        body: Bytes,
    ) -> Result<Relayed, SyncError> {
        let mut request = self
            .http
            .post(format!("{}/api/v1/direct-users", self.base))
            .basic_auth(&client.id, Some(client.secret.expose()))
            .timeout(Duration::from_secs(sync_request_timeout_s))
            .body(body);
        if let Some(value) = forwarded.content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, value);
        }
        if let Some(value) = forwarded.idempotency_key {
            request = request.header("idempotency-key", value);
        }
        let unreachable = |e: reqwest::Error| SyncError::Unreachable(e.without_url().to_string());
        let mut response = request.send().await.map_err(unreachable)?;
        let header = |name: &str| response.headers().get(name).cloned();
        let (content_type, idempotent_replayed, retry_after) =
            (header("content-type"), header("idempotent-replayed"), header("retry-after"));
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > request_body_bytes_max {
                return Err(SyncError::Malformed(format!("answer longer than {request_body_bytes_max} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Relayed { status, content_type, idempotent_replayed, retry_after, body })
    }
}

async fn answer<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, SyncError> {
    let mut response = request.send().await.map_err(|e| SyncError::Unreachable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    match status {
        200..=299 => {}
        410 => return Err(SyncError::Gone),
        401 => return Err(SyncError::Refused(status)),
        400..=499 => {
            let mut body = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                if body.len() + chunk.len() > request_body_bytes_max {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                .unwrap_or_default();
            return Err(SyncError::Rejected { status, code });
        }
        _ => return Err(SyncError::Status(status)),
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| SyncError::Unreachable(e.without_url().to_string()))? {
        if body.len() + chunk.len() > sync_answer_bytes_max {
            return Err(SyncError::Malformed(format!("answer longer than {sync_answer_bytes_max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| SyncError::Malformed(e.to_string()))
}
