//! Top-ups over HTTP: the test provider's signed callback, replays, forgeries and the 503 without a provider.

use protus::central::providers::test_provider::{SIGNATURE_HEADER, sign};
use protus::storage::central::settings;
use protus::vocab::secret::Secret;
use protus::vocab::time::Clock;
use serde_json::json;

use crate::support::{Answer, TestCentral};

async fn provider_key(central: &TestCentral) -> Secret {
    let key = central
        .store()
        .write(|tx| settings::get_or_create(tx, "provider_key:test", || panic!("central created the key at start")))
        .await
        .expect("read key");
    Secret::new(key)
}

async fn callback(central: &TestCentral, signature: &str, body: &str) -> Answer {
    let response = central
        .client
        .post(format!("{}/api/v1/providers/test/callback", central.base))
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body.to_owned())
        .send()
        .await
        .expect("callback reaches central");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or_default();
    Answer { status, headers, body }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_completes_through_the_signed_callback_and_credits_the_wallet() {
    // Proves the top-up starts pending, the provider's callback completes it, and the wallet and statement show it.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    let started = central.start_top_up(&token, json!("100.5"), "first").await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!((started.body["status"].as_str(), started.body["amount"].as_str()), (Some("pending"), Some("100.50")));
    assert_eq!(started.body["provider"], "test");
    let id = started.body["id"].as_str().expect("id").to_owned();
    assert_eq!(central.wait_top_up(&token, &id).await["status"], "succeeded");
    assert_eq!(central.wallet(&token).await["available"], "100.50");
    let (_, other) = central.customer("bob@x.io").await;
    central.get(&format!("/api/v1/me/top-ups/{id}"), Some(&other)).await.assert_problem(404, "not_found");
    central.get("/api/v1/me/top-ups/top_unknown", Some(&token)).await.assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_mismatched_callbacks_move_no_money() {
    // Proves a bad signature is 401, a replay of a genuine callback credits nothing twice, and a mismatch is 422.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    let done = central.top_up(&token, "10.00", "k").await;
    let id = done["id"].as_str().expect("id");
    let key = provider_key(&central).await;
    let now = central.clock.now().unix_s();
    let body = json!({"top_up_id": id, "amount": "10.00", "status": "succeeded"}).to_string();
    let replay = callback(&central, &sign(&key, now, body.as_bytes()), &body).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.body["status"], "succeeded");
    let forged = callback(&central, &sign(&Secret::new("attacker".into()), now, body.as_bytes()), &body).await;
    forged.assert_problem(401, "unauthorized");
    let stale = callback(&central, &sign(&key, now - 3600, body.as_bytes()), &body).await;
    stale.assert_problem(401, "unauthorized");
    callback(&central, "garbage", &body).await.assert_problem(401, "unauthorized");
    let other_amount = json!({"top_up_id": id, "amount": "1000.00", "status": "succeeded"}).to_string();
    callback(&central, &sign(&key, now, other_amount.as_bytes()), &other_amount)
        .await
        .assert_problem(422, "validation_failed");
    let unknown =
        json!({"top_up_id": "top_aaaaaaaaaaaaaaaaaaaaaaaaaa", "amount": "1.00", "status": "succeeded"}).to_string();
    callback(&central, &sign(&key, now, unknown.as_bytes()), &unknown).await.assert_problem(404, "not_found");
    let failed_late = json!({"top_up_id": id, "amount": "10.00", "status": "failed"}).to_string();
    let late = callback(&central, &sign(&key, now, failed_late.as_bytes()), &failed_late).await;
    assert_eq!(late.body["status"], "succeeded", "a final top-up does not change");
    assert_eq!(central.wallet(&token).await["available"], "10.00");
    let statement = central.get("/api/v1/me/operations", Some(&token)).await;
    assert_eq!(statement.body["items"].as_array().expect("items").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_top_up_credits_nothing() {
    // Proves a provider's `failed` outcome ends the top-up without moving money.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    let key = provider_key(&central).await;
    // Create a top-up whose automatic callback we race with our own `failed` one; whichever
    // lands first decides, and the wallet must agree with the final status.
    let started = central.start_top_up(&token, json!("5.00"), "f").await;
    let id = started.body["id"].as_str().expect("id").to_owned();
    let body = json!({"top_up_id": id, "amount": "5.00", "status": "failed"}).to_string();
    callback(&central, &sign(&key, central.clock.now().unix_s(), body.as_bytes()), &body).await;
    let finished = central.wait_top_up(&token, &id).await;
    let expected = if finished["status"] == "failed" { "0.00" } else { "5.00" };
    assert_eq!(central.wallet(&token).await["available"], expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_ups_need_a_key_a_valid_amount_and_a_provider() {
    // Proves 400 without Idempotency-Key, 422 for bad amounts, and 503 provider_unavailable without a provider.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    central
        .post("/api/v1/me/top-ups", Some(&token), json!({"amount": "1.00"}))
        .await
        .assert_problem(400, "invalid_request");
    for amount in [
        json!("0"),
        json!("-5"),
        json!("0.001"),
        json!(10),
        json!(10.5),
        json!("1e3"),
        json!("1000000001"),
        json!(null),
    ] {
        central.start_top_up(&token, amount, "bad").await.assert_problem(422, "validation_failed");
    }
    let (company, _) = central.company("Messages", "ops@messages.io").await;
    assert!(company["id"].is_string());
    let statement = central.get("/api/v1/me/operations", Some(&token)).await;
    assert_eq!(statement.body["items"], json!([]));

    let without = TestCentral::start_with(|config| config.enable_test_provider = false).await;
    let (_, token) = without.customer("ann@x.io").await;
    let refused = without.start_top_up(&token, json!("1.00"), "k").await;
    refused.assert_problem(503, "provider_unavailable");
    assert!(refused.headers.get("retry-after").is_some());
    let body =
        json!({"top_up_id": "top_aaaaaaaaaaaaaaaaaaaaaaaaaa", "amount": "1.00", "status": "succeeded"}).to_string();
    callback(&without, "t=1,v1=00", &body).await.assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_left_pending_by_a_stop_completes_after_restart() {
    // Proves a top-up whose callback never arrived (central stopped first) is completed by the restarted node.
    use protus::storage::central::records::{TopUpRecord, TopUpStatus};
    use protus::storage::central::top_ups;
    use protus::vocab::ids::{CustomerId, TopUpId};
    use protus::vocab::money::{Amount, Currency};

    let mut central = TestCentral::start().await;
    let (customer_id, token) = central.customer("ann@x.io").await;
    let top_up = TopUpRecord {
        id: TopUpId::generate(),
        customer_id: CustomerId::parse(&customer_id).expect("id"),
        amount: Amount::parse_request("4.00", Currency::parse("RUB").expect("known")).expect("amount"),
        status: TopUpStatus::Pending,
        provider: "test".into(),
        created_at: central.clock.now(),
        completed_at: None,
    };
    let id = top_up.id.to_string();
    central.store().write(move |tx| top_ups::create(tx, &top_up)).await.expect("stored");
    assert_eq!(central.get(&format!("/api/v1/me/top-ups/{id}"), Some(&token)).await.body["status"], "pending");
    central.restart().await;
    assert_eq!(central.wait_top_up(&token, &id).await["status"], "succeeded");
    assert_eq!(central.wallet(&token).await["available"], "4.00");
}
