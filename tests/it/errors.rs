//! Bad requests of every shape get RFC 9457 answers with the documented codes.

use reqwest::Method;
use serde_json::json;

use crate::support::TestCentral;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_wrong_types_and_unknown_routes_are_problems() {
    // Proves malformed JSON, non-objects, unknown fields and wrong content types are 400; oversize is 413; routes 404/405.
    let central = TestCentral::start().await;
    let path = "/api/v1/customers";
    for (content_type, body) in [
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1,2]".to_vec()),
        ("application/json", b"".to_vec()),
        ("text/plain", br#"{"email":"a@x.io","username":"ann","password":"long enough"}"#.to_vec()),
        ("application/json", br#"{"email":"a@x.io","username":"ann","password":"long enough","admin":true}"#.to_vec()),
    ] {
        let answer = central.raw(Method::POST, path, None, content_type, body).await;
        answer.assert_problem(400, "invalid_request");
        assert_eq!(answer.body["status"], 400);
        assert!(
            answer.body["detail"].is_string() && answer.body["title"].is_string() && answer.body["type"].is_string()
        );
    }
    let huge =
        json!({"email": "a@x.io", "username": "ann", "password": "x".repeat(70 * 1024)}).to_string().into_bytes();
    central.raw(Method::POST, path, None, "application/json", huge).await.assert_problem(413, "payload_too_large");
    central.get("/api/v1/nothing-here", None).await.assert_problem(404, "not_found");
    let (_, token) = central.customer("q@x.io").await;
    central.get("/api/v1/me/operations?colour=red", Some(&token)).await.assert_problem(400, "invalid_request");
    let big = vec![b' '; 70 * 1024];
    central
        .raw(Method::POST, "/api/v1/providers/test/callback", None, "application/json", big)
        .await
        .assert_problem(413, "payload_too_large");
    central
        .call(Method::PUT, "/api/v1/customers", None, Some(json!({})), &[])
        .await
        .assert_problem(405, "invalid_request");
    // None of it registered anyone.
    let fine = central.post(path, None, json!({"email": "a@x.io", "username": "ann", "password": "long enough"})).await;
    assert_eq!(fine.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers() {
    // Proves /healthz answers for load balancers and process supervisors.
    let central = TestCentral::start().await;
    let health = central.get("/healthz", None).await;
    assert_eq!((health.status.as_u16(), &health.body), (200, &json!({"status": "ok"})));
}
