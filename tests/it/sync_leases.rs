//! Leases at central (DESIGN §7) over HTTP as a sidecar makes them: open (full, partial, none),
//! the cap, the grant and ownership checks, idempotency by `request_id`, renew, close, the
//! sweeper after deadline + grace, and recalls on revocation and when central needs the funds.

use std::time::{Duration, Instant};

use protus::storage::central::{changes, verify};
use protus::vocab::limits::{lease_grace_s, lease_ttl_s};
use reqwest::Method;
use serde_json::{Value, json};

use crate::billing::{connected, post_keyed};
use crate::oauth_tokens::issued;
use crate::support::{Answer, TestCentral};

/// A company with one funded, connected customer and one enrolled sidecar.
pub struct Setup {
    pub central: TestCentral,
    pub client: (String, String),
    pub company_session: String,
    pub token: String,
    pub customer: String,
    pub account: String,
    pub sidecar: (String, String),
}

/// `cap` "" for none; `funds` "0" for an empty wallet.
pub async fn setup(cap: &str, funds: &str) -> Setup {
    setup_with(&["check", "hold", "charge"], cap, funds).await
}

/// `setup` with the customer allowing only `scopes`.
pub async fn setup_with(scopes: &[&str], cap: &str, funds: &str) -> Setup {
    let central = TestCentral::start().await;
    let (client_id, secret, company_session, token, customer) = connected(&central, scopes, cap, funds).await;
    let account = claims(&token)["sub"].as_str().expect("a sub").to_owned();
    let sidecar = enrol(&central, (&client_id, &secret)).await;
    Setup { central, client: (client_id, secret), company_session, token, customer, account, sidecar }
}

pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

pub async fn enrol(central: &TestCentral, client: (&str, &str)) -> (String, String) {
    let response = central
        .client
        .post(format!("{}/sync/v1/sidecars", central.base))
        .basic_auth(client.0, Some(client.1))
        .send()
        .await
        .expect("central answers");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    (body["sidecar_id"].as_str().expect("id").to_owned(), body["sidecar_secret"].as_str().expect("secret").to_owned())
}

/// A `/sync/v1` call as `sidecar`.
pub async fn sync_call(
    central: &TestCentral,
    method: Method,
    path: &str,
    sidecar: &(String, String),
    body: Option<Value>,
) -> Answer {
    let mut request =
        central.client.request(method, format!("{}{path}", central.base)).basic_auth(&sidecar.0, Some(&sidecar.1));
    if let Some(body) = body {
        request = request.json(&body);
    }
    Answer::read(request.send().await.expect("central answers")).await
}

pub async fn open(s: &Setup, request_id: &str, amount: &str) -> Answer {
    let body = json!({"request_id": request_id, "account_id": s.account, "amount": amount});
    sync_call(&s.central, Method::POST, "/sync/v1/leases", &s.sidecar, Some(body)).await
}

pub async fn close(s: &Setup, sidecar: &(String, String), lease: &str, request_id: &str, through_seq: u64) -> Answer {
    let body = json!({"request_id": request_id, "through_seq": through_seq});
    sync_call(&s.central, Method::POST, &format!("/sync/v1/leases/{lease}/close"), sidecar, Some(body)).await
}

pub async fn renew(s: &Setup, sidecar: &(String, String), lease: &str, body: Value) -> Answer {
    sync_call(&s.central, Method::POST, &format!("/sync/v1/leases/{lease}/renew"), sidecar, Some(body)).await
}

/// (available, leased, debt) of the customer's wallet.
pub async fn wallet(s: &Setup) -> (String, String, String) {
    let w = s.central.wallet(&s.customer).await;
    let field = |name: &str| w[name].as_str().expect("an amount").to_owned();
    (field("available"), field("leased"), field("debt"))
}

pub fn amounts(available: &str, leased: &str, debt: &str) -> (String, String, String) {
    (available.to_owned(), leased.to_owned(), debt.to_owned())
}

