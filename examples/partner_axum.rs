//! Run with:
//!
//! ```sh
//! PROTUS_CLIENT_SECRET=… cargo run --release -- sidecar --central http://127.0.0.1:8080 --client-id co_…
//! SERVICE_ID=svc_… cargo run --example partner_axum        # listens on 127.0.0.1:3001
//! curl -X POST http://127.0.0.1:3001/sms -H "Authorization: Bearer $ACCESS" -H "Idempotency-Key: $(uuidgen)"
//! ```
//!
//! A minimal partner service: the `Charging` extractor asks the sidecar's permission check
//! whether the caller's PROTUS token may be charged (its refusals pass through unchanged:
//! 401 revoked or expired, 403 without the scope), and the handler charges the service through
//! the sidecar, which needs no secret: it is the company's agent on this host.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::{StatusCode, header, request::Parts};
use axum::{Json, routing::post};
use serde_json::{Value, json};

const SIDECAR: &str = "http://127.0.0.1:7070";

#[derive(Clone)]
struct App {
    http: reqwest::Client,
    service_id: String,
}

/// A caller whose token the sidecar says may be charged now.
struct Charging {
    token: String,
    account_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Charging
where
    App: FromRef<S>,
{
    type Rejection = (StatusCode, Json<Value>);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = App::from_ref(state);
        let bearer = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = bearer.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default().to_owned();
        let answer = app.http.get(format!("{SIDECAR}/api/v1/authorize?scope=charge")).bearer_auth(&token).send().await;
        let answer = answer.map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "sidecar down"}))))?;
        let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body: Value = answer.json().await.unwrap_or_default();
        if status != StatusCode::OK {
            return Err((status, Json(body)));
        }
        Ok(Charging { token, account_id: body["account_id"].as_str().unwrap_or_default().to_owned() })
    }
}

/// Sends one SMS, charged as the service at its current price; a retry with the same
/// `Idempotency-Key` is charged once.
async fn send_sms(
    axum::extract::State(app): axum::extract::State<App>,
    who: Charging,
    headers: axum::http::HeaderMap,
) -> (StatusCode, Json<Value>) {
    let Some(key) = headers.get("idempotency-key").cloned() else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "send an Idempotency-Key"})));
    };
    let charged = app
        .http
        .post(format!("{SIDECAR}/api/v1/billing/charges"))
        .bearer_auth(&who.token)
        .header("idempotency-key", key)
        .json(&json!({"service_id": app.service_id, "payload": {"sms": 1}}))
        .send()
        .await;
    let Ok(charged) = charged else { return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "sidecar down"}))) };
    let status = StatusCode::from_u16(charged.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body: Value = charged.json().await.unwrap_or_default();
    if status != StatusCode::CREATED {
        return (status, Json(body)); // 402 insufficient_funds, 401, 403, 503 central_unavailable
    }
    // ...send the SMS here, now that it is paid...
    (StatusCode::CREATED, Json(json!({"account_id": who.account_id, "invoice": body["invoice_number"]})))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app =
        App { http: reqwest::Client::new(), service_id: std::env::var("SERVICE_ID").expect("set SERVICE_ID=svc_…") };
    let router = axum::Router::new().route("/sms", post(send_sms)).with_state(app);
    axum::serve(tokio::net::TcpListener::bind("127.0.0.1:3001").await?, router).await
}
