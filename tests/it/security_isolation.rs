//! Security pass (issue 8): one company cannot read, hold, charge, capture, release, revoke or
//! introspect another's objects — at central with the other company's client credentials,
//! session and tokens (one customer has a grant to both), over `/sync/v1` with its sidecar's
//! credentials, and through its sidecar process — and no refused call moves money.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::oauth_support::{consent, exchange, partner};
use crate::oauth_tokens::{assert_accepted, introspect, oauth_post};
use crate::sidecar_support::ChildSidecar;
use crate::support::{Answer, TestCentral};
use crate::sync_leases::{claims, enrol, sync_call};

/// A company's credentials.
pub struct Company {
    pub id: String,
    pub secret: String,
    pub session: String,
}

impl Company {
    pub fn client(&self) -> (&str, &str) {
        (&self.id, &self.secret)
    }
}

/// Access and refresh token of one grant, and the account it acts on.
pub struct Grant {
    pub access: String,
    pub refresh: String,
    pub account: String,
}

/// Companies A ("Maps") and B ("Mail"); Ann has a grant to both, Bob to B only; both wallets
/// hold 100.00.
pub struct Two {
    pub central: TestCentral,
    pub a: Company,
    pub b: Company,
    pub ann: String,
    pub bob: String,
    pub a_ann: Grant,
    pub b_ann: Grant,
    pub b_bob: Grant,
}

async fn company(central: &TestCentral, name: &str) -> Company {
    let (id, secret, session) = partner(central, name).await;
    // Set before anything happens, so every event of the company becomes a delivery.
    let hook =
        central.patch("/api/v1/company", Some(&session), json!({"webhook_url": "http://127.0.0.1:9/hook"})).await;
    assert_eq!(hook.status, 200, "{}", hook.body);
    Company { id, secret, session }
}

