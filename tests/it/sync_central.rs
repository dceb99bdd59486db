//! Central's side of sync (DESIGN §7) over HTTP: enrolment with client credentials, sidecar
//! authentication, the snapshot and the long-poll feed, each company seeing only its own data.

use std::time::{Duration, Instant};

use protus::vocab::limits::feed_retention_s;
use reqwest::Method;
use serde_json::{Value, json};

use crate::oauth_tokens::{Issued, issued, oauth_post};
use crate::support::{Answer, TestCentral};

/// A sidecar's credentials.
struct Sidecar {
    id: String,
    secret: String,
}

async fn enrol_raw(central: &TestCentral, basic: Option<(&str, &str)>) -> Answer {
    let mut request = central.client.post(format!("{}/sync/v1/sidecars", central.base));
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    answer(request).await
}

async fn enrol(central: &TestCentral, company: &Issued) -> Sidecar {
    let enrolled = enrol_raw(central, Some(company.client())).await;
    assert_eq!(enrolled.status, 201, "{}", enrolled.body);
    assert_eq!(enrolled.body["company_id"], company.client_id.as_str());
    Sidecar {
        id: enrolled.body["sidecar_id"].as_str().expect("an id").to_owned(),
        secret: enrolled.body["sidecar_secret"].as_str().expect("a secret").to_owned(),
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    Answer::read(request.send().await.expect("central answers")).await
}

async fn sync_get(central: &TestCentral, path: &str, basic: (&str, &str)) -> Answer {
    answer(central.client.get(format!("{}{path}", central.base)).basic_auth(basic.0, Some(basic.1))).await
}

async fn snapshot(central: &TestCentral, sidecar: &Sidecar) -> Value {
    let answer = sync_get(central, "/sync/v1/snapshot", (&sidecar.id, &sidecar.secret)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn events(central: &TestCentral, sidecar: &Sidecar, after: u64, wait: u64) -> Value {
    let path = format!("/sync/v1/events?after={after}&wait={wait}");
    let answer = sync_get(central, &path, (&sidecar.id, &sidecar.secret)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

fn cursor(body: &Value) -> u64 {
    body["cursor"].as_u64().expect("a cursor")
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|item| item[field].as_str().expect("an id").to_owned()).collect()
}

fn grant_id(company: &Issued) -> String {
    company.tokens["access_token"].as_str().map(claims).expect("an access token")["grant"]
        .as_str()
        .expect("a grant claim")
        .to_owned()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

async fn create_service(central: &TestCentral, company: &Issued, name: &str, price: &str) -> String {
    let created = central
        .post("/api/v1/company/services", Some(&company.company_session), json!({"name": name, "price": price}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_needs_the_company_client_credentials() {
    // Proves enrolment answers a fresh sidecar id and secret for good client credentials only.
    let central = TestCentral::start().await;
    let company = issued(&central, "Maps", "ann@x.io", &["check"]).await;
    let first = enrol(&central, &company).await;
    let second = enrol(&central, &company).await;
    assert!(first.id.starts_with("sc_") && first.secret.starts_with("scs_"), "{} {}", first.id, first.secret);
    assert_ne!((&first.id, &first.secret), (&second.id, &second.secret));
    enrol_raw(&central, None).await.assert_problem(401, "unauthorized");
    enrol_raw(&central, Some((&company.client_id, "cs_wrong"))).await.assert_problem(401, "unauthorized");
    enrol_raw(&central, Some(("co_unknown", &company.secret))).await.assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_calls_need_the_sidecar_secret_and_show_only_its_company() {
    // Proves sidecar auth refuses wrong or foreign credentials and the snapshot holds only the own company's data.
    let central = TestCentral::start().await;
    let a = issued(&central, "Maps", "ann@x.io", &["check", "charge"]).await;
    let b = issued(&central, "Mail", "bob@x.io", &["check"]).await;
    let (sidecar_a, sidecar_b) = (enrol(&central, &a).await, enrol(&central, &b).await);
    let service_a = create_service(&central, &a, "Routing", "1.50").await;
    let service_b = create_service(&central, &b, "Sending", "0.10").await;

    for basic in [
        (sidecar_a.id.as_str(), sidecar_b.secret.as_str()),
        (sidecar_a.id.as_str(), "scs_wrong"),
        (a.client_id.as_str(), a.secret.as_str()),
        ("sc_unknown", sidecar_a.secret.as_str()),
    ] {
        for path in ["/sync/v1/snapshot", "/sync/v1/events?after=0"] {
            sync_get(&central, path, basic).await.assert_problem(401, "unauthorized");
        }
    }
    central.get("/sync/v1/snapshot", None).await.assert_problem(401, "unauthorized");

    let seen = snapshot(&central, &sidecar_a).await;
    assert_eq!(seen["issuer"], central.base.as_str());
    assert!(seen["currency"].as_str().is_some_and(|c| c.len() == 3), "{seen}");
    assert_eq!(ids(&seen["grants"], "grant_id"), vec![grant_id(&a)]);
    assert_eq!(seen["grants"][0]["scope"], "check charge");
    assert_eq!(seen["grants"][0]["status"], "active");
    assert_eq!(ids(&seen["services"], "id"), vec![service_a]);
    assert_eq!(seen["services"][0]["price"], "1.50");
    let jwks = central.get("/.well-known/jwks.json", None).await;
    assert_eq!(seen["keys"], jwks.body["keys"]);
    let seen_b = snapshot(&central, &sidecar_b).await;
    assert_eq!(ids(&seen_b["grants"], "grant_id"), vec![grant_id(&b)]);
    assert_eq!(ids(&seen_b["services"], "id"), vec![service_b]);
    assert_eq!(cursor(&seen), cursor(&seen_b), "nothing changed between the two snapshots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_carries_revocations_and_narrowing_after_the_snapshot_cursor() {
    // Proves a token revoked by the company and a grant narrowed then revoked by the person reach the feed in order.
    let central = TestCentral::start().await;
    let a = issued(&central, "Maps", "ann@x.io", &["check", "hold", "charge"]).await;
    let sidecar = enrol(&central, &a).await;
    let start = cursor(&snapshot(&central, &sidecar).await);
    let access = a.access();
    let (status, _, body) = oauth_post(&central, "/oauth/revoke", Some(a.client()), &[("token", &access)]).await;
    assert_eq!(status, 200, "{body}");
    let grant = grant_id(&a);
    let path = format!("/api/v1/me/grants/{grant}");
    let narrowed = central.patch(&path, Some(&a.customer_session), json!({"scope": "check"})).await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    let revoked = central.call(Method::DELETE, &path, Some(&a.customer_session), None, &[]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);

    let page = events(&central, &sidecar, start, 0).await;
    let entries = page["events"].as_array().expect("events");
    assert_eq!(entries.len(), 3, "{page}");
    let token = claims(&access);
    assert_eq!(
        (&entries[0]["kind"], &entries[0]["jti"], &entries[0]["exp"]),
        (&json!("token_revoked"), &token["jti"], &token["exp"])
    );
    assert_eq!((&entries[1]["kind"], &entries[1]["grant_id"]), (&json!("grant"), &json!(grant)));
    assert_eq!((&entries[1]["scope"], &entries[1]["status"]), (&json!("check"), &json!("active")));
    assert_eq!((&entries[2]["scope"], &entries[2]["status"]), (&json!("check"), &json!("revoked")));
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().expect("a seq")).collect();
    assert!(seqs[0] > start && seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(cursor(&page), seqs[2]);
    assert!(entries.iter().all(|e| e["at"].as_str().is_some()));

    let next = events(&central, &sidecar, cursor(&page), 0).await;
    assert_eq!(next, json!({"events": [], "cursor": cursor(&page)}));
    let seen = snapshot(&central, &sidecar).await;
    assert_eq!(cursor(&seen), cursor(&page), "the snapshot is current to the same change");
    assert_eq!(seen["revoked"], json!([{"jti": token["jti"], "exp": token["exp"]}]));
    assert_eq!(seen["grants"][0]["status"], "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_advance_past_other_companies_changes() {
    // Proves a sidecar never sees another company's changes yet its cursor moves past them.
    let central = TestCentral::start().await;
    let a = issued(&central, "Maps", "ann@x.io", &["check"]).await;
    let b = issued(&central, "Mail", "bob@x.io", &["check"]).await;
    let sidecar_b = enrol(&central, &b).await;
    let start = cursor(&snapshot(&central, &sidecar_b).await);
    create_service(&central, &a, "Routing", "1.50").await;
    let path = format!("/api/v1/me/grants/{}", grant_id(&a));
    let revoked = central.call(Method::DELETE, &path, Some(&a.customer_session), None, &[]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let page = events(&central, &sidecar_b, start, 0).await;
    assert_eq!(page["events"], json!([]));
    assert_eq!(cursor(&page), start + 2, "both of the other company's changes were examined");
    let everything = events(&central, &sidecar_b, 0, 0).await;
    let foreign: Vec<&Value> = everything["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["grant_id"] == grant_id(&a).as_str())
        .collect();
    assert!(foreign.is_empty(), "{everything}");
    assert!(everything["events"].as_array().expect("events").iter().any(|e| e["grant_id"] == grant_id(&b).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_changes_appear_in_the_feed() {
    // Proves creating, repricing and deactivating a service each reach the company's feed.
    let central = TestCentral::start().await;
    let a = issued(&central, "Maps", "ann@x.io", &["check"]).await;
    let sidecar = enrol(&central, &a).await;
    let start = cursor(&snapshot(&central, &sidecar).await);
    let id = create_service(&central, &a, "Routing", "1.50").await;
    let path = format!("/api/v1/company/services/{id}");
    let updated = central.patch(&path, Some(&a.company_session), json!({"price": "2", "active": false})).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let page = events(&central, &sidecar, start, 0).await;
    let services: Vec<Value> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| json!([e["kind"], e["id"], e["name"], e["price"], e["active"]]))
        .collect();
    assert_eq!(
        services,
        vec![json!(["service", id, "Routing", "1.50", true]), json!(["service", id, "Routing", "2.00", false])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_waits_for_a_change_and_answers_empty_when_none_comes() {
    // Proves an idle long-poll answers an empty page after its wait, and one that sees a change answers at once.
    let central = TestCentral::start().await;
    let a = issued(&central, "Maps", "ann@x.io", &["check"]).await;
    let sidecar = enrol(&central, &a).await;
    let start = cursor(&snapshot(&central, &sidecar).await);
    let began = Instant::now();
    let idle = events(&central, &sidecar, start, 1).await;
    assert_eq!(idle, json!({"events": [], "cursor": start}));
    assert!(began.elapsed() >= Duration::from_millis(900), "answered after {:?}", began.elapsed());

    let began = Instant::now();
    let (page, _) = tokio::join!(events(&central, &sidecar, start, 25), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        create_service(&central, &a, "Routing", "1.50").await
    });
    assert_eq!(page["events"][0]["kind"], "service", "{page}");
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the change woke the poll; answered after {:?}",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_or_unknown_cursor_is_gone_and_a_malformed_one_refused() {
    // Proves 410 `gone` for a cursor older than the kept log (pruned by central's own housekeeping after 7 days) or ahead of it, and 422 for bad parameters.
    let mut central = TestCentral::start().await;
    let a = issued(&central, "Maps", "ann@x.io", &["check"]).await;
    let sidecar = enrol(&central, &a).await;
    let basic = (sidecar.id.as_str(), sidecar.secret.as_str());
    for query in ["after=abc", "after=-1", "", "after=0&wait=26", "after=0&wait=x", "after=0&other=1"] {
        let answer = sync_get(&central, &format!("/sync/v1/events?{query}"), basic).await;
        assert!(matches!(answer.status.as_u16(), 400 | 422), "{query}: {}", answer.body);
        assert_eq!(answer.content_type(), "application/problem+json", "{query}");
    }
    let latest = cursor(&snapshot(&central, &sidecar).await);
    sync_get(&central, &format!("/sync/v1/events?after={}", latest + 1), basic).await.assert_problem(410, "gone");

    assert_eq!(sync_get(&central, "/sync/v1/events?after=0", basic).await.status, 200, "kept while young");
    central.clock.advance_s(feed_retention_s + 3600);
    // Housekeeping runs at start and then hourly: a restart makes it run now.
    central.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut gone = sync_get(&central, "/sync/v1/events?after=0", basic).await;
    while gone.status != 410 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        gone = sync_get(&central, "/sync/v1/events?after=0", basic).await;
    }
    gone.assert_problem(410, "gone");
    let fresh = snapshot(&central, &sidecar).await;
    assert_eq!(cursor(&fresh), latest, "the cursor survives pruning");
    assert_eq!(events(&central, &sidecar, latest, 0).await, json!({"events": [], "cursor": latest}));
    // Sessions ended with the days that passed; sign the company in again.
    let session = central.sign_in("company", "ops@maps.io", "company pass").await;
    let created =
        central.post("/api/v1/company/services", Some(&session), json!({"name": "Routing", "price": "1"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(events(&central, &sidecar, latest, 0).await["events"][0]["kind"], "service");
}
