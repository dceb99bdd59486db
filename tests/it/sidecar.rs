//! The sidecar as a real child process next to a real central: enrolment, snapshot, feed,
//! local permission checks, revocation through the feed, a restart that reuses its state, direct
//! users forwarded to central, and its OpenAPI document.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::oauth_support::{consent, exchange, partner};
use crate::sidecar_support::{ChildSidecar, metric};
use crate::support::TestCentral;

/// One HTTP/1.1 GET over a unix socket; returns the whole answer as text.
async fn get_over_unix_socket(path: &Path, target: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(path).await.expect("the socket accepts");
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: sidecar\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request written");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer read");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sidecar_checks_tokens_locally_follows_revocations_and_keeps_its_enrolment() {
    // Proves readiness, central-identical answers (200/403/401), refusal within 2 s of a revocation at central, and a restart without re-enrolment or a new snapshot.
    let central = TestCentral::start().await;
    let (client_id, client_secret, _) = partner(&central, "Sidecarco").await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let sidecar = ChildSidecar::start(&central.base, (&client_id, &client_secret), data_dir.path());
    assert_eq!(sidecar.get("/healthz", None).await.0, 200);
    let (ready, body) = sidecar.wait_for("/readyz", None, 200, Duration::from_secs(10)).await;
    assert_eq!(ready, 200, "{body}");
    assert_eq!(sidecar.logged("enrolled with central").len(), 1);

    // A token from the real OAuth flow, for a grant created after the snapshot (it comes by the feed).
    let (_, customer) = central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check", "hold"], "").await;
    let (status, issued) = exchange(&central, (&client_id, &client_secret), &code).await;
    assert_eq!(status, 200, "{issued}");
    let token = issued["access_token"].as_str().expect("access token").to_owned();
    let at_central = central.get("/api/v1/authorize?scope=check", Some(&token)).await;
    assert_eq!(at_central.status, 200, "{}", at_central.body);

    let (status, body) =
        sidecar.wait_for("/api/v1/authorize?scope=check", Some(&token), 200, Duration::from_secs(2)).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["account_id"], at_central.body["account_id"]);
    assert_eq!(answer["scope"], at_central.body["scope"]);
    assert_eq!(answer["exp"], at_central.body["exp"]);

    let (status, headers, body) = sidecar.get("/api/v1/authorize?scope=charge", Some(&token)).await;
    assert_eq!(status, 403, "{body}");
    let problem: Value = serde_json::from_str(&body).expect("problem json");
    assert_eq!(problem["code"], "insufficient_scope");
    let challenge = headers["www-authenticate"].to_str().expect("ascii");
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"charge\""),
        "{challenge}"
    );

    let (status, headers, body) = sidecar.get("/api/v1/authorize?scope=check", Some("not.a.token")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["code"], "invalid_token");
    assert!(headers["www-authenticate"].to_str().expect("ascii").starts_with("Bearer error=\"invalid_token\""));
    let (status, _, body) = sidecar.get("/api/v1/authorize?scope=bogus", Some(&token)).await;
    assert_eq!(status, 422, "{body}");

    // The customer revokes the grant at central; the sidecar refuses the token within 2 s.
    let grant_id = central.get("/api/v1/me/grants", Some(&customer)).await.body["items"][0]["id"]
        .as_str()
        .expect("grant id")
        .to_owned();
    let revoked =
        central.call(Method::DELETE, &format!("/api/v1/me/grants/{grant_id}"), Some(&customer), None, &[]).await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    let started = Instant::now();
    let (status, body) = sidecar.wait_for("/api/v1/authorize", Some(&token), 401, Duration::from_secs(2)).await;
    assert_eq!(status, 401, "still accepted {:?} after the revocation: {body}", started.elapsed());
    assert!(body.contains("invalid_token"), "{body}");

    let (_, _, metrics) = sidecar.get("/metrics", None).await;
    assert!(metric(&metrics, "protus_sidecar_permission_decisions_total{outcome=\"allowed\"}") >= 1, "{metrics}");
    assert!(metric(&metrics, "protus_sidecar_permission_decisions_total{outcome=\"invalid_token\"}") >= 2, "{metrics}");
    assert!(metric(&metrics, "protus_sidecar_token_cache_hits_total") >= 1, "{metrics}");
    let cursor = metric(&metrics, "protus_sidecar_feed_cursor");
    assert!(cursor > 0, "{metrics}");
    assert!(metric(&metrics, "protus_sidecar_sync_lag_ms") >= 0, "{metrics}");
    assert!(sidecar.terminate().success(), "SIGTERM stops the sidecar cleanly");

    // A restart reuses the enrolment and the stored cursor: no enrolment, no snapshot, ready at once.
    let socket = data_dir.path().join("sidecar.sock");
    let extra = [std::ffi::OsStr::new("--unix-socket"), socket.as_os_str()];
    let sidecar = ChildSidecar::start_with(&central.base, (&client_id, &client_secret), data_dir.path(), &extra);
    let loaded = sidecar.logged("sidecar state loaded");
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0]["enrolled"], true, "{loaded:?}");
    assert_eq!(loaded[0]["ready"], true, "{loaded:?}");
    assert!(loaded[0]["cursor"].as_i64().expect("a stored cursor") >= cursor, "{loaded:?}");
    assert_eq!(sidecar.get("/readyz", None).await.0, 200);
    let (status, body) = sidecar.wait_for("/api/v1/authorize", Some(&token), 401, Duration::from_secs(2)).await;
    assert_eq!(status, 401, "the revocation survives a restart: {body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, metrics) = sidecar.get("/metrics", None).await;
    assert_eq!(metric(&metrics, "protus_sidecar_snapshots_applied_total"), 0, "{metrics}");
    assert!(sidecar.logged("enrolled with central").is_empty());

    // The same answers over the unix socket.
    let answer = get_over_unix_socket(&socket, "/api/v1/authorize", &token).await;
    assert!(answer.starts_with("HTTP/1.1 401") && answer.contains("invalid_token"), "{answer}");
    assert!(get_over_unix_socket(&socket, "/readyz", "x").await.starts_with("HTTP/1.1 200"));
    assert!(sidecar.terminate().success());
    assert!(!socket.exists(), "a clean stop removes the socket file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_that_cannot_reach_central_is_alive_but_not_ready() {
    // Proves that without an enrolment and a snapshot /healthz is 200, /readyz 503, checks 503 central_unavailable, and failed syncs are counted.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let central = format!("http://{}", nowhere.local_addr().expect("address"));
    drop(nowhere);
    let data_dir = tempfile::tempdir().expect("temp dir");
    let sidecar = ChildSidecar::start(&central, ("co_nobody", "secret"), data_dir.path());
    assert_eq!(sidecar.get("/healthz", None).await.0, 200);
    assert_eq!(sidecar.get("/readyz", None).await.0, 503);
    let (status, headers, body) = sidecar.get("/api/v1/authorize?scope=check", Some("a.b.c")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["code"], "central_unavailable");
    assert!(headers.contains_key("retry-after"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, _, metrics) = sidecar.get("/metrics", None).await;
        if metric(&metrics, "protus_sidecar_sync_failures_total") > 0 {
            assert_eq!(metric(&metrics, "protus_sidecar_ready"), 0, "{metrics}");
            assert_eq!(metric(&metrics, "protus_sidecar_sync_lag_ms"), -1, "{metrics}");
            break;
        }
        assert!(Instant::now() < deadline, "no failed sync counted: {metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sidecar.terminate().success(), "SIGTERM stops a sidecar that never synced");
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_onboards_a_direct_user_through_the_sidecar_without_a_secret() {
    // Proves direct users forwarded with the sidecar's credentials: 201 with a token the sidecar's own check accepts, the replay header on the same key, central's problems relayed.
    let central = TestCentral::start().await;
    let (client_id, client_secret, company_token) = partner(&central, "Directco").await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let sidecar = ChildSidecar::start(&central.base, (&client_id, &client_secret), data_dir.path());
    let (ready, body) = sidecar.wait_for("/readyz", None, 200, Duration::from_secs(10)).await;
    assert_eq!(ready, 200, "{body}");

    let dana = json!({"email": "Dana@Example.com", "username": "direct_user"});
    let (status, headers, body) = sidecar.direct_user(Some("u1"), &dana).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(header(&headers, "idempotent-replayed"), None);
    let created: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(created["scope"], "check hold charge");
    let token = created["access_token"].as_str().expect("access token");

    // The same key is central's replay, header and all.
    let (status, headers, body) = sidecar.direct_user(Some("u1"), &dana).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(header(&headers, "idempotent-replayed"), Some("true"));
    let replayed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!((&replayed["account_id"], &replayed["grant_id"]), (&created["account_id"], &created["grant_id"]));

    // The token works in the sidecar's own permission check once the grant arrives by the feed.
    let (status, body) =
        sidecar.wait_for("/api/v1/authorize?scope=charge", Some(token), 200, Duration::from_secs(2)).await;
    assert_eq!(status, 200, "{body}");
    let permission: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(permission["account_id"], created["account_id"]);
    assert_eq!(permission["scope"], "check hold charge");
    // Central sees one account of this company, created for the sidecar's company.
    let accounts = central.get("/api/v1/company/accounts", Some(&company_token)).await;
    assert_eq!(accounts.body["items"].as_array().expect("items").len(), 1, "{}", accounts.body);
    assert_eq!(accounts.body["items"][0]["customer_email"], "dana@example.com");

    // Central's refusals come back as central gave them.
    central.customer("ann@x.io").await;
    let (status, headers, body) =
        sidecar.direct_user(Some("k1"), &json!({"email": "ANN@x.io", "username": "ann_here"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(header(&headers, "content-type"), Some("application/problem+json"));
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["code"], "customer_exists");
    let (status, headers, body) = sidecar.direct_user(None, &json!({"email": "n@x.io", "username": "nobody"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(header(&headers, "content-type"), Some("application/problem+json"));
    let (status, _, body) =
        sidecar.direct_user(Some("k2"), &json!({"email": "not-an-email", "username": "nobody"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["code"], "validation_failed");
    assert!(sidecar.terminate().success());
}

/// A sidecar pointed at a port where nothing listens.
fn sidecar_without_central(data_dir: &Path) -> ChildSidecar {
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let central = format!("http://{}", nowhere.local_addr().expect("address"));
    drop(nowhere);
    ChildSidecar::start(&central, ("co_nobody", "secret"), data_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_users_answer_503_central_unavailable_when_central_is_unreachable() {
    // Proves a direct user the sidecar cannot forward is 503 central_unavailable with Retry-After, never stored or guessed.
    let data_dir = tempfile::tempdir().expect("temp dir");
    let sidecar = sidecar_without_central(data_dir.path());
    let (status, headers, body) =
        sidecar.direct_user(Some("u1"), &json!({"email": "dana@example.com", "username": "dana"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(header(&headers, "content-type"), Some("application/problem+json"));
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["code"], "central_unavailable");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert!(sidecar.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_documents_its_endpoints_at_openapi_json() {
    // Proves /openapi.json is an OpenAPI 3.1 document listing the permission check (access token), the billing API, direct users (no secret) and the operation endpoints.
    let data_dir = tempfile::tempdir().expect("temp dir");
    let sidecar = sidecar_without_central(data_dir.path());
    let (status, _, body) = sidecar.get("/openapi.json", None).await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"), "{}", doc["openapi"]);
    let endpoints = [
        ("get", "/api/v1/authorize"),
        ("get", "/api/v1/billing/balance"),
        ("post", "/api/v1/billing/holds"),
        ("get", "/api/v1/billing/holds/{id}"),
        ("post", "/api/v1/billing/holds/{id}/capture"),
        ("post", "/api/v1/billing/holds/{id}/release"),
        ("post", "/api/v1/billing/charges"),
        ("get", "/api/v1/billing/charges/{id}"),
        ("post", "/api/v1/direct-users"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    let documented: usize = paths.values().map(|item| item.as_object().map_or(0, |ops| ops.len())).sum();
    assert_eq!(documented, endpoints.len(), "documented: {:?}", paths.keys().collect::<Vec<_>>());
    for (method, path) in endpoints {
        assert!(
            doc["paths"][path][method]["responses"]["200"].is_object()
                || doc["paths"][path][method]["responses"]["201"].is_object(),
            "{method} {path} has its success answer"
        );
    }
    let scheme = &doc["components"]["securitySchemes"]["access_token"];
    assert_eq!((scheme["type"].as_str(), scheme["scheme"].as_str()), (Some("http"), Some("bearer")), "{scheme}");
    assert_eq!(scheme["bearerFormat"], "JWT");
    let check = &doc["paths"]["/api/v1/authorize"]["get"];
    assert_eq!(check["security"], json!([{"access_token": []}]));
    assert!(check["parameters"].as_array().expect("parameters").iter().any(|p| p["name"] == "scope"));
    let onboard = &doc["paths"]["/api/v1/direct-users"]["post"];
    assert!(onboard.get("security").is_none(), "the partner app needs no secret: {onboard}");
    assert!(onboard["parameters"].as_array().expect("parameters").iter().any(|p| p["name"] == "Idempotency-Key"));
    for status in ["400", "409", "422", "503"] {
        let problem = &onboard["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"];
        assert_eq!(problem, "#/components/schemas/Problem", "{status}: {onboard}");
    }
    assert_eq!(
        onboard["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/DirectUser"
    );
    assert!(sidecar.terminate().success());
}
