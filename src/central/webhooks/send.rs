//! One delivery attempt: the event's Standard Webhooks request (body `{"type","timestamp","data"}`,
//! `webhook-id` = the event id, a fresh `webhook-timestamp`, signatures with the current secret
//! and every rotated-out one still inside its overlap), sent once with the timeout, no redirects
//! and no proxy, and what came of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::central::webhooks::target::{PublicOnlyResolver, check_webhook_target};
use crate::domain::webhook_signature::{WebhookKey, signature_header};
use crate::storage::central::deliveries::{AttemptJob, AttemptRecord};
use crate::storage::central::oauth_records::EventRecord;
use crate::storage::central::records::CompanyRecord;
use crate::vocab::limits::{webhook_company_in_flight_max, webhook_error_len_max};
use crate::vocab::time::Timestamp;

/// The body every receiver gets, fields in this order.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    data: &'a serde_json::Value,
}

/// The request body of `event`: the same bytes on every attempt.
pub fn body(event: &EventRecord) -> Vec<u8> {
    let body = Body { kind: &event.kind, timestamp: event.created_at.to_rfc3339(), data: &event.data };
    serde_json::to_vec(&body).expect("an event body is plain JSON and always serialises")
}

/// The keys to sign with at `now`: the current secret first, then each rotated-out one still
/// inside its overlap. A secret that does not parse is skipped (and logged without its value).
pub fn signing_keys(company: &CompanyRecord, now: Timestamp) -> Vec<WebhookKey> {
    let previous = company.webhook_secret_previous.iter().filter(|p| p.until > now).map(|p| p.secret.as_str());
    std::iter::once(company.webhook_secret.as_str())
        .chain(previous)
        .filter_map(|secret| match WebhookKey::parse(secret) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::error!(company_id = %company.id, error = %error, "stored webhook secret does not parse");
                None
            }
        })
        .collect()
}

/// What an attempt came to, and whether the delivery should stop retrying (no URL left).
#[derive(Debug)]
pub struct Outcome {
    pub attempt: AttemptRecord,
    pub give_up: bool,
}

/// Sends attempts with one shared client.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    timeout: Duration,
    allow_private: bool,
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> reqwest::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(webhook_company_in_flight_max)
            .user_agent(concat!("PROTUS-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        Ok(Sender { client: builder.build()?, timeout, allow_private })
    }

    /// Makes one attempt of `job` at `now` (the injectable clock's time, which also stamps
    /// `webhook-timestamp`); the duration is measured in real time.
    pub async fn attempt(&self, job: &AttemptJob, now: Timestamp) -> Outcome {
        let started = Instant::now();
        let manual = job.delivery.manual_next;
        let (status_code, error, give_up) = match self.send(job, now).await {
            Ok(status) => (Some(status), None, false),
            Err(Failure { reason, give_up }) => (None, Some(truncated(reason)), give_up),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Outcome { attempt: AttemptRecord { at: now, status_code, error, duration_ms, manual }, give_up }
    }

    async fn send(&self, job: &AttemptJob, now: Timestamp) -> Result<u16, Failure> {
        let url = job.company.webhook_url.as_ref().ok_or(Failure::stop("the company has no webhook URL"))?;
        check_webhook_target(url, self.allow_private)
            .await
            .map_err(|reason| Failure::retry(format!("refused: {reason}")))?;
        let keys = signing_keys(&job.company, now);
        if keys.is_empty() {
            return Err(Failure::retry("no usable webhook secret".to_owned()));
        }
        let body = body(&job.event);
        let timestamp = now.unix_s();
        let signature = signature_header(&keys, job.event.id.as_str(), timestamp, &body);
        let response = self
            .client
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("webhook-id", job.event.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|error| Failure::retry(self.describe(error)))?;
        Ok(response.status().as_u16())
    }

    fn describe(&self, error: reqwest::Error) -> String {
        // Without the URL: a partner's URL may carry a token in its query.
        let error = &error.without_url();
        if error.is_timeout() {
            return format!("timed out after {} ms", self.timeout.as_millis());
        }
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// Why no answer came.
struct Failure {
    reason: String,
    give_up: bool,
}

impl Failure {
    fn retry(reason: String) -> Self {
        Failure { reason, give_up: false }
    }

    fn stop(reason: &str) -> Self {
        Failure { reason: reason.to_owned(), give_up: true }
    }
}

/// At most `webhook_error_len_max` bytes, cut at a character boundary.
fn truncated(mut text: String) -> String {
    if text.len() > webhook_error_len_max {
        let mut cut = webhook_error_len_max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::ids::{CompanyId, EventId};

    #[test]
    fn the_body_has_type_timestamp_and_data_in_order() {
        // Proves the documented body shape, RFC 3339 event time, and stable bytes across attempts.
        let event = EventRecord {
            id: EventId::generate(),
            company_id: CompanyId::generate(),
            kind: "grant.created".to_owned(),
            data: serde_json::json!({"id": "grt_x", "scope": "check"}),
            created_at: Timestamp::from_unix_ms(1_700_000_000_123),
        };
        let text = String::from_utf8(body(&event)).expect("utf-8");
        assert_eq!(
            text,
            r#"{"type":"grant.created","timestamp":"2023-11-14T22:13:20.123Z","data":{"id":"grt_x","scope":"check"}}"#
        );
        assert_eq!(body(&event), body(&event));
    }

    #[test]
    fn long_errors_are_cut_at_a_character_boundary() {
        // Proves stored error texts stay bounded without splitting a character.
        let cut = truncated("é".repeat(webhook_error_len_max));
        assert!(cut.len() <= webhook_error_len_max && cut.chars().all(|c| c == 'é'));
        assert_eq!(truncated("short".to_owned()), "short");
    }
}
