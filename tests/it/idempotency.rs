//! The idempotency layer over HTTP (DESIGN §5): replay, reuse with another body, in-flight conflicts.

use serde_json::json;

use crate::support::TestCentral;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_replays_the_first_answer_and_moves_money_once() {
    // Proves the same key and body returns the stored answer with Idempotent-Replayed and credits once.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    let first = central.top_up(&token, "25.00", "retry-me").await;
    let again = central.start_top_up(&token, json!("25.00"), "retry-me").await;
    assert_eq!(again.status, 201);
    assert_eq!(again.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(again.body["id"], first["id"]);
    // Same fields in another order are the same request.
    let reordered = central.raw_with_key(&token, "retry-me", br#"{ "amount" : "25.00" }"#.to_vec()).await;
    assert_eq!(reordered.body["id"], first["id"]);
    assert_eq!(central.wallet(&token).await["available"], "25.00");
    let reused = central.start_top_up(&token, json!("26.00"), "retry-me").await;
    reused.assert_problem(422, "idempotency_key_reused");
    // Keys are scoped per customer: another customer's identical key is a new request.
    let (_, other) = central.customer("bob@x.io").await;
    let theirs = central.top_up(&other, "25.00", "retry-me").await;
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(central.wallet(&token).await["available"], "25.00");
    // Keys survive a restart.
    let mut central = central;
    central.restart().await;
    let after = central.start_top_up(&token, json!("25.00"), "retry-me").await;
    assert_eq!((after.status.as_u16(), &after.body["id"]), (201, &first["id"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_create_one_top_up() {
    // Proves 20 simultaneous requests with one key create exactly one top-up; the others replay it or get 409.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request = central
                .client
                .post(format!("{}/api/v1/me/top-ups", central.base))
                .bearer_auth(&token)
                .header("idempotency-key", "burst")
                .json(&json!({"amount": "3.00"}));
            tokio::spawn(async move {
                let response = request.send().await.expect("request reaches central");
                let status = response.status().as_u16();
                (status, response.json::<serde_json::Value>().await.expect("json"))
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            201 => drop(ids.insert(body["id"].as_str().expect("id").to_owned())),
            409 => assert_eq!(body["code"], "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "one top-up for one key");
    let id = ids.into_iter().next().expect("one id");
    central.wait_top_up(&token, &id).await;
    assert_eq!(central.wallet(&token).await["available"], "3.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_flight_is_refused_with_409() {
    // Proves a second request while the first holds the key answers 409 idempotency_key_in_use with Retry-After.
    let central = TestCentral::start().await;
    let (customer_id, token) = central.customer("ann@x.io").await;
    let state = central.state();
    state.in_flight.lock().expect("lock").insert((format!("customer:{customer_id}"), "busy".to_owned()));
    let refused = central.start_top_up(&token, json!("3.00"), "busy").await;
    refused.assert_problem(409, "idempotency_key_in_use");
    assert!(refused.headers.get("retry-after").is_some());
    state.in_flight.lock().expect("lock").clear();
    let accepted = central.start_top_up(&token, json!("3.00"), "busy").await;
    assert_eq!(accepted.status, 201);
    for bad in ["", &"k".repeat(256)] {
        central.start_top_up(&token, json!("3.00"), bad).await.assert_problem(400, "invalid_request");
    }
}