pub async fn assert_verified(central: &TestCentral) {
    let report = central.store().read(verify::verify).await.expect("verify runs");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// The feed events of `kind` the sidecar sees from the start.
pub async fn feed(s: &Setup, sidecar: &(String, String), kind: &str) -> Vec<Value> {
    let page = sync_call(&s.central, Method::GET, "/sync/v1/events?after=0", sidecar, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["events"].as_array().expect("events").iter().filter(|e| e["kind"] == kind).cloned().collect()
}

/// The first `lease_recalled` event on the feed of `s.sidecar`, polled until it comes (5 s).
async fn first_recall(s: &Setup) -> Value {
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(5), "a recall arrived");
        if let Some(recall) = feed(s, &s.sidecar, "lease_recalled").await.into_iter().next() {
            return recall;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn event_kinds(central: &TestCentral) -> Vec<(String, Value)> {
    let events = central.store().read(changes::queued_events).await.expect("outbox");
    events.into_iter().map(|e| (e.kind, e.data)).collect()
}

fn lease_id(answer: &Answer) -> String {
    answer.body["lease_id"].as_str().expect("a lease id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_reserves_all_part_or_nothing_of_available() {
    // Proves open moves min(amount, available) to leased, answers 201 (or 200 with "0" and no lease) and announces available.
    let s = setup("", "100.00").await;
    let full = open(&s, "r1", "30").await;
    assert_eq!(full.status, 201, "{}", full.body);
    assert!(lease_id(&full).starts_with("lse_"));
    assert_eq!(
        (full.body["amount"].as_str(), full.body["ttl_s"].as_u64(), full.body["available"].as_str()),
        (Some("30.00"), Some(lease_ttl_s), Some("70.00"))
    );
    assert_eq!(full.body["account_id"], s.account.as_str());
    assert_eq!(wallet(&s).await, amounts("70.00", "30.00", "0.00"));
    let partial = open(&s, "r2", "100").await;
    assert_eq!((partial.status.as_u16(), partial.body["amount"].as_str()), (201, Some("70.00")), "{}", partial.body);
    assert_eq!(partial.body["available"], "0.00");
    let nothing = open(&s, "r3", "5").await;
    assert_eq!(nothing.status, 200, "{}", nothing.body);
    assert_eq!((nothing.body["lease_id"].as_str(), nothing.body["amount"].as_str()), (Some(""), Some("0.00")));
    assert_eq!(wallet(&s).await, amounts("0.00", "100.00", "0.00"));
    let announced = feed(&s, &s.sidecar, "wallet_available").await;
    assert_eq!(
        announced.iter().map(|e| e["available"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["70.00", "0.00"]
    );
    assert!(announced.iter().all(|e| e["account_id"] == s.account.as_str()));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_without_hold_or_charge_leases_nothing_but_reports_available() {
    // Proves a sidecar cannot reserve funds it could not spend: with only `check` allowed, a lease open reserves nothing, and still tells `available`.
    let s = setup_with(&["check"], "", "100.00").await;
    let opened = open(&s, "r1", "50").await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert_eq!(
        (opened.body["lease_id"].as_str(), opened.body["amount"].as_str(), opened.body["available"].as_str()),
        (Some(""), Some("0.00"), Some("100.00"))
    );
    assert_eq!(wallet(&s).await, amounts("100.00", "0.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lease_bodies_are_refused_before_anything_moves() {
    // Proves amounts are validated as everywhere (422), unknown fields are 400 and a foreign sidecar's lease is 404.
    let s = setup("", "100.00").await;
    let number = json!({"request_id": "r", "account_id": s.account, "amount": 5});
    sync_call(&s.central, Method::POST, "/sync/v1/leases", &s.sidecar, Some(number))
        .await
        .assert_problem(422, "validation_failed");
    open(&s, "r", "-1").await.assert_problem(422, "validation_failed");
    open(&s, "r", "1.001").await.assert_problem(422, "validation_failed");
    let extra = json!({"request_id": "r", "account_id": s.account, "amount": "5", "x": 1});
    sync_call(&s.central, Method::POST, "/sync/v1/leases", &s.sidecar, Some(extra))
        .await
        .assert_problem(400, "invalid_request");
    let anonymous = s.central.post("/sync/v1/leases", None, json!({})).await;
    anonymous.assert_problem(401, "unauthorized");
    let lease = lease_id(&open(&s, "r", "5").await);
    let other = enrol(&s.central, (&s.client.0, &s.client.1)).await;
    renew(&s, &other, &lease, json!({"request_id": "x"})).await.assert_problem(404, "not_found");
    close(&s, &other, &lease, "y", 0).await.assert_problem(404, "not_found");
    renew(&s, &s.sidecar, "lse_nonsense", json!({"request_id": "z"})).await.assert_problem(404, "not_found");
    assert_eq!(wallet(&s).await, amounts("95.00", "5.00", "0.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spending_cap_bounds_leases_and_leases_count_against_it() {
    // Proves open reserves at most the cap room left by charges, and an unreturned lease's remainder uses the cap.
    let s = setup("25", "100.00").await;
    let charged =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "c1", json!({"amount": "5", "description": "sms"}))
            .await;
    assert_eq!(charged.status, 201, "{}", charged.body);
    let capped = open(&s, "r1", "50").await;
    assert_eq!((capped.status.as_u16(), capped.body["amount"].as_str()), (201, Some("20.00")), "{}", capped.body);
    let none = open(&s, "r2", "1").await;
    assert_eq!((none.status.as_u16(), none.body["amount"].as_str()), (200, Some("0.00")));
    let over =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "c2", json!({"amount": "1", "description": "sms"}))
            .await;
    over.assert_problem(402, "spending_cap_exceeded");
    assert_eq!(wallet(&s).await, amounts("75.00", "20.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_need_an_active_grant_of_the_own_company() {
    // Proves another company's account is 404, and a revoked grant recalls its leases over the feed and refuses new ones (403).
    let s = setup("", "100.00").await;
    let other = issued(&s.central, "Mail", "bob@x.io", &["check"]).await;
    let foreign = claims(&other.access())["sub"].as_str().expect("sub").to_owned();
    let body = json!({"request_id": "f", "account_id": foreign, "amount": "5"});
    sync_call(&s.central, Method::POST, "/sync/v1/leases", &s.sidecar, Some(body))
        .await
        .assert_problem(404, "not_found");
    let lease = lease_id(&open(&s, "r1", "10").await);
    let grant = s.central.get("/api/v1/me/grants", Some(&s.customer)).await.body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let revoked =
        s.central.call(Method::DELETE, &format!("/api/v1/me/grants/{grant}"), Some(&s.customer), None, &[]).await;
    assert_eq!(revoked.status, 200);
    let recalls = feed(&s, &s.sidecar, "lease_recalled").await;
    assert_eq!(recalls.len(), 1, "{recalls:?}");
    assert_eq!(
        (recalls[0]["lease_id"].as_str(), recalls[0]["account_id"].as_str()),
        (Some(lease.as_str()), Some(s.account.as_str()))
    );
    let refused = open(&s, "r2", "10").await;
    refused.assert_problem(403, "forbidden");
    assert!(refused.body["detail"].as_str().unwrap_or_default().contains("revoked"), "{}", refused.body);
    renew(&s, &s.sidecar, &lease, json!({"request_id": "r3", "add_amount": "1"}))
        .await
        .assert_problem(403, "forbidden");
    let closed = close(&s, &s.sidecar, &lease, "r4", 0).await;
    assert_eq!((closed.body["status"].as_str(), closed.body["returned"].as_str()), (Some("closed"), Some("10.00")));
    assert_eq!(wallet(&s).await, amounts("100.00", "0.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_calls_are_idempotent_by_request_id() {
    // Proves a repeated request_id replays the first answer without moving money again, and another body with it is 422.
    let s = setup("", "100.00").await;
    let first = open(&s, "same", "30").await;
    let again = open(&s, "same", "30").await;
    assert_eq!((again.status.as_u16(), &again.body), (201, &first.body));
    assert_eq!(again.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    open(&s, "same", "31").await.assert_problem(422, "idempotency_key_reused");
    let lease = lease_id(&first);
    let renewed = renew(&s, &s.sidecar, &lease, json!({"request_id": "grow", "add_amount": "5"})).await;
    let renewed_again = renew(&s, &s.sidecar, &lease, json!({"request_id": "grow", "add_amount": "5"})).await;
    assert_eq!(renewed.body, renewed_again.body);
    let closed = close(&s, &s.sidecar, &lease, "done", 0).await;
    assert_eq!(close(&s, &s.sidecar, &lease, "done", 0).await.body, closed.body);
    assert_eq!(wallet(&s).await, amounts("100.00", "0.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renew_extends_and_raises_an_open_lease_only() {
    // Proves renew answers the new ceiling (partial when available is short) and a closed lease is 409.
    let s = setup("", "50.00").await;
    let lease = lease_id(&open(&s, "r1", "20").await);
    let plain = renew(&s, &s.sidecar, &lease, json!({"request_id": "r2"})).await;
    assert_eq!(
        (plain.status.as_u16(), plain.body["amount"].as_str(), plain.body["lease_id"].as_str()),
        (200, Some("20.00"), Some(lease.as_str()))
    );
    let grown = renew(&s, &s.sidecar, &lease, json!({"request_id": "r3", "add_amount": "10"})).await;
    assert_eq!((grown.body["amount"].as_str(), grown.body["available"].as_str()), (Some("30.00"), Some("20.00")));
    let partial = renew(&s, &s.sidecar, &lease, json!({"request_id": "r4", "add_amount": "100"})).await;
    assert_eq!(partial.body["amount"], "50.00");
    assert_eq!(wallet(&s).await, amounts("0.00", "50.00", "0.00"));
    let closed = close(&s, &s.sidecar, &lease, "r5", 0).await;
    assert_eq!((closed.body["status"].as_str(), closed.body["returned"].as_str()), (Some("closed"), Some("50.00")));
    renew(&s, &s.sidecar, &lease, json!({"request_id": "r6"})).await.assert_problem(409, "conflict");
    let closed_again = close(&s, &s.sidecar, &lease, "r7", 0).await;
    assert_eq!(closed_again.body, closed.body);
    assert_eq!(wallet(&s).await, amounts("50.00", "0.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_returns_a_lease_after_its_deadline_and_grace() {
    // Proves an unclosed lease keeps its funds through the grace period and the sweeper returns them after it, durably.
    let mut s = setup("", "40.00").await;
    let lease = lease_id(&open(&s, "r1", "25").await);
    s.central.clock.advance_s(lease_ttl_s as i64 + lease_grace_s - 5);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(wallet(&s).await, amounts("15.00", "25.00", "0.00"));
    s.central.clock.advance_s(10);
    let started = Instant::now();
    while wallet(&s).await.1 != "0.00" {
        assert!(started.elapsed() < Duration::from_secs(10), "the sweeper returned the lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.central.restart().await;
    assert_eq!(wallet(&s).await, amounts("40.00", "0.00", "0.00"));
    let closed = close(&s, &s.sidecar, &lease, "late", 0).await;
    assert_eq!((closed.body["status"].as_str(), closed.body["returned"].as_str()), (Some("closed"), Some("25.00")));
    renew(&s, &s.sidecar, &lease, json!({"request_id": "r2"})).await.assert_problem(409, "conflict");
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_recalls_leases_when_its_own_charge_needs_their_funds() {
    // Proves a charge short of funds recalls the lease over the feed, succeeds once the holder closes, and is 402 after ~2 s when nobody does, the same key meanwhile answered 409.
    let s = setup("", "100.00").await;
    let lease = lease_id(&open(&s, "r1", "90").await);
    let holder = async {
        assert_eq!(first_recall(&s).await["lease_id"], lease.as_str());
        close(&s, &s.sidecar, &lease, "give back", 0).await
    };
    let charge =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "big", json!({"amount": "50", "description": "x"}));
    let (closed, charged) = tokio::join!(holder, charge);
    assert_eq!(closed.body["returned"], "90.00");
    assert_eq!(charged.status, 201, "{}", charged.body);
    assert_eq!(wallet(&s).await, amounts("50.00", "0.00", "0.00"));

    let second = lease_id(&open(&s, "r2", "45").await);
    let started = Instant::now();
    let first = async {
        let refused = post_keyed(&s.central, "/api/v1/billing/holds", &s.token, "h1", json!({"amount": "10"})).await;
        (refused, started.elapsed())
    };
    // Between its tries the first request sleeps outside the writer; the key stays in flight.
    let same_key_while_waiting = async {
        let mut answers = Vec::new();
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(110)).await;
            answers
                .push(post_keyed(&s.central, "/api/v1/billing/holds", &s.token, "h1", json!({"amount": "10"})).await);
        }
        answers
    };
    let ((refused, waited), meanwhile) = tokio::join!(first, same_key_while_waiting);
    for answer in meanwhile {
        answer.assert_problem(409, "idempotency_key_in_use");
    }
    refused.assert_problem(402, "insufficient_funds");
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(10), "waited {waited:?}");
    let recalls = feed(&s, &s.sidecar, "lease_recalled").await;
    assert_eq!(
        recalls.iter().filter(|r| r["lease_id"] == second.as_str()).count(),
        1,
        "one recall per lease: {recalls:?}"
    );
    let replayed = post_keyed(&s.central, "/api/v1/billing/holds", &s.token, "h1", json!({"amount": "10"})).await;
    assert_eq!(replayed.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(wallet(&s).await, amounts("5.00", "45.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_waiting_for_recalled_funds_is_refused_once_the_grant_is_revoked() {
    // Proves the grant is read again when the charge is booked: a charge whose token was valid
    // when it arrived, and which waits for a recalled lease while the customer revokes the
    // grant, is refused 401 and moves no money (before, it was booked once the lease closed).
    let s = setup("", "100.00").await;
    let lease = lease_id(&open(&s, "r1", "90").await);
    let grant = s.central.get("/api/v1/me/grants", Some(&s.customer)).await.body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let revoke_then_close = async {
        assert_eq!(first_recall(&s).await["lease_id"], lease.as_str());
        let path = format!("/api/v1/me/grants/{grant}");
        let revoked = s.central.call(Method::DELETE, &path, Some(&s.customer), None, &[]).await;
        assert_eq!(revoked.status, 200);
        close(&s, &s.sidecar, &lease, "give back", 0).await
    };
    let charge =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "big", json!({"amount": "50", "description": "x"}));
    let (closed, charged) = tokio::join!(revoke_then_close, charge);
    assert_eq!(closed.body["returned"], "90.00");
    charged.assert_problem(401, "invalid_token");
    assert!(charged.body["detail"].as_str().unwrap_or_default().contains("revoked"), "{}", charged.body);
    assert_eq!(wallet(&s).await, amounts("100.00", "0.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_for_another_sidecar_recalls_the_first_ones() {
    // Proves a second sidecar short of available recalls the first sidecar's lease and gets its funds once it is closed.
    let s = setup("", "60.00").await;
    let first = lease_id(&open(&s, "r1", "60").await);
    let second = enrol(&s.central, (&s.client.0, &s.client.1)).await;
    let holder = async {
        first_recall(&s).await;
        close(&s, &s.sidecar, &first, "give back", 0).await
    };
    let body = json!({"request_id": "b1", "account_id": s.account, "amount": "30"});
    let asked = sync_call(&s.central, Method::POST, "/sync/v1/leases", &second, Some(body));
    let (_, granted) = tokio::join!(holder, asked);
    assert_eq!((granted.status.as_u16(), granted.body["amount"].as_str()), (201, Some("30.00")), "{}", granted.body);
    assert_eq!(wallet(&s).await, amounts("30.00", "30.00", "0.00"));
    assert_verified(&s.central).await;
}
