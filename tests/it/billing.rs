//! Billing at central over HTTP with tokens from the real OAuth flow: balance, holds, captures,
//! releases, charges, scopes, the spending cap, ownership and idempotency.

use reqwest::Method;
use serde_json::{Value, json};

use crate::oauth_support::{consent, exchange, partner};
use crate::support::{Answer, TestCentral};

/// A funded customer connected to a partner: (client id, secret, company session, access token, customer session).
pub async fn connected(
    central: &TestCentral,
    scopes: &[&str],
    cap: &str,
    funds: &str,
) -> (String, String, String, String, String) {
    let (client_id, secret, company_token) = partner(central, "Messages").await;
    let (_, customer) = central.customer("ann@x.io").await;
    if funds != "0" {
        central.top_up(&customer, funds, "fund").await;
    }
    let code = consent(central, &client_id, "ann@x.io", scopes, cap).await;
    let (_, tokens) = exchange(central, (&client_id, &secret), &code).await;
    (client_id, secret, company_token, tokens["access_token"].as_str().expect("token").to_owned(), customer)
}

pub async fn post_keyed(central: &TestCentral, path: &str, token: &str, key: &str, body: Value) -> Answer {
    central.call(Method::POST, path, Some(token), Some(body), &[("idempotency-key", key)]).await
}