async fn grant(central: &TestCentral, company: &Company, email: &str) -> Grant {
    let code = consent(central, &company.id, email, &["check", "hold", "charge"], "").await;
    let (status, tokens) = exchange(central, company.client(), &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("an access token").to_owned();
    let account = claims(&access)["sub"].as_str().expect("a sub").to_owned();
    Grant { refresh: tokens["refresh_token"].as_str().expect("a refresh token").to_owned(), access, account }
}

pub async fn two() -> Two {
    let central = TestCentral::start().await;
    let (a, b) = (company(&central, "Maps").await, company(&central, "Mail").await);
    let (_, ann) = central.customer("ann@x.io").await;
    let (_, bob) = central.customer("bob@x.io").await;
    central.top_up(&ann, "100.00", "fund-ann").await;
    central.top_up(&bob, "100.00", "fund-bob").await;
    let a_ann = grant(&central, &a, "ann@x.io").await;
    let b_ann = grant(&central, &b, "ann@x.io").await;
    let b_bob = grant(&central, &b, "bob@x.io").await;
    Two { central, a, b, ann, bob, a_ann, b_ann, b_bob }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum As<'a> {
    Client(&'a Company),
    Token(&'a str),
}

/// A billing call at central with an `Idempotency-Key`.
async fn call(central: &TestCentral, method: Method, path: &str, who: As<'_>, body: Option<Value>) -> Answer {
    let mut request = central.client.request(method, format!("{}{path}", central.base));
    request = match who {
        As::Client(company) => request.basic_auth(&company.id, Some(&company.secret)),
        As::Token(token) => request.bearer_auth(token),
    };
    let key = format!("k-{}", protus::vocab::ids::ChargeId::generate());
    request = request.header("idempotency-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    Answer::read(request.send().await.expect("central answers")).await
}

fn id(answer: &Answer) -> String {
    assert!(answer.status.is_success(), "{}", answer.body);
    answer.body["id"].as_str().expect("an id").to_owned()
}

/// Every id in a list answer.
fn ids(list: &Answer) -> Vec<String> {
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A customer's wallet and every company's accounts with their paid totals: what must not move.
async fn money(t: &Two) -> Value {
    let a = t.central.get("/api/v1/company/accounts", Some(&t.a.session)).await;
    let b = t.central.get("/api/v1/company/accounts", Some(&t.b.session)).await;
    let totals = |list: &Answer| {
        list.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| (i["id"].clone(), i["paid_total"].clone()))
            .collect::<Vec<_>>()
    };
    json!({
        "ann": t.central.wallet(&t.ann).await,
        "bob": t.central.wallet(&t.bob).await,
        "a": format!("{:?}", totals(&a)),
        "b": format!("{:?}", totals(&b)),
    })
}

/// What only a charge changes, whatever sidecars do with their leases meanwhile: each wallet's
/// unspent money (available + held + leased) and every account's paid total.
async fn spent(t: &Two) -> Value {
    let unspent = |wallet: &Value| {
        ["available", "held", "leased"]
            .iter()
            .map(|field| {
                wallet[field].as_str().and_then(|v| v.parse::<rust_decimal::Decimal>().ok()).expect("an amount")
            })
            .sum::<rust_decimal::Decimal>()
            .to_string()
    };
    let mut now = money(t).await;
    now["ann"] = json!(unspent(&now["ann"]));
    now["bob"] = json!(unspent(&now["bob"]));
    now
}

/// Waits until central lists `charge` among the company's charges as settled (at most 10 s).
async fn settled(central: &TestCentral, company: &Company, charge: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = central.get("/api/v1/company/charges", Some(&company.session)).await;
        let items = list.body["items"].as_array().cloned().unwrap_or_default();
        if items.iter().any(|c| c["id"] == charge && c["status"] == "settled") {
            return;
        }
        assert!(Instant::now() < deadline, "charge {charge} never settled at central: {}", list.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn assert_verified(central: &TestCentral) {
    let report = central.store().read(protus::storage::central::verify::verify).await.expect("verify runs");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// The company's deliveries, once the dispatcher has taken at least one in (at most 10 s).
async fn deliveries(central: &TestCentral, company: &Company) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = ids(&central.get("/api/v1/company/webhooks/deliveries", Some(&company.session)).await);
        if !found.is_empty() || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A's service, a hold and a charge of A on Ann's account, and a hold of B on Ann's account.
struct Objects {
    service_a: String,
    hold_a: String,
    charge_a: String,
    hold_b: String,
}

async fn objects(t: &Two) -> Objects {
    let central = &t.central;
    let service = json!({"name": "Routing", "price": "2.00"});
    let service_a = id(&central.post("/api/v1/company/services", Some(&t.a.session), service).await);
    let (a, b) = (As::Token(&t.a_ann.access), As::Token(&t.b_ann.access));
    let hold_a = id(&call(central, Method::POST, "/api/v1/billing/holds", a, Some(json!({"amount": "10"}))).await);
    let charge = Some(json!({"service_id": service_a}));
    let charge_a = id(&call(central, Method::POST, "/api/v1/billing/charges", a, charge).await);
    let hold_b = id(&call(central, Method::POST, "/api/v1/billing/holds", b, Some(json!({"amount": "4"}))).await);
    let wallet = central.wallet(&t.ann).await;
    assert_eq!((wallet["available"].as_str(), wallet["held"].as_str()), (Some("84.00"), Some("14.00")));
    Objects { service_a, hold_a, charge_a, hold_b }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_company_gets_404_for_a_companys_holds_and_charges_and_moves_no_money() {
    // Proves B's client credentials and B's tokens (one for the same customer) get 404 for reading, capturing and releasing A's holds and reading A's charges, and A's service prices nothing of B's; no money moves and A's hold stays A's.
    let t = two().await;
    let central = &t.central;
    let o = objects(&t).await;
    let before = money(&t).await;
    for who in [As::Client(&t.b), As::Token(&t.b_ann.access), As::Token(&t.b_bob.access)] {
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/billing/holds/{}", o.hold_a), None),
            (Method::GET, format!("/api/v1/billing/charges/{}", o.charge_a), None),
            (Method::POST, format!("/api/v1/billing/holds/{}/capture", o.hold_a), Some(json!({}))),
            (Method::POST, format!("/api/v1/billing/holds/{}/capture", o.hold_a), Some(json!({"amount": "10"}))),
            (Method::POST, format!("/api/v1/billing/holds/{}/release", o.hold_a), None),
        ] {
            call(central, method, &path, who, body).await.assert_problem(404, "not_found");
        }
    }
    let by_service = Some(json!({"service_id": o.service_a}));
    let b_ann = As::Token(&t.b_ann.access);
    call(central, Method::POST, "/api/v1/billing/charges", b_ann, by_service.clone())
        .await
        .assert_problem(404, "not_found");
    let capture_b = format!("/api/v1/billing/holds/{}/capture", o.hold_b);
    call(central, Method::POST, &capture_b, As::Client(&t.b), by_service).await.assert_problem(404, "not_found");

    assert_eq!(money(&t).await, before);
    let a = As::Client(&t.a);
    let seen = call(central, Method::GET, &format!("/api/v1/billing/holds/{}", o.hold_a), a, None).await;
    assert_eq!((seen.body["status"].as_str(), seen.body["amount"].as_str()), (Some("held"), Some("10.00")));
    let charge = call(central, Method::GET, &format!("/api/v1/billing/charges/{}", o.charge_a), a, None).await;
    assert_eq!((charge.body["status"].as_str(), charge.body["amount"].as_str()), (Some("settled"), Some("2.00")));
    let capture_a = format!("/api/v1/billing/holds/{}/capture", o.hold_a);
    let captured = call(central, Method::POST, &capture_a, a, Some(json!({"amount": "10"}))).await;
    assert_eq!(captured.status, 201, "{}", captured.body);
    let held_b =
        call(central, Method::GET, &format!("/api/v1/billing/holds/{}", o.hold_b), As::Client(&t.b), None).await;
    assert_eq!(held_b.body["status"], "held", "{}", held_b.body);
    assert_verified(central).await;
    let dir = central.dir.path().to_owned();
    let (code, output) = tokio::task::spawn_blocking(move || crate::child::verify(&dir)).await.expect("verify");
    assert_eq!(code, 0, "`protus central verify` is clean: {output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_companys_lists_show_nothing_of_a_company_and_its_ids_are_404() {
    // Proves B's session lists none of A's accounts, charges, deliveries or services, gets 404 retrying A's deliveries and changing A's service, and A's service is unchanged.
    let t = two().await;
    let central = &t.central;
    let o = objects(&t).await;
    let a_deliveries = deliveries(central, &t.a).await;
    assert!(!a_deliveries.is_empty(), "A's events became deliveries");
    let b_session = Some(t.b.session.as_str());
    let accounts = ids(&central.get("/api/v1/company/accounts", b_session).await);
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    assert!(!accounts.contains(&t.a_ann.account), "B lists A's account");
    let charges = ids(&central.get("/api/v1/company/charges", b_session).await);
    assert!(!charges.contains(&o.charge_a), "B lists A's charge");
    let of_service = format!("/api/v1/company/charges?service_id={}", o.service_a);
    assert!(ids(&central.get(&of_service, b_session).await).is_empty());
    let b_deliveries = ids(&central.get("/api/v1/company/webhooks/deliveries", b_session).await);
    assert!(a_deliveries.iter().all(|d| !b_deliveries.contains(d)), "B lists A's deliveries");
    for delivery in &a_deliveries {
        let path = format!("/api/v1/company/webhooks/deliveries/{delivery}/retry");
        central.post(&path, b_session, json!({})).await.assert_problem(404, "not_found");
    }
    assert!(!ids(&central.get("/api/v1/company/services", b_session).await).contains(&o.service_a));
    let path = format!("/api/v1/company/services/{}", o.service_a);
    central.patch(&path, b_session, json!({"price": "0.01", "active": false})).await.assert_problem(404, "not_found");
    let a_services = central.get("/api/v1/company/services", Some(&t.a.session)).await;
    let service = &a_services.body["items"][0];
    assert_eq!((service["price"].as_str(), service["active"].as_bool()), (Some("2.00"), Some(true)));
    let quarantine = central.get("/api/v1/company/usage/quarantine", b_session).await;
    assert_eq!(quarantine.body["items"], json!([]), "{}", quarantine.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_company_cannot_revoke_or_introspect_a_companys_grants_and_tokens() {
    // Proves Ann's grant to A cannot be changed by Bob, B's session or B's token, B's RFC 7662 introspection sees A's tokens as inactive and B's RFC 7009 revocation of them does nothing.
    let t = two().await;
    let central = &t.central;
    let before = money(&t).await;
    let grants = central.get("/api/v1/me/grants", Some(&t.ann)).await;
    let items = grants.body["items"].as_array().expect("items");
    let a_grant = items.iter().find(|g| g["company_id"] == t.a.id.as_str()).expect("Ann's grant to A");
    let path = format!("/api/v1/me/grants/{}", a_grant["id"].as_str().expect("an id"));
    central.patch(&path, Some(&t.bob), json!({"scope": "check"})).await.assert_problem(404, "not_found");
    central.call(Method::DELETE, &path, Some(&t.bob), None, &[]).await.assert_problem(404, "not_found");
    central.call(Method::DELETE, &path, Some(&t.b.session), None, &[]).await.assert_problem(403, "forbidden");
    let with_token = central.call(Method::DELETE, &path, Some(&t.b_ann.access), None, &[]).await;
    with_token.assert_problem(401, "unauthorized");

    for token in [&t.a_ann.access, &t.a_ann.refresh] {
        assert_eq!(introspect(central, t.b.client(), token).await, json!({"active": false}));
        for hint in ["access_token", "refresh_token"] {
            let fields = [("token", token.as_str()), ("token_type_hint", hint)];
            let (status, _, body) = oauth_post(central, "/oauth/revoke", Some(t.b.client()), &fields).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    assert_accepted(central, &t.a_ann.access, "A's token after B revoked it").await;
    assert_eq!(introspect(central, t.a.client(), &t.a_ann.access).await["active"], true);
    assert_eq!(introspect(central, t.a.client(), &t.a_ann.refresh).await["active"], true);
    let grants = central.get("/api/v1/me/grants", Some(&t.ann)).await;
    let items = grants.body["items"].as_array().expect("items");
    assert!(items.len() == 2 && items.iter().all(|g| g["status"] == "active"), "{}", grants.body);
    assert_eq!(money(&t).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_companys_sidecar_cannot_lease_or_touch_a_companys_leases() {
    // Proves B's sidecar gets 404 for A's accounts and A's leases (the same 404 as for ids that do not exist), its request ids do not replay A's answers, its feed and snapshot show nothing of A's, and A's lease keeps every unit.
    let t = two().await;
    let central = &t.central;
    let (sa, sb) = (enrol(central, t.a.client()).await, enrol(central, t.b.client()).await);
    let lease = |account: &str, request_id: &str, amount: &str| json!({"request_id": request_id, "account_id": account, "amount": amount});
    let opened =
        sync_call(central, Method::POST, "/sync/v1/leases", &sa, Some(lease(&t.a_ann.account, "r1", "20"))).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let lease_a = opened.body["lease_id"].as_str().expect("a lease").to_owned();

    let unknown_account = protus::vocab::ids::AccountId::generate().to_string();
    for account in [t.a_ann.account.as_str(), unknown_account.as_str()] {
        let answer = sync_call(
            central,
            Method::POST,
            "/sync/v1/leases",
            &sb,
            Some(lease(account, &format!("x-{account}"), "5")),
        )
        .await;
        answer.assert_problem(404, "not_found");
        assert!(!answer.body.to_string().contains(&t.a.id), "{}", answer.body);
    }
    let unknown_lease = protus::vocab::ids::LeaseId::generate().to_string();
    for target in [lease_a.as_str(), unknown_lease.as_str()] {
        let renew = json!({"request_id": format!("n-{target}"), "add_amount": "50"});
        sync_call(central, Method::POST, &format!("/sync/v1/leases/{target}/renew"), &sb, Some(renew))
            .await
            .assert_problem(404, "not_found");
        let close = json!({"request_id": format!("c-{target}"), "through_seq": 0});
        sync_call(central, Method::POST, &format!("/sync/v1/leases/{target}/close"), &sb, Some(close))
            .await
            .assert_problem(404, "not_found");
    }
    // Request ids are the sidecar's own: B's "r1" is a new lease on B's account, not A's answer.
    let own = sync_call(central, Method::POST, "/sync/v1/leases", &sb, Some(lease(&t.b_ann.account, "r1", "5"))).await;
    assert_eq!(own.status, 201, "{}", own.body);
    assert!(own.headers.get("idempotent-replayed").is_none());
    assert_ne!(own.body["lease_id"], opened.body["lease_id"]);
    assert_eq!(own.body["account_id"], t.b_ann.account.as_str());
    let own_lease = own.body["lease_id"].as_str().expect("a lease").to_owned();
    // A's answer replays for A only.
    let again =
        sync_call(central, Method::POST, "/sync/v1/leases", &sa, Some(lease(&t.a_ann.account, "r1", "20"))).await;
    assert_eq!((again.status.as_u16(), again.body["lease_id"].as_str()), (201, Some(lease_a.as_str())));

    // B's view of central says nothing about A's account, grant or lease.
    let feed = sync_call(central, Method::GET, "/sync/v1/events?after=0", &sb, None).await;
    assert_eq!(feed.status, 200, "{}", feed.body);
    let snapshot = sync_call(central, Method::GET, "/sync/v1/snapshot", &sb, None).await;
    assert_eq!(snapshot.status, 200, "{}", snapshot.body);
    let a_grant = claims(&t.a_ann.access)["grant"].as_str().expect("a grant").to_owned();
    for (what, text) in [("feed", feed.body.to_string()), ("snapshot", snapshot.body.to_string())] {
        for secret in [&t.a_ann.account, &lease_a, &a_grant, &t.a.id] {
            assert!(!text.contains(secret.as_str()), "B's {what} shows A's {secret}: {text}");
        }
    }
    let a_feed = sync_call(central, Method::GET, "/sync/v1/events?after=0", &sa, None).await.body.to_string();
    assert!(
        a_feed.contains(&t.a_ann.account) && !a_feed.contains(&own_lease) && !a_feed.contains(&t.b_ann.account),
        "{a_feed}"
    );

    // Ann's money: 20 leased to A's sidecar, 5 to B's, and A's lease returns whole.
    let wallet = central.wallet(&t.ann).await;
    assert_eq!((wallet["available"].as_str(), wallet["leased"].as_str()), (Some("75.00"), Some("25.00")), "{wallet}");
    let close = json!({"request_id": "c1", "through_seq": 0});
    let closed = sync_call(central, Method::POST, &format!("/sync/v1/leases/{lease_a}/close"), &sa, Some(close)).await;
    assert_eq!(
        (closed.body["status"].as_str(), closed.body["returned"].as_str()),
        (Some("closed"), Some("20.00")),
        "{}",
        closed.body
    );
    assert_eq!(central.wallet(&t.ann).await["leased"], "5.00");
    assert_verified(central).await;
}

async fn ready(sidecar: &ChildSidecar) {
    let (status, body) = sidecar.wait_for("/readyz", None, 200, Duration::from_secs(10)).await;
    assert_eq!(status, 200, "{body}");
}

/// The problem code of a sidecar answer.
fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["code"].as_str().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_companys_sidecar_refuses_a_companys_tokens_holds_and_charges() {
    // Proves A's token is invalid at B's sidecar (and B's at A's) for every billing call, B's sidecar knows none of A's holds, charges or services, and none of it moves money.
    let t = two().await;
    let central = &t.central;
    let o = objects(&t).await;
    let (service_a, hold_central, charge_central) = (&o.service_a, &o.hold_a, &o.charge_a);
    let (dir_a, dir_b) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let sidecar_a = ChildSidecar::start(&central.base, t.a.client(), dir_a.path());
    let sidecar_b = ChildSidecar::start(&central.base, t.b.client(), dir_b.path());
    ready(&sidecar_a).await;
    ready(&sidecar_b).await;
    // A's own objects at A's sidecar.
    let (status, hold) =
        sidecar_a.post("/api/v1/billing/holds", Some(&t.a_ann.access), Some("h1"), json!({"amount": "5"})).await;
    assert_eq!(status, 201, "{hold}");
    let hold_a = hold["id"].as_str().expect("a hold").to_owned();
    let (status, charge) = sidecar_a
        .post("/api/v1/billing/charges", Some(&t.a_ann.access), Some("c1"), json!({"service_id": service_a}))
        .await;
    assert_eq!(status, 201, "{charge}");
    let charge_a = charge["id"].as_str().expect("a charge").to_owned();
    settled(central, &t.a, &charge_a).await;
    let before = spent(&t).await;

    // Tokens of one company are not tokens at the other's sidecar.
    for (sidecar, token) in
        [(&sidecar_b, &t.a_ann.access), (&sidecar_a, &t.b_ann.access), (&sidecar_a, &t.b_bob.access)]
    {
        for path in ["/api/v1/authorize", "/api/v1/authorize?scope=charge", "/api/v1/billing/balance"] {
            let (status, _, body) = sidecar.get(path, Some(token)).await;
            assert_eq!(status, 401, "{path}: {body}");
            assert!(body.contains("invalid_token"), "{path}: {body}");
        }
        for (path, body) in [
            ("/api/v1/billing/holds", json!({"amount": "1"})),
            ("/api/v1/billing/charges", json!({"amount": "1", "description": "x"})),
        ] {
            assert_eq!(
                code(&sidecar.post(path, Some(token), Some("foreign"), body).await),
                (401, "invalid_token"),
                "{path}"
            );
        }
    }
    // B's sidecar knows none of A's holds and charges, wherever they were made, nor A's services.
    for hold in [hold_a.as_str(), hold_central] {
        let (status, _, body) = sidecar_b.get(&format!("/api/v1/billing/holds/{hold}"), None).await;
        assert_eq!(status, 404, "{body}");
        let capture = sidecar_b
            .post(&format!("/api/v1/billing/holds/{hold}/capture"), None, Some(&format!("cap-{hold}")), json!({}))
            .await;
        assert_eq!(code(&capture), (404, "not_found"), "{}", capture.1);
        let release = sidecar_b
            .post(&format!("/api/v1/billing/holds/{hold}/release"), None, Some(&format!("rel-{hold}")), json!(null))
            .await;
        assert_eq!(code(&release), (404, "not_found"), "{}", release.1);
    }
    for charge in [charge_a.as_str(), charge_central] {
        let (status, _, body) = sidecar_b.get(&format!("/api/v1/billing/charges/{charge}"), None).await;
        assert_eq!(status, 404, "{body}");
    }
    let priced = sidecar_b
        .post("/api/v1/billing/charges", Some(&t.b_ann.access), Some("svc"), json!({"service_id": service_a}))
        .await;
    assert_eq!(code(&priced), (404, "not_found"), "{}", priced.1);

    // Nothing was spent; A's hold is still A's to capture, at A's sidecar.
    assert_eq!(spent(&t).await, before);
    let (status, _, body) = sidecar_a.get(&format!("/api/v1/billing/holds/{hold_a}"), None).await;
    let seen: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!((status, seen["status"].as_str()), (200, Some("held")), "{body}");
    let captured = sidecar_a
        .post(&format!("/api/v1/billing/holds/{hold_a}/capture"), None, Some("cap"), json!({"amount": "5"}))
        .await;
    assert_eq!(captured.0, 201, "{}", captured.1);
    assert_verified(central).await;
}
