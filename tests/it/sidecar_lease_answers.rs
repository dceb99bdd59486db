//! A lease open central committed but whose answer the sidecar never got (DESIGN §7: lease
//! calls are idempotent by `request_id`): the sidecar sends it again with the same id and
//! adopts the lease, instead of opening another and finding the wallet's funds all leased.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::sidecar_billing::{World, ready};
use crate::sidecar_support::ChildSidecar;

/// Forwards every request to central and relays the answer, except that it swallows central's
/// answer to the first lease open and says 502 instead, after central has done the work.
struct LosingProxy {
    central: String,
    http: reqwest::Client,
    lost_one: AtomicBool,
}

async fn relay(proxy: Arc<LosingProxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = proxy.http.request(method.clone(), format!("{}{path}", proxy.central)).body(body);
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.send().await else { return StatusCode::BAD_GATEWAY.into_response() };
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    if method == Method::POST && uri.path() == "/sync/v1/leases" && !proxy.lost_one.swap(true, Ordering::SeqCst) {
        assert!(status.is_success(), "central opened the lease: {}", String::from_utf8_lossy(&bytes));
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert("content-type", content_type);
    }
    response
}

/// Starts the proxy on 127.0.0.1:0; returns its base URL.
async fn losing_proxy(central: &str) -> String {
    let proxy = Arc::new(LosingProxy {
        central: central.to_owned(),
        http: reqwest::Client::new(),
        lost_one: AtomicBool::new(false),
    });
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        relay(proxy.clone(), method, uri, headers, body)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let address = listener.local_addr().expect("the proxy's address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_open_whose_answer_was_lost_is_sent_again_and_adopted() {
    // Proves the retry after an unanswered lease open resends it with the same request_id and uses the lease central committed: the charge succeeds, central holds one lease, nothing is leased twice.
    let world = World::new("100.00", &["check", "hold", "charge"]).await;
    let proxy = losing_proxy(&world.central.base).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let sidecar = ChildSidecar::start_with(
        &proxy,
        (&world.client.0, &world.client.1),
        dir.path(),
        &[std::ffi::OsStr::new("--lease-chunk"), std::ffi::OsStr::new("50.00")],
    );
    ready(&sidecar).await;
    let token = Some(world.token.as_str());
    let body = json!({"amount": "80.00", "description": "a big route"});
    let (status, lost) = sidecar.post("/api/v1/billing/charges", token, Some("big"), body.clone()).await;
    assert_eq!((status, lost["code"].as_str()), (503, Some("central_unavailable")), "{lost}");
    let wallet = world.wallet().await;
    assert_eq!((wallet["available"].as_str(), wallet["leased"].as_str()), (Some("0.00"), Some("100.00")), "{wallet}");
    let (status, charged) = sidecar.post("/api/v1/billing/charges", token, Some("big"), body).await;
    assert_eq!((status, charged["status"].as_str()), (201, Some("accepted")), "the retry uses the lease: {charged}");
    let wallet = world.wallet().await;
    assert_eq!((wallet["available"].as_str(), wallet["leased"].as_str()), (Some("0.00"), Some("100.00")), "{wallet}");
    let (status, small) = sidecar
        .post("/api/v1/billing/charges", token, Some("small"), json!({"amount": "20.00", "description": "x"}))
        .await;
    assert_eq!(status, 201, "the lease's rest pays the next charge: {small}");
    assert!(sidecar.terminate().success());
}
