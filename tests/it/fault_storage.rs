//! Storage faults under a real central on a real socket: redb's file backend wrapped to fail
//! writes or fsyncs on demand. Writing requests get 503 `storage_unavailable` (never 200), the
//! store reports that it needs reopening, and after a restart the ledger holds exactly what was
//! acknowledged, `verify` is clean, and retries with the same keys settle exactly once.

use std::sync::Arc;

use protus::central::providers::test_provider::{SIGNATURE_HEADER, sign};
use protus::storage::StoreOptions;
use protus::storage::central::open::{CENTRAL_DB_FILE, open_central_on_backend};
use protus::storage::central::records::{TopUpRecord, TopUpStatus};
use protus::storage::central::{settings, top_ups};
use protus::vocab::ids::{CustomerId, TopUpId};
use protus::vocab::money::Amount;
use protus::vocab::secret::Secret;
use protus::vocab::time::Clock;
use serde_json::{Value, json};

use crate::billing::{connected, post_keyed};
use crate::child::verify;
use crate::faulty_backend::{Faults, FaultyBackend};
use crate::support::{Answer, TestCentral};

/// Central in-process on `central.redb` behind a `FaultyBackend` controlled by the returned switch.
async fn central_on_faulty_file() -> (TestCentral, Arc<Faults>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let faults = Arc::new(Faults::default());
    let path = dir.path().join(CENTRAL_DB_FILE);
    let backend = FaultyBackend::open(&path, faults.clone());
    let store = open_central_on_backend(backend, &path.display().to_string(), &StoreOptions::default())
        .expect("open on the faulty backend");
    (TestCentral::start_on_store(dir, store).await, faults)
}

/// A pending top-up written straight to the store, so no provider callback races the test's own.
async fn pending_top_up(central: &TestCentral, customer_id: &str, amount: &str) -> String {
    let record = TopUpRecord {
        id: TopUpId::generate(),
        customer_id: CustomerId::parse(customer_id).expect("a customer id"),
        amount: Amount::parse_stored(amount).expect("an amount"),
        status: TopUpStatus::Pending,
        provider: "test".to_owned(),
        created_at: central.clock.now(),
        completed_at: None,
    };
    let id = record.id.as_str().to_owned();
    central.store().write(move |tx| top_ups::create(tx, &record)).await.expect("seed a pending top-up");
    id
}

/// The key the test provider signs its callbacks with (read before any fault).
async fn provider_key(central: &TestCentral) -> Secret {
    let key = central
        .store()
        .write(|tx| settings::get_or_create(tx, "provider_key:test", || panic!("central created the key at start")))
        .await
        .expect("read the provider key");
    Secret::new(key)
}

/// The test provider's signed callback completing `top_up_id`.
async fn complete_top_up(central: &TestCentral, key: &Secret, top_up_id: &str, amount: &str) -> Answer {
    let body = json!({"top_up_id": top_up_id, "amount": amount, "status": "succeeded"}).to_string();
    let signature = sign(key, central.clock.now().unix_s(), body.as_bytes());
    let response = central
        .client
        .post(format!("{}/api/v1/providers/test/callback", central.base))
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .expect("callback reaches central");
    Answer::read(response).await
}

/// The summary line of `protus central verify` (counts of transfers, accounts, charges), after
/// asserting that it exits 0. Through the admin socket while central runs, else on the file.
async fn verify_clean(dir: &std::path::Path) -> String {
    let dir = dir.to_owned();
    let (code, output) = tokio::task::spawn_blocking(move || verify(&dir)).await.expect("verify runs");
    assert_eq!(code, 0, "verify must be clean: {output}");
    assert!(output.contains("ledger OK"), "{output}");
    output.lines().find(|l| l.starts_with("checked ")).expect("a summary line").to_owned()
}

#[track_caller]
fn assert_storage_unavailable(answer: &Answer) {
    answer.assert_problem(503, "storage_unavailable");
    assert_eq!(answer.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("5"), "{}", answer.body);
}

/// What the writing requests act on: (access token, hold id, provider key, pending top-up id).
type Targets<'a> = (&'a str, &'a str, &'a Secret, &'a str);

/// Every kind of writing request, with fixed idempotency keys and email, so that the retries
/// after recovery are the same requests.
async fn writing_requests(central: &TestCentral, (token, hold_id, key, top_up_id): Targets<'_>) -> Vec<Answer> {
    vec![
        post_keyed(central, "/api/v1/billing/holds", token, "h2", json!({"amount": "20"})).await,
        post_keyed(central, "/api/v1/billing/charges", token, "c2", json!({"amount": "5", "description": "sms"})).await,
        post_keyed(central, &format!("/api/v1/billing/holds/{hold_id}/capture"), token, "cap1", json!({"amount": "4"}))
            .await,
        complete_top_up(central, key, top_up_id, "7.00").await,
        central
            .post(
                "/api/v1/customers",
                None,
                json!({"email": "bob@x.io", "username": "bob", "password": "correct horse"}),
            )
            .await,
    ]
}

/// The retries of `writing_requests` once central recovered: all succeed, each exactly once.
async fn retry_writing_requests(central: &TestCentral, targets: Targets<'_>) -> Vec<Answer> {
    let answers = writing_requests(central, targets).await;
    for (answer, status) in answers.iter().zip([201, 201, 201, 200, 201]) {
        assert_eq!(answer.status, status, "{}", answer.body);
    }
    answers
}