async fn post_basic(central: &TestCentral, path: &str, client: (&str, &str), key: &str, body: Value) -> Answer {
    let response = central
        .client
        .post(format!("{}{path}", central.base))
        .basic_auth(client.0, Some(client.1))
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    Answer { status, headers, body: response.json().await.unwrap_or_default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_checks_holds_captures_and_charges_with_the_customers_token() {
    // Proves the billing round trip and that wallet, statement, paid totals, invoices and events agree.
    let central = TestCentral::start().await;
    let (client_id, secret, company, token, customer) =
        connected(&central, &["check", "hold", "charge"], "", "100.00").await;
    let balance = central.get("/api/v1/billing/balance", Some(&token)).await;
    assert_eq!(
        (balance.status.as_u16(), balance.body["available"].as_str(), balance.body["currency"].as_str()),
        (200, Some("100.00"), Some("RUB"))
    );
    let hold =
        post_keyed(&central, "/api/v1/billing/holds", &token, "h1", json!({"amount": "30", "description": "campaign"}))
            .await;
    assert_eq!(hold.status, 201, "{}", hold.body);
    assert_eq!(
        (hold.body["status"].as_str(), hold.body["capturable"].as_bool(), hold.body["amount"].as_str()),
        (Some("held"), Some(true), Some("30.00"))
    );
    assert_eq!(central.wallet(&customer).await["held"], "30.00");
    let hold_id = hold.body["id"].as_str().expect("id");
    let service = central
        .post("/api/v1/company/services", Some(&company), json!({"name": "Launch a campaign", "price": "10.00"}))
        .await;
    let captured = post_basic(
        &central,
        &format!("/api/v1/billing/holds/{hold_id}/capture"),
        (&client_id, &secret),
        "c1",
        json!({"amount": "12.5", "service_id": service.body["id"], "payload": {"campaign": 7}}),
    )
    .await;
    assert_eq!(captured.status, 201, "{}", captured.body);
    assert_eq!(
        (captured.body["amount"].as_str(), captured.body["service_name"].as_str(), captured.body["status"].as_str()),
        (Some("12.50"), Some("Launch a campaign"), Some("settled"))
    );
    let wallet = central.wallet(&customer).await;
    assert_eq!((wallet["available"].as_str(), wallet["held"].as_str()), (Some("87.50"), Some("0.00")));
    let by_service =
        post_keyed(&central, "/api/v1/billing/charges", &token, "ch1", json!({"service_id": service.body["id"]})).await;
    assert_eq!((by_service.status.as_u16(), by_service.body["amount"].as_str()), (201, Some("10.00")));
    let by_amount = post_keyed(
        &central,
        "/api/v1/billing/charges",
        &token,
        "ch2",
        json!({"amount": "0.5", "description": "one SMS"}),
    )
    .await;
    assert_eq!((by_amount.status.as_u16(), by_amount.body["description"].as_str()), (201, Some("one SMS")));
    assert_ne!(by_amount.body["invoice_number"], by_service.body["invoice_number"]);
    assert_eq!(central.wallet(&customer).await["available"], "77.00");
    let statement = central.get("/api/v1/me/operations", Some(&customer)).await;
    assert_eq!(statement.body["items"][0]["balance_after"], "77.00");
    assert_eq!(statement.body["items"][0]["invoice_number"], by_amount.body["invoice_number"]);
    let accounts = central.get("/api/v1/company/accounts", Some(&company)).await;
    assert_eq!(accounts.body["items"][0]["paid_total"], "23.00");
    let invoices = central.get("/api/v1/company/charges", Some(&company)).await;
    assert_eq!(invoices.body["items"].as_array().expect("items").len(), 3);
    let read = central
        .get(&format!("/api/v1/billing/charges/{}", by_service.body["id"].as_str().expect("id")), Some(&token))
        .await;
    assert_eq!(read.body["id"], by_service.body["id"]);
    let events = central.store().read(protus::storage::central::changes::queued_events).await.expect("outbox");
    assert_eq!(events.iter().filter(|e| e.kind == "charge.settled").count(), 3);
    let verify = central.store().read(protus::storage::central::verify::verify).await.expect("verify");
    assert!(verify.violations.is_empty(), "{:?}", verify.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_funds_caps_and_bad_input_are_refused_without_moving_money() {
    // Proves 403 for missing scopes, 402 for funds and the cap, 4xx for bad input, and that none of it moves money.
    let central = TestCentral::start().await;
    let (client_id, secret, company, token, customer) = connected(&central, &["check", "hold"], "25", "20.00").await;
    let refused =
        post_keyed(&central, "/api/v1/billing/charges", &token, "k1", json!({"amount": "1", "description": "x"})).await;
    refused.assert_problem(403, "insufficient_scope");
    assert_eq!(refused.headers["www-authenticate"], "Bearer error=\"insufficient_scope\", scope=\"charge\"");
    post_keyed(&central, "/api/v1/billing/holds", &token, "k2", json!({"amount": "20.01"}))
        .await
        .assert_problem(402, "insufficient_funds");
    let hold = post_keyed(&central, "/api/v1/billing/holds", &token, "k3", json!({"amount": "15"})).await;
    assert_eq!((hold.status.as_u16(), hold.body["capturable"].as_bool()), (201, Some(false)));
    central.top_up(&customer, "100.00", "more").await;
    // 15 held + 11 > cap 25.
    post_keyed(&central, "/api/v1/billing/holds", &token, "k4", json!({"amount": "11"}))
        .await
        .assert_problem(402, "spending_cap_exceeded");
    assert_eq!(post_keyed(&central, "/api/v1/billing/holds", &token, "k5", json!({"amount": "10"})).await.status, 201);
    let hold_id = hold.body["id"].as_str().expect("id");
    post_basic(&central, &format!("/api/v1/billing/holds/{hold_id}/capture"), (&client_id, &secret), "k6", json!({}))
        .await
        .assert_problem(409, "conflict");
    for (body, status, code) in [
        (json!({"amount": 5}), 422, "validation_failed"),
        (json!({"amount": "5.001"}), 422, "validation_failed"),
        (json!({"amount": "-5"}), 422, "validation_failed"),
        (json!({"amount": "5", "expires_in_s": 0}), 422, "validation_failed"),
        (json!({"amount": "5", "expires_in_s": 604801}), 422, "validation_failed"),
        (json!({"amount": "5", "colour": "red"}), 400, "invalid_request"),
    ] {
        post_keyed(&central, "/api/v1/billing/holds", &token, &format!("bad-{body}"), body)
            .await
            .assert_problem(status, code);
    }
    central
        .call(Method::POST, "/api/v1/billing/holds", Some(&token), Some(json!({"amount": "1"})), &[])
        .await
        .assert_problem(400, "invalid_request");
    let before = central.wallet(&customer).await;
    assert_eq!((before["available"].as_str(), before["held"].as_str()), (Some("95.00"), Some("25.00")));
    central.get("/api/v1/billing/balance", None).await.assert_problem(401, "unauthorized");
    // The refused capture left the company's invoices empty.
    assert_eq!(central.get("/api/v1/company/charges", Some(&company)).await.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_are_released_captured_once_and_expire_on_the_clock() {
    // Proves one capture per hold, no release after capture, the sweeper's expiry with hold.expired, and 409 after expiry.
    let central = TestCentral::start().await;
    let (client_id, secret, _, token, customer) = connected(&central, &["check", "hold", "charge"], "", "50.00").await;
    let a = post_keyed(&central, "/api/v1/billing/holds", &token, "a", json!({"amount": "10"})).await;
    let a_id = a.body["id"].as_str().expect("id");
    let capture = format!("/api/v1/billing/holds/{a_id}/capture");
    post_keyed(&central, &capture, &token, "cap-big", json!({"amount": "10.01"}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(post_keyed(&central, &capture, &token, "cap", json!({})).await.status, 201);
    post_keyed(&central, &capture, &token, "cap-again", json!({})).await.assert_problem(409, "conflict");
    post_keyed(&central, &format!("/api/v1/billing/holds/{a_id}/release"), &token, "rel", json!({}))
        .await
        .assert_problem(409, "conflict");
    let b = post_keyed(&central, "/api/v1/billing/holds", &token, "b", json!({"amount": "5"})).await;
    let released = post_basic(
        &central,
        &format!("/api/v1/billing/holds/{}/release", b.body["id"].as_str().expect("id")),
        (&client_id, &secret),
        "rel-b",
        json!({}),
    )
    .await;
    assert_eq!((released.status.as_u16(), released.body["status"].as_str()), (200, Some("released")));
    let c =
        post_keyed(&central, "/api/v1/billing/holds", &token, "c", json!({"amount": "7", "expires_in_s": 60})).await;
    let c_id = c.body["id"].as_str().expect("id").to_owned();
    assert_eq!(central.wallet(&customer).await["held"], "7.00");
    central.clock.advance_s(61);
    let mut status = String::new();
    for _ in 0..100 {
        status = central.get(&format!("/api/v1/billing/holds/{c_id}"), Some(&token)).await.body["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "expired");
    let wallet = central.wallet(&customer).await;
    assert_eq!((wallet["available"].as_str(), wallet["held"].as_str()), (Some("40.00"), Some("0.00")));
    post_keyed(&central, &format!("/api/v1/billing/holds/{c_id}/capture"), &token, "late", json!({}))
        .await
        .assert_problem(409, "conflict");
    let events = central.store().read(protus::storage::central::changes::queued_events).await.expect("outbox");
    assert!(events.iter().any(|e| e.kind == "hold.expired" && e.data["id"] == c_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_expired_hold_is_released_at_one_sweep_however_many() {
    // Proves a sweep goes on past one batch (256 holds): with sweeps an hour apart, the 300
    // holds expired at a restart all go back to the wallet at its first sweep. Before, 256 went
    // per sweep and the rest stayed held until the next.
    let mut central = TestCentral::start().await;
    let (_, _, _, token, customer) = connected(&central, &["hold"], "", "300.00").await;
    for n in 0..300 {
        let body = json!({"amount": "1", "expires_in_s": 60});
        let hold = post_keyed(&central, "/api/v1/billing/holds", &token, &format!("h{n}"), body).await;
        assert_eq!(hold.status, 201, "{}", hold.body);
    }
    assert_eq!(central.wallet(&customer).await["held"], "300.00");
    central.stop().await;
    central.clock.advance_s(61);
    central.restart_with(|config| config.hold_sweep_interval_ms = 3_600_000).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let wallet = loop {
        let wallet = central.wallet(&customer).await;
        if wallet["held"] == "0.00" {
            break wallet;
        }
        assert!(std::time::Instant::now() < deadline, "still held after the first sweep: {wallet}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(wallet["available"], "300.00");
    let events = central.store().read(protus::storage::central::changes::queued_events).await.expect("outbox");
    assert_eq!(events.iter().filter(|e| e.kind == "hold.expired").count(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_see_only_their_own_objects_and_services_must_be_active() {
    // Proves another company gets 404 for holds and charges, and inactive or foreign services cannot be charged.
    let central = TestCentral::start().await;
    let (_, _, company, token, _) = connected(&central, &["check", "hold", "charge"], "", "50.00").await;
    let (other_id, other_secret, other_company) = partner(&central, "Other").await;
    let hold = post_keyed(&central, "/api/v1/billing/holds", &token, "h", json!({"amount": "5"})).await;
    let hold_id = hold.body["id"].as_str().expect("id");
    let foreign = central
        .client
        .get(format!("{}/api/v1/billing/holds/{hold_id}", central.base))
        .basic_auth(&other_id, Some(&other_secret))
        .send()
        .await
        .expect("request");
    assert_eq!(foreign.status(), 404);
    post_basic(
        &central,
        &format!("/api/v1/billing/holds/{hold_id}/release"),
        (&other_id, &other_secret),
        "x",
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    let theirs = central
        .post("/api/v1/company/services", Some(&other_company), json!({"name": "Theirs", "price": "1.00"}))
        .await;
    post_keyed(&central, "/api/v1/billing/charges", &token, "s1", json!({"service_id": theirs.body["id"]}))
        .await
        .assert_problem(404, "not_found");
    let mine = central.post("/api/v1/company/services", Some(&company), json!({"name": "Mine", "price": "1.00"})).await;
    let path = format!("/api/v1/company/services/{}", mine.body["id"].as_str().expect("id"));
    central.patch(&path, Some(&company), json!({"active": false})).await;
    post_keyed(&central, "/api/v1/billing/charges", &token, "s2", json!({"service_id": mine.body["id"]}))
        .await
        .assert_problem(409, "conflict");
    post_keyed(
        &central,
        "/api/v1/billing/charges",
        &token,
        "s3",
        json!({"service_id": mine.body["id"], "amount": "1"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    post_keyed(&central, "/api/v1/billing/charges", &token, "s4", json!({"amount": "1"}))
        .await
        .assert_problem(422, "validation_failed");
    let big = json!({"amount": "1", "description": "x", "payload": {"blob": "y".repeat(5000)}});
    post_keyed(&central, "/api/v1/billing/charges", &token, "s5", big).await.assert_problem(413, "payload_too_large");
    post_keyed(
        &central,
        "/api/v1/billing/charges",
        &token,
        "s6",
        json!({"amount": "1", "description": "x", "payload": [1]}),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_charges_are_exact_and_one_key_moves_money_once() {
    // Proves 200 parallel charges against funds for 50 apply exactly 50, and 50 parallel requests with one key charge once.
    let central = TestCentral::start().await;
    let (_, _, _, token, customer) = connected(&central, &["check", "hold", "charge"], "", "50.00").await;
    let spawn = |key: String| {
        let request = central
            .client
            .post(format!("{}/api/v1/billing/charges", central.base))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({"amount": "1", "description": "sms"}));
        tokio::spawn(async move { request.send().await.expect("request").status().as_u16() })
    };
    let tasks: Vec<_> = (0..200).map(|i| spawn(format!("p{i}"))).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 50);
    assert_eq!(statuses.iter().filter(|s| **s == 402).count(), 150);
    assert_eq!(central.wallet(&customer).await["available"], "0.00");
    central.top_up(&customer, "10.00", "again").await;
    let tasks: Vec<_> = (0..50).map(|_| spawn("same".to_owned())).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert_eq!(central.wallet(&customer).await["available"], "9.00");
    let verify = central.store().read(protus::storage::central::verify::verify).await.expect("verify");
    assert!(verify.violations.is_empty(), "{:?}", verify.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_stops_new_holds_but_earlier_holds_stay_capturable() {
    // Proves DESIGN §5.1: revocation stops new holds and charges at once; a hold made before stays capturable by the company.
    let central = TestCentral::start().await;
    let (client_id, secret, _, token, customer) = connected(&central, &["check", "hold", "charge"], "", "50.00").await;
    let hold = post_keyed(&central, "/api/v1/billing/holds", &token, "before", json!({"amount": "8"})).await;
    let hold_id = hold.body["id"].as_str().expect("id");
    let grant_id = central.get("/api/v1/me/grants", Some(&customer)).await.body["items"][0]["id"]
        .as_str()
        .expect("grant")
        .to_owned();
    let revoked =
        central.call(Method::DELETE, &format!("/api/v1/me/grants/{grant_id}"), Some(&customer), None, &[]).await;
    assert_eq!(revoked.status, 200);
    post_keyed(&central, "/api/v1/billing/holds", &token, "after", json!({"amount": "1"}))
        .await
        .assert_problem(401, "invalid_token");
    post_keyed(&central, "/api/v1/billing/charges", &token, "after-c", json!({"amount": "1", "description": "x"}))
        .await
        .assert_problem(401, "invalid_token");
    let captured = post_basic(
        &central,
        &format!("/api/v1/billing/holds/{hold_id}/capture"),
        (&client_id, &secret),
        "cap",
        json!({"amount": "8"}),
    )
    .await;
    assert_eq!(captured.status, 201, "{}", captured.body);
    assert_eq!(central.wallet(&customer).await["available"], "42.00");
    let events = central.store().read(protus::storage::central::changes::queued_events).await.expect("outbox");
    assert!(events.iter().any(|e| e.kind == "grant.revoked"));
}
