//! Webhooks over real HTTP: a receiver started by the test gets each event signed (Standard
//! Webhooks), retried on the DESIGN §6 schedule of the manual clock, listed per company with every
//! attempt, retried by hand, kept across a restart, never sent without a URL or to a loopback
//! address without `allow_private_webhooks`, and never held up by another company's receiver.

pub(crate) mod receiver;

use std::time::{Duration, Instant};

use protus::storage::central::changes::queued_events;
use protus::storage::central::companies::{self, ProfileChange};
use protus::storage::central::deliveries::{has_new_events, list_for_company};
use protus::vocab::ids::CompanyId;
use protus::vocab::names::HttpUrl;
use protus::vocab::time::{Clock, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestCentral;
use receiver::{Receiver, Reply};

/// A registered, signed-in company.
struct Partner {
    id: String,
    email: String,
    client_secret: String,
    webhook_secret: String,
    token: String,
}

async fn partner(central: &TestCentral, name: &str) -> Partner {
    let email = format!("ops@{}.io", name.to_lowercase());
    let (registered, token) = central.company(name, &email).await;
    let text = |field: &str| registered[field].as_str().expect(field).to_owned();
    Partner {
        id: text("id"),
        email,
        client_secret: text("client_secret"),
        webhook_secret: text("webhook_secret"),
        token,
    }
}

async fn set_url(central: &TestCentral, partner: &Partner, url: Option<&str>) {
    let updated = central.patch("/api/v1/company", Some(&partner.token), json!({"webhook_url": url})).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
}

/// Onboards a direct user, which queues `account.created` and `grant.created` like real code does.
async fn onboard(central: &TestCentral, partner: &Partner, email: &str) {
    let response = central
        .client
        .post(format!("{}/api/v1/direct-users", central.base))
        .basic_auth(&partner.id, Some(&partner.client_secret))
        .header("idempotency-key", email)
        .json(&json!({"email": email, "username": "direct_user"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
}

async fn log(central: &TestCentral, partner: &Partner) -> Vec<Value> {
    let answer = central.get("/api/v1/company/webhooks/deliveries", Some(&partner.token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["items"].as_array().expect("items").clone()
}

/// Polls the delivery log until `done` holds (10 s at most).
async fn log_until(
    central: &TestCentral,
    partner: &Partner,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let items = log(central, partner).await;
        if done(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "waited in vain for {what}: {items:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the store holds `n` attempts for each of the company's two deliveries (read
/// directly: the clock may have outlived every session).
async fn wait_recorded(central: &TestCentral, partner: &Partner, n: usize) {
    let company = CompanyId::parse(&partner.id).expect("id");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let company = company.clone();
        let page = central.store().read(move |r| list_for_company(r, &company, None, 10)).await.expect("read");
        if page.items.len() == 2 && page.items.iter().all(|d| d.attempts.len() == n) {
            return;
        }
        assert!(Instant::now() < deadline, "waited in vain for {n} attempts each: {:?}", page.items);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A partner whose receiver answers 500, with `users` direct users onboarded: two deliveries
/// each (`account.created`, `grant.created`), every one failed once and due again in 5 s.
async fn failing_partner(central: &TestCentral, name: &str, users: usize) -> (Receiver, Partner) {
    let receiver = Receiver::start(|_, _| Reply::Status(500)).await;
    let hooks = partner(central, name).await;
    set_url(central, &hooks, Some(&receiver.url)).await;
    for n in 0..users {
        onboard(central, &hooks, &format!("user{n}@example.com")).await;
    }
    log_until(central, &hooks, "first attempts", |items| all_have_attempts(items, 2 * users, 1)).await;
    (receiver, hooks)
}

fn codes(delivery: &Value) -> Vec<Option<u64>> {
    delivery["attempts"].as_array().expect("attempts").iter().map(|a| a["status_code"].as_u64()).collect()
}

fn all_have_attempts(items: &[Value], count: usize, n: usize) -> bool {
    items.len() == count && items.iter().all(|d| d["attempts"].as_array().is_some_and(|a| a.len() == n))
}

fn at(seconds_after: i64, start: Timestamp) -> String {
    start.plus_s(seconds_after).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_retried_on_schedule_until_the_receiver_accepts() {
    // Proves body, headers and signature of a delivery, retries at +5 s and +5 min on the manual clock only, and the log of every attempt.
    let central = TestCentral::start().await;
    let receiver = Receiver::start(|_, earlier| Reply::Status(if earlier < 2 { 500 } else { 204 })).await;
    let hooks = partner(&central, "Hooks").await;
    set_url(&central, &hooks, Some(&receiver.url)).await;
    let start = central.clock.now();
    onboard(&central, &hooks, "dana@example.com").await;
    let items = log_until(&central, &hooks, "first attempts", |items| all_have_attempts(items, 2, 1)).await;
    for delivery in &items {
        assert_eq!((delivery["status"].as_str(), codes(delivery)), (Some("failed"), vec![Some(500)]));
        assert_eq!(delivery["attempts"][0]["at"], at(0, start));
        assert_eq!(delivery["next_attempt_at"], at(5, start));
    }
    // Real time passing does not retry: only the clock does.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), 2);
    central.clock.advance_s(5);
    log_until(&central, &hooks, "second attempts", |items| all_have_attempts(items, 2, 2)).await;
    central.clock.advance_s(299);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), 4, "the third attempt waits the full 5 minutes");
    central.clock.advance_s(1);
    let done = log_until(&central, &hooks, "success", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;

    let events = central.store().read(queued_events).await.expect("outbox");
    assert_eq!(events.len(), 2);
    // Newest first: grant.created was queued after account.created.
    let types: Vec<&str> = done.iter().map(|d| d["event_type"].as_str().expect("type")).collect();
    assert_eq!(types, ["grant.created", "account.created"]);
    for delivery in &done {
        assert_eq!(codes(delivery), [Some(500), Some(500), Some(204)]);
        assert_eq!(delivery["next_attempt_at"], Value::Null);
        assert!(delivery["id"].as_str().expect("id").starts_with("dlv_"));
        let attempt_times: Vec<&str> =
            delivery["attempts"].as_array().expect("attempts").iter().map(|a| a["at"].as_str().expect("at")).collect();
        assert_eq!(attempt_times, [at(0, start), at(5, start), at(305, start)]);
    }
    let requests = receiver.requests();
    assert_eq!(requests.len(), 6);
    for event in &events {
        let sent: Vec<_> = requests.iter().filter(|r| r.id() == event.id.as_str()).collect();
        assert_eq!(sent.len(), 3, "each attempt carries the event id as webhook-id");
        let expected = json!({"type": event.kind, "timestamp": event.created_at.to_rfc3339(), "data": event.data});
        for (request, after) in sent.iter().zip([0, 5, 305]) {
            assert_eq!(request.json(), expected);
            assert!(request.body.starts_with(br#"{"type":""#), "fields in the documented order");
            assert_eq!(request.body, sent[0].body, "the same bytes on every attempt");
            assert_eq!(request.header("content-type"), "application/json");
            assert_eq!(request.header("webhook-timestamp"), start.plus_s(after).unix_s().to_string());
            assert!(request.header("webhook-signature").starts_with("v1,"));
            assert_eq!(request.header("webhook-signature").split(' ').count(), 1);
            assert_eq!(request.verify(&hooks.webhook_secret), Ok(()));
            assert!(request.verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        }
    }
    write_sample(&requests[0], &hooks.webhook_secret);
}

/// With `PROTUS_WEBHOOK_SAMPLE=<path>`, saves one received request for an outside verifier
/// (`.ci/run` checks it with the `standardwebhooks` Python package).
fn write_sample(request: &receiver::Received, secret: &str) {
    let Some(path) = std::env::var_os("PROTUS_WEBHOOK_SAMPLE") else { return };
    let headers: serde_json::Map<String, Value> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .iter()
        .map(|name| ((*name).to_owned(), Value::from(request.header(name))))
        .collect();
    let body = String::from_utf8(request.body.to_vec()).expect("utf-8 body");
    let sample = json!({"secret": secret, "headers": headers, "body": body});
    std::fs::write(path, sample.to_string()).expect("sample written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_exhausted_after_the_schedule_and_can_be_retried_by_hand() {
    // Proves eight attempts at the documented delays, then none; manual retry of an exhausted delivery; 404 and 409 on retry.
    let central = TestCentral::start().await;
    let receiver = Receiver::start(|_, _| Reply::Status(503)).await;
    let mut hooks = partner(&central, "Hooks").await;
    set_url(&central, &hooks, Some(&receiver.url)).await;
    onboard(&central, &hooks, "erin@example.com").await;
    let start = central.clock.now();
    let items = log_until(&central, &hooks, "first attempts", |items| all_have_attempts(items, 2, 1)).await;
    assert!(items.iter().all(|d| d["status"] == "failed" && d["next_attempt_at"] == at(5, start)));
    let mut elapsed = 0;
    let mut times = vec![at(0, start)];
    for (made, delay) in [5, 300, 1800, 7200, 18000, 36000, 36000].into_iter().enumerate() {
        wait_recorded(&central, &hooks, made + 1).await;
        assert_eq!(receiver.count(), 2 * (made + 1), "no attempt came early");
        central.clock.advance_s(delay);
        elapsed += delay;
        times.push(at(elapsed, start));
    }
    wait_recorded(&central, &hooks, 8).await;
    // Sessions last 12 h of the clock: sign in again.
    hooks.token = central.sign_in("company", &hooks.email, "company pass").await;
    let items =
        log_until(&central, &hooks, "exhaustion", |items| items.iter().all(|d| d["status"] == "exhausted")).await;
    for delivery in &items {
        assert_eq!((delivery["next_attempt_at"].clone(), codes(delivery)), (Value::Null, vec![Some(503); 8]));
        let attempt_times: Vec<&str> =
            delivery["attempts"].as_array().expect("attempts").iter().map(|a| a["at"].as_str().expect("at")).collect();
        assert_eq!(attempt_times, times);
    }
    central.clock.advance_s(7 * 24 * 3600);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), 16, "no attempt after the schedule ends");
    hooks.token = central.sign_in("company", &hooks.email, "company pass").await;

    receiver.set_script(|_, _| Reply::Status(200));
    let id = items[0]["id"].as_str().expect("id").to_owned();
    let retry = format!("/api/v1/company/webhooks/deliveries/{id}/retry");
    let retried = central.call(Method::POST, &retry, Some(&hooks.token), None, &[]).await;
    assert_eq!((retried.status.as_u16(), retried.body["status"].as_str()), (202, Some("pending")), "{}", retried.body);
    let items = log_until(&central, &hooks, "the manual attempt", |items| items[0]["status"] == "succeeded").await;
    assert_eq!(codes(&items[0]).last(), Some(&Some(200)));
    assert_eq!((items[1]["status"].as_str(), codes(&items[1]).len()), (Some("exhausted"), 8));

    let other = partner(&central, "Other").await;
    set_url(&central, &other, Some(&receiver.url)).await;
    central.call(Method::POST, &retry, Some(&other.token), None, &[]).await.assert_problem(404, "not_found");
    let unknown = "/api/v1/company/webhooks/deliveries/dlv_nope/retry";
    central.call(Method::POST, unknown, Some(&hooks.token), None, &[]).await.assert_problem(404, "not_found");
    central.call(Method::POST, &retry, None, None, &[]).await.assert_problem(401, "unauthorized");
    set_url(&central, &hooks, None).await;
    central.call(Method::POST, &retry, Some(&hooks.token), None, &[]).await.assert_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_is_retried_and_holds_up_no_other_company() {
    // Proves the attempt timeout, the retry after it, and that another company's deliveries and the API go on meanwhile.
    let central = TestCentral::start_with(|config| config.webhook_timeout_ms = 3000).await;
    let slow = Receiver::start(|_, earlier| if earlier == 0 { Reply::Hang } else { Reply::Status(204) }).await;
    let fast = Receiver::start(|_, _| Reply::Status(204)).await;
    let (hanging, quick) = (partner(&central, "Hanging").await, partner(&central, "Quick").await);
    set_url(&central, &hanging, Some(&slow.url)).await;
    set_url(&central, &quick, Some(&fast.url)).await;
    onboard(&central, &hanging, "hang@example.com").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow.count() < 2 {
        assert!(Instant::now() < deadline, "the hanging receiver got its requests");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    onboard(&central, &quick, "quick@example.com").await;
    log_until(&central, &quick, "the other company's deliveries", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let waiting = log(&central, &hanging).await;
    assert!(
        waiting.iter().all(|d| d["attempts"].as_array().is_some_and(Vec::is_empty)),
        "the hanging attempts are still running: {waiting:#?}"
    );
    let timed_out = log_until(&central, &hanging, "the timeout", |items| all_have_attempts(items, 2, 1)).await;
    for delivery in &timed_out {
        let attempt = &delivery["attempts"][0];
        assert_eq!((delivery["status"].as_str(), attempt["status_code"].as_u64()), (Some("failed"), None));
        assert_eq!(attempt["error"], "timed out after 3000 ms");
        assert!(attempt["duration_ms"].as_u64().expect("ms") >= 2900, "{attempt}");
    }
    central.clock.advance_s(5);
    let items =
        log_until(&central, &hanging, "the retry", |items| items.iter().all(|d| d["status"] == "succeeded")).await;
    assert!(items.iter().all(|d| codes(d) == [None, Some(204)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_a_restart() {
    // Proves a failed delivery keeps its log and its schedule across a restart and completes after it, without duplicates.
    let mut central = TestCentral::start().await;
    let (receiver, hooks) = failing_partner(&central, "Hooks", 1).await;
    central.restart().await;
    receiver.set_script(|_, _| Reply::Status(202));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), 2, "nothing is due before +5 s, restart or not");
    central.clock.advance_s(5);
    let items = log_until(&central, &hooks, "success after restart", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert!(items.iter().all(|d| codes(d) == [Some(500), Some(202)]));
    assert_eq!(receiver.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_goes_out_as_fast_as_the_receiver_answers_not_a_few_per_poll() {
    // Proves an ended attempt starts the company's next due delivery at once: with the poll an
    // hour apart, all twelve retries due at the restart arrive after its first poll, though a
    // company runs four at a time. Before, four went per poll (20 a second at most).
    let mut central = TestCentral::start().await;
    let (receiver, hooks) = failing_partner(&central, "Backlog", 6).await;
    central.stop().await;
    central.clock.advance_s(5);
    receiver.set_script(|_, _| Reply::Status(204));
    central.restart_with(|config| config.webhook_poll_ms = 3_600_000).await;
    let items = log_until(&central, &hooks, "twelve retries", |items| {
        items.len() == 12 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert!(items.iter().all(|d| codes(d) == [Some(500), Some(204)]), "{items:?}");
    assert_eq!(receiver.count(), 24, "each event twice: the failure and the retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_without_a_webhook_url_accumulates_no_deliveries() {
    // Proves events before a URL is set are never delivered, and removing the URL ends a delivery's retries.
    let central = TestCentral::start().await;
    let receiver = Receiver::start(|_, earlier| Reply::Status(if earlier == 0 { 500 } else { 204 })).await;
    let hooks = partner(&central, "Hooks").await;
    onboard(&central, &hooks, "early@example.com").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while central.store().read(has_new_events).await.expect("read") {
        assert!(Instant::now() < deadline, "the dispatcher took the events in");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(log(&central, &hooks).await.is_empty());

    set_url(&central, &hooks, Some(&receiver.url)).await;
    onboard(&central, &hooks, "later@example.com").await;
    let items = log_until(&central, &hooks, "first attempts", |items| all_have_attempts(items, 2, 1)).await;
    let events = central.store().read(queued_events).await.expect("outbox");
    let later: Vec<&str> = events[2..].iter().rev().map(|e| e.id.as_str()).collect();
    let delivered: Vec<&str> = items.iter().map(|d| d["event_id"].as_str().expect("event id")).collect();
    assert_eq!(delivered, later, "only the events after the URL was set");

    set_url(&central, &hooks, None).await;
    central.clock.advance_s(5);
    let items = log_until(&central, &hooks, "the end of retries", |items| {
        all_have_attempts(items, 2, 2) && items.iter().all(|d| d["status"] == "exhausted")
    })
    .await;
    assert!(items.iter().all(|d| d["attempts"][1]["error"] == "the company has no webhook URL"));
    assert!(items.iter().all(|d| d["next_attempt_at"].is_null()));
    central.clock.advance_s(24 * 3600);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotation_signs_with_both_secrets_until_the_overlap_ends() {
    // Proves two signatures during the 24 h overlap, each verifying with its own secret, and one after it.
    let central = TestCentral::start().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204)).await;
    let hooks = partner(&central, "Hooks").await;
    set_url(&central, &hooks, Some(&receiver.url)).await;
    let rotated =
        central.post("/api/v1/company/secrets/rotate", Some(&hooks.token), json!({"kind": "webhook_secret"})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
    onboard(&central, &hooks, "rot@example.com").await;
    log_until(&central, &hooks, "deliveries", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    for request in receiver.requests() {
        let signatures: Vec<&str> = request.header("webhook-signature").split(' ').collect();
        assert_eq!(signatures.len(), 2);
        assert_eq!(request.verify(&new_secret), Ok(()));
        assert_eq!(request.verify(&hooks.webhook_secret), Ok(()));
        assert_eq!(request.verify_with(&new_secret, signatures[0]), Ok(()), "the current secret signs first");
        assert_eq!(request.verify_with(&hooks.webhook_secret, signatures[1]), Ok(()));
    }

    central.clock.advance_s(24 * 3600 + 1);
    onboard(&central, &hooks, "after@example.com").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.count() < 4 {
        assert!(Instant::now() < deadline, "deliveries after the overlap");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for request in &receiver.requests()[2..] {
        assert_eq!(request.header("webhook-signature").split(' ').count(), 1);
        assert_eq!(request.verify(&new_secret), Ok(()));
        assert!(request.verify(&hooks.webhook_secret).is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_target_is_refused_without_allow_private_webhooks() {
    // Proves the SSRF guard: attempts to a loopback URL fail with the reason and nothing reaches the receiver.
    let central = TestCentral::start_with(|config| config.allow_private_webhooks = false).await;
    let receiver = Receiver::start(|_, _| Reply::Status(204)).await;
    let hooks = partner(&central, "Hooks").await;
    // Stored directly: the profile endpoint may refuse such a URL itself.
    let (id, url) = (CompanyId::parse(&hooks.id).expect("id"), HttpUrl::parse(&receiver.url).expect("url"));
    let change = ProfileChange { webhook_url: Some(Some(url)), redirect_uris: None };
    central.store().write(move |tx| companies::update_profile(tx, &id, change)).await.expect("stored");
    onboard(&central, &hooks, "ssrf@example.com").await;
    let items = log_until(&central, &hooks, "refused attempts", |items| all_have_attempts(items, 2, 1)).await;
    for delivery in &items {
        let error = delivery["attempts"][0]["error"].as_str().expect("error");
        assert!(error.starts_with("refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address"), "{error}");
        assert_eq!(delivery["status"], "failed");
    }
    assert_eq!(receiver.count(), 0);
}