/// A funded, connected customer with one open hold of 30 and one charge of 10: (access token,
/// customer session, customer id, hold id).
async fn acknowledged_state(central: &TestCentral) -> (String, String, String, String) {
    let (_, _, _, token, customer) = connected(central, &["check", "hold", "charge"], "", "100.00").await;
    let hold = post_keyed(central, "/api/v1/billing/holds", &token, "h1", json!({"amount": "30"})).await;
    assert_eq!(hold.status, 201, "{}", hold.body);
    let charge =
        post_keyed(central, "/api/v1/billing/charges", &token, "c1", json!({"amount": "10", "description": "sms"}))
            .await;
    assert_eq!(charge.status, 201, "{}", charge.body);
    let me = central.get("/api/v1/me", Some(&customer)).await;
    let customer_id = me.body["id"].as_str().expect("customer id").to_owned();
    (token, customer, customer_id, hold.body["id"].as_str().expect("hold id").to_owned())
}

fn totals(wallet: &Value) -> [&str; 2] {
    ["available", "held"].map(|field| wallet[field].as_str().unwrap_or("?"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_writes_answer_503_move_no_money_and_central_recovers_on_reopen() {
    // Proves that while the disk refuses writes every writing request is a 503 storage_unavailable that moved nothing, reads still answer, and after a reopen the ledger is exactly the acknowledged one, verify is clean and retries apply once.
    let (mut central, faults) = central_on_faulty_file().await;
    let (token, customer, customer_id, hold_id) = acknowledged_state(&central).await;
    let top_up_id = pending_top_up(&central, &customer_id, "7.00").await;
    let key = provider_key(&central).await;
    let targets = (token.as_str(), hold_id.as_str(), &key, top_up_id.as_str());
    let wallet = central.wallet(&customer).await;
    assert_eq!(totals(&wallet), ["60.00", "30.00"], "{wallet}");
    let counts = verify_clean(central.dir.path()).await;

    faults.fail_writes();
    for answer in writing_requests(&central, targets).await {
        assert_storage_unavailable(&answer);
    }
    assert!(faults.injected() > 0, "the backend must have refused writes");
    assert!(central.store().has_failed(), "the store must ask to be reopened");
    // Reads are served from the last commit, which redb still holds.
    assert_eq!(central.wallet(&customer).await, wallet);
    let balance = central.get("/api/v1/billing/balance", Some(&token)).await;
    assert_eq!((balance.status.as_u16(), balance.body["available"].as_str()), (200, Some("60.00")), "{}", balance.body);
    // The store stays failed after the disk heals: redb latched the error until a reopen.
    faults.clear();
    let late = post_keyed(&central, "/api/v1/billing/holds", &token, "h3", json!({"amount": "1"})).await;
    assert_storage_unavailable(&late);

    // What a supervisor does after `protus central` exits on the failure: start it again.
    central.stop().await;
    assert_eq!(verify_clean(central.dir.path()).await, counts, "no transfer of a refused request is durable");
    central.restart_on_same_port().await;
    // At start central asks the provider again about pending top-ups: the one whose callback
    // got a 503 completes now, once; our retried callback below must not credit it again.
    assert_eq!(central.wait_top_up(&customer, &top_up_id).await["status"], "succeeded");
    assert_eq!(totals(&central.wallet(&customer).await), ["67.00", "30.00"]);
    let retried = retry_writing_requests(&central, targets).await;
    assert!(retried.iter().all(|a| a.headers.get("idempotent-replayed").is_none()), "nothing was stored for a 503");
    // Available 60 + 7 (top-up) − 20 (hold h2) − 5 (charge c2) + 26 (h1's 30 captured as 4);
    // held 30 + 20 − 30.
    let wallet = central.wallet(&customer).await;
    assert_eq!(totals(&wallet), ["68.00", "20.00"], "{wallet}");
    central.stop().await;
    verify_clean(central.dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_answers_503_and_the_retry_with_the_same_key_settles_exactly_once() {
    // Proves a commit whose fsync failed is answered 503, is after a reopen either wholly durable or wholly absent, and that retrying with the same key then applies it exactly once.
    let (mut central, faults) = central_on_faulty_file().await;
    let (token, customer, _, _) = acknowledged_state(&central).await;
    assert_eq!(totals(&central.wallet(&customer).await), ["60.00", "30.00"]);

    faults.fail_syncs();
    let hold = post_keyed(&central, "/api/v1/billing/holds", &token, "h2", json!({"amount": "20"})).await;
    assert_storage_unavailable(&hold);
    assert!(faults.injected() > 0, "the backend must have refused an fsync");
    assert!(central.store().has_failed(), "the store must ask to be reopened");
    let charge =
        post_keyed(&central, "/api/v1/billing/charges", &token, "c2", json!({"amount": "5", "description": "sms"}))
            .await;
    assert_storage_unavailable(&charge);

    central.stop().await;
    faults.clear();
    verify_clean(central.dir.path()).await;
    central.restart_on_same_port().await;
    // The hold's pages and header reached the file before the fsync failed, so redb may find
    // its commit whole; it must never find a part of it.
    let wallet = central.wallet(&customer).await;
    let durable = match totals(&wallet) {
        ["60.00", "30.00"] => false,
        ["40.00", "50.00"] => true,
        other => panic!("the hold is neither wholly absent nor wholly present: {other:?}"),
    };
    let hold = post_keyed(&central, "/api/v1/billing/holds", &token, "h2", json!({"amount": "20"})).await;
    assert_eq!(hold.status, 201, "{}", hold.body);
    let replayed = hold.headers.get("idempotent-replayed").is_some();
    assert_eq!(replayed, durable, "a durable hold is replayed, an absent one is made now");
    let charge =
        post_keyed(&central, "/api/v1/billing/charges", &token, "c2", json!({"amount": "5", "description": "sms"}))
            .await;
    assert_eq!(charge.status, 201, "{}", charge.body);
    assert_eq!(totals(&central.wallet(&customer).await), ["35.00", "50.00"]);
    central.stop().await;
    verify_clean(central.dir.path()).await;
}
