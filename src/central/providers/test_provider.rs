//! The built-in `test` provider: it "collects" every top-up at once and completes it through the
//! same HMAC-signed callback a real provider would call. It mints money, so it is opt-in.

use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::central::providers::{CallbackError, TopUpProvider};
use crate::storage::central::records::TopUpRecord;
use crate::vocab::limits::{provider_callback_attempts_max, provider_callback_skew_s};
use crate::vocab::money::Currency;
use crate::vocab::secret::Secret;
use crate::vocab::time::{ClockHandle, Timestamp};

/// Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">`.
pub const SIGNATURE_HEADER: &str = "protus-provider-signature";

#[derive(Debug)]
pub struct TestProvider {
    key: Secret,
    callback_url: String,
    currency: Currency,
    clock: ClockHandle,
    client: reqwest::Client,
}

impl TestProvider {
    /// `key` is the provider's HMAC key; `callback_base` is where central listens.
    pub fn new(key: Secret, callback_base: &str, currency: Currency, clock: ClockHandle) -> Self {
        TestProvider {
            key,
            callback_url: format!("{callback_base}/api/v1/providers/test/callback"),
            currency,
            clock,
            client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default(),
        }
    }
}

/// `t=…,v1=…` for `body` at `timestamp_s`.
pub fn sign(key: &Secret, timestamp_s: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp_s}.").as_bytes());
    mac.update(body);
    format!("t={timestamp_s},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl TopUpProvider for TestProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn start(&self, top_up: &TopUpRecord) {
        let body = serde_json::json!({
            "top_up_id": top_up.id.as_str(),
            "amount": top_up.amount.to_wire(self.currency),
            "status": "succeeded",
        })
        .to_string();
        let (client, url, key, clock) =
            (self.client.clone(), self.callback_url.clone(), self.key.clone(), self.clock.clone());
        let top_up_id = top_up.id.clone();
        tokio::spawn(async move {
            for attempt in 1..=provider_callback_attempts_max {
                let signature = sign(&key, clock.now().unix_s(), body.as_bytes());
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(SIGNATURE_HEADER, signature)
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => return,
                    Ok(response) => {
                        tracing::warn!(top_up_id = %top_up_id, status = %response.status(), attempt, "test provider callback refused")
                    }
                    Err(error) => {
                        tracing::warn!(top_up_id = %top_up_id, error = %error, attempt, "test provider callback failed")
                    }
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        });
    }

    fn verify_callback(&self, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Result<(), CallbackError> {
        let header =
            headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).ok_or(CallbackError::MissingSignature)?;
        let mut timestamp = None;
        let mut signature = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                Some(("v1", v)) => signature = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(CallbackError::MissingSignature);
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes()).expect("HMAC takes a key of any length");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&signature).map_err(|_| CallbackError::BadSignature)?;
        if (now.unix_s() - timestamp).abs() > provider_callback_skew_s {
            return Err(CallbackError::Stale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::time::{Clock, ManualClock};

    #[test]
    fn callbacks_verify_only_with_the_right_key_body_and_time() {
        // Proves a forged, altered or stale callback is refused and a genuine one accepted.
        let clock = ManualClock::starting_now();
        let key = Secret::generate("tp_");
        let provider =
            TestProvider::new(key.clone(), "http://127.0.0.1:1", Currency::parse("RUB").expect("known"), clock.clone());
        let body = br#"{"top_up_id":"top_x","amount":"1.00","status":"succeeded"}"#;
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, sign(&key, clock.now().unix_s(), body).parse().expect("header"));
        assert_eq!(provider.verify_callback(&headers, body, clock.now()), Ok(()));
        assert_eq!(provider.verify_callback(&headers, b"{}", clock.now()), Err(CallbackError::BadSignature));
        clock.advance_s(provider_callback_skew_s + 1);
        assert_eq!(provider.verify_callback(&headers, body, clock.now()), Err(CallbackError::Stale));
        let mut forged = HeaderMap::new();
        forged.insert(
            SIGNATURE_HEADER,
            sign(&Secret::generate("tp_"), clock.now().unix_s(), body).parse().expect("header"),
        );
        assert_eq!(provider.verify_callback(&forged, body, clock.now()), Err(CallbackError::BadSignature));
        assert_eq!(
            provider.verify_callback(&HeaderMap::new(), body, clock.now()),
            Err(CallbackError::MissingSignature)
        );
    }
}
