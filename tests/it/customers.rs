//! Customers over HTTP: registration rules, sessions, the profile and wallet, accounts, statement.

use reqwest::Method;
use serde_json::json;

use crate::support::TestCentral;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_registers_signs_in_sees_an_empty_wallet_and_signs_out() {
    // Proves the register → sign in → /me → sign out cycle and that a signed-out token stops working.
    let central = TestCentral::start().await;
    let registered = central
        .post(
            "/api/v1/customers",
            None,
            json!({"email": " Ann@Example.COM ", "username": "ann", "password": "correct horse"}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert_eq!(registered.body["email"], "ann@example.com");
    assert!(registered.body["id"].as_str().expect("id").starts_with("cus_"));
    assert!(registered.body.get("password").is_none() && registered.body.get("password_hash").is_none());
    let token = central.sign_in("customer", "ANN@example.com", "correct horse").await;
    let me = central.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "ann");
    assert_eq!(
        me.body["wallet"],
        json!({"currency": "RUB", "available": "0.00", "held": "0.00", "leased": "0.00", "debt": "0.00"})
    );
    let out = central.call(Method::DELETE, "/api/v1/sessions/current", Some(&token), None, &[]).await;
    assert_eq!(out.status, 204);
    central.get("/api/v1/me", Some(&token)).await.assert_problem(401, "unauthorized");
    central
        .call(Method::DELETE, "/api/v1/sessions/current", Some(&token), None, &[])
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_bad_fields_and_duplicate_emails_and_changes_nothing() {
    // Proves 422 with a message per bad field, 409 for a duplicate email in any case, and that nothing was stored.
    let central = TestCentral::start().await;
    let bad = central
        .post("/api/v1/customers", None, json!({"email": "not-an-email", "username": "a b", "password": "short"}))
        .await;
    bad.assert_problem(422, "validation_failed");
    let fields: Vec<&str> =
        bad.body["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("field")).collect();
    assert_eq!(fields, ["email", "username", "password"]);
    assert!(bad.body["errors"][2]["message"].as_str().expect("message").contains("at least 8"));
    // The bad registration stored nothing: the email is still free.
    central
        .post(
            "/api/v1/customers",
            None,
            json!({"email": "not-an-email@x.io", "username": "bob", "password": "long enough"}),
        )
        .await;
    let first = central
        .post("/api/v1/customers", None, json!({"email": "ann@x.io", "username": "ann", "password": "long enough"}))
        .await;
    assert_eq!(first.status, 201);
    central
        .post("/api/v1/customers", None, json!({"email": "ANN@X.IO", "username": "other", "password": "long enough"}))
        .await
        .assert_problem(409, "conflict");
    let missing = central.post("/api/v1/customers", None, json!({"email": "c@x.io", "password": "long enough"})).await;
    missing.assert_problem(422, "validation_failed");
    assert_eq!(missing.body["errors"][0]["field"], "username");
    let wrong_type = central
        .post("/api/v1/customers", None, json!({"email": "c@x.io", "username": 5, "password": "long enough"}))
        .await;
    wrong_type.assert_problem(422, "validation_failed");
    // The first customer's password still works and the duplicate did not replace it.
    central.sign_in("customer", "ann@x.io", "long enough").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refuses_wrong_passwords_unknown_emails_and_the_wrong_kind() {
    // Proves 401 for bad credentials, and that a customer cannot sign in as a company or use company endpoints.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    for (kind, email, password) in [
        ("customer", "ann@x.io", "wrong password"),
        ("customer", "nobody@x.io", "correct horse"),
        ("company", "ann@x.io", "correct horse"),
    ] {
        central
            .post("/api/v1/sessions", None, json!({"kind": kind, "email": email, "password": password}))
            .await
            .assert_problem(401, "unauthorized");
    }
    central
        .post("/api/v1/sessions", None, json!({"kind": "admin", "email": "a@x.io", "password": "x"}))
        .await
        .assert_problem(422, "validation_failed");
    central.get("/api/v1/company", Some(&token)).await.assert_problem(403, "forbidden");
    central.get("/api/v1/me", None).await.assert_problem(401, "unauthorized");
    let bogus = central.get("/api/v1/me", Some("pts_not-a-session")).await;
    bogus.assert_problem(401, "unauthorized");
    assert!(bogus.headers.get("www-authenticate").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_by_the_clock() {
    // Proves a session stops working after its 12 h lifetime on central's clock.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    central.clock.advance_s(11 * 3600);
    assert_eq!(central.get("/api/v1/me", Some(&token)).await.status, 200);
    central.clock.advance_s(3600);
    central.get("/api/v1/me", Some(&token)).await.assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_pages_newest_first_with_balances() {
    // Proves /me/operations lists top-ups newest first with balance_after, paginated by cursor.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    for (i, amount) in ["10.00", "2.50", "7.25"].iter().enumerate() {
        assert_eq!(central.top_up(&token, amount, &format!("k{i}")).await["status"], "succeeded");
    }
    let first = central.get("/api/v1/me/operations?limit=2", Some(&token)).await;
    assert_eq!(first.status, 200);
    let items = first.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!((items[0]["amount"].as_str(), items[0]["balance_after"].as_str()), (Some("7.25"), Some("19.75")));
    assert_eq!((items[1]["amount"].as_str(), items[1]["balance_after"].as_str()), (Some("2.50"), Some("12.50")));
    assert_eq!(items[0]["kind"], "top_up");
    let cursor = first.body["next_cursor"].as_str().expect("a second page exists");
    let second = central.get(&format!("/api/v1/me/operations?limit=2&cursor={cursor}"), Some(&token)).await;
    let items = second.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["balance_after"], "10.00");
    assert!(second.body["next_cursor"].is_null());
    central.get("/api/v1/me/operations?limit=0", Some(&token)).await.assert_problem(422, "validation_failed");
    central.get("/api/v1/me/operations?limit=201", Some(&token)).await.assert_problem(422, "validation_failed");
    central.get("/api/v1/me/operations?cursor=abc", Some(&token)).await.assert_problem(422, "validation_failed");
    let accounts = central.get("/api/v1/me/accounts", Some(&token)).await;
    assert_eq!(accounts.body, json!({"items": [], "next_cursor": null}));
}
