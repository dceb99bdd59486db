//! Run with:
//!
//! ```sh
//! WEBHOOK_SECRET=whsec_… cargo run --example verify_webhook   # listens on 127.0.0.1:3000
//! ```
//!
//! Set the company's `webhook_url` to `http://127.0.0.1:3000/webhooks` (central needs
//! `--allow-private-webhooks` for a loopback URL). Each POST is verified by the Standard Webhooks
//! scheme on the raw body before it is parsed; a bad or stale signature gets 401, and central
//! retries anything but 2xx. Receivers dedupe by `webhook-id`: delivery is at least once.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use protus::domain::webhook_signature::{SignedHeaders, verify};
use protus::vocab::time::{Clock, SystemClock};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let secret: &'static str = std::env::var("WEBHOOK_SECRET").expect("set WEBHOOK_SECRET=whsec_…").leak();
    let app = axum::Router::new().route(
        "/webhooks",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let signed = SignedHeaders {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
            };
            if let Err(why) = verify(secret, signed, &body, SystemClock.now()) {
                eprintln!("refused a webhook: {why}");
                return StatusCode::UNAUTHORIZED;
            }
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            println!("{} {}: {}", signed.id, event["type"], event["data"]);
            StatusCode::NO_CONTENT
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
