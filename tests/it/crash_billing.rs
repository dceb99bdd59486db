//! Crash safety of billing: a central killed with SIGKILL during a stream of charges and webhook
//! deliveries reopens with every acknowledged charge present, `verify` clean, and every
//! `charge.settled` event still delivered.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use serde_json::{Value, json};

use crate::child::{ChildCentral, verify};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-for-rfc-7636-0123456789";

/// A webhook receiver on 127.0.0.1:0 that records each `charge.settled` charge id.
async fn receiver() -> (String, Arc<Mutex<BTreeSet<String>>>) {
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        post(move |body: axum::Json<Value>| {
            let record = record.clone();
            async move {
                if body["type"] == "charge.settled"
                    && let Some(id) = body["data"]["id"].as_str()
                {
                    record.lock().expect("lock").insert(id.to_owned());
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver serves") });
    (url, seen)
}

async fn json_call(http: &reqwest::Client, request: reqwest::RequestBuilder) -> Value {
    let _ = http;
    request.send().await.expect("request").json().await.unwrap_or_default()
}

/// Company, customer, funds and an access token through the real code flow.
async fn connect(http: &reqwest::Client, base: &str, webhook_url: &str) -> String {
    let company = json_call(
        http,
        http.post(format!("{base}/api/v1/companies"))
            .json(&json!({"name": "Messages", "email": "ops@m.io", "password": "company pass"})),
    )
    .await;
    let (client_id, secret) = (
        company["client_id"].as_str().expect("id").to_owned(),
        company["client_secret"].as_str().expect("secret").to_owned(),
    );
    let session = json_call(
        http,
        http.post(format!("{base}/api/v1/sessions"))
            .json(&json!({"kind": "company", "email": "ops@m.io", "password": "company pass"})),
    )
    .await;
    let company_token = session["token"].as_str().expect("token");
    json_call(
        http,
        http.patch(format!("{base}/api/v1/company"))
            .bearer_auth(company_token)
            .json(&json!({"redirect_uris": [REDIRECT], "webhook_url": webhook_url})),
    )
    .await;
    json_call(
        http,
        http.post(format!("{base}/api/v1/customers"))
            .json(&json!({"email": "ann@x.io", "username": "ann", "password": "correct horse"})),
    )
    .await;
    let session = json_call(
        http,
        http.post(format!("{base}/api/v1/sessions"))
            .json(&json!({"kind": "customer", "email": "ann@x.io", "password": "correct horse"})),
    )
    .await;
    let customer = session["token"].as_str().expect("token").to_owned();
    let top_up = json_call(
        http,
        http.post(format!("{base}/api/v1/me/top-ups"))
            .bearer_auth(&customer)
            .header("idempotency-key", "fund")
            .json(&json!({"amount": "100000.00"})),
    )
    .await;
    let top_up_id = top_up["id"].as_str().expect("top-up id");
    for _ in 0..200 {
        let state =
            json_call(http, http.get(format!("{base}/api/v1/me/top-ups/{top_up_id}")).bearer_auth(&customer)).await;
        if state["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "check charge"),
            ("code_challenge", &protus::domain::pkce::s256(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let page = http.get(format!("{base}/oauth/authorize?{query}")).send().await.expect("page");
    // The form's CSRF token is bound to the browser cookie the page sets; the post carries it.
    let cookie = page.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    let page = page.text().await.expect("html");
    let hidden = |name: &str| crate::oauth_support::hidden(&page, name);
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("request_id", hidden("request_id").as_str()),
            ("csrf_token", hidden("csrf_token").as_str()),
            ("email", "ann@x.io"),
            ("password", "correct horse"),
            ("granted_scope", "check"),
            ("granted_scope", "charge"),
            ("decision", "allow"),
        ])
        .finish();
    let answer = crate::oauth_support::no_redirects()
        .post(format!("{base}/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(form)
        .send()
        .await
        .expect("consent");
    let location = answer.headers()["location"].to_str().expect("location").to_owned();
    let code = form_urlencoded::parse(location.split_once('?').expect("query").1.as_bytes())
        .find(|(n, _)| n == "code")
        .expect("code")
        .1
        .into_owned();
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .finish();
    let tokens = json_call(
        http,
        http.post(format!("{base}/oauth/token"))
            .basic_auth(&client_id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await;
    tokens["access_token"].as_str().expect("access token").to_owned()
}

/// Charges one after another until the deadline or the first failure; returns the ids answered 201.
async fn stream_charges(
    http: reqwest::Client,
    base: String,
    token: String,
    round: usize,
    until: Instant,
) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for i in 0.. {
        if Instant::now() > until {
            break;
        }
        let sent = http
            .post(format!("{base}/api/v1/billing/charges"))
            .bearer_auth(&token)
            .header("idempotency-key", format!("r{round}-{i}"))
            .json(&json!({"amount": "1.00", "description": "sms"}))
            .send()
            .await;
        let Ok(response) = sent else { break };
        if response.status() != 201 {
            break;
        }
        let Ok(charge) = response.json::<Value>().await else { break };
        acknowledged.push(charge["id"].as_str().expect("id").to_owned());
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_charges_and_deliveries_loses_nothing() {
    // Proves acknowledged charges survive SIGKILL, the ledger verifies, and every charge.settled still arrives.
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let (hook, delivered) = receiver().await;
    let mut central =
        ChildCentral::start_with(dir.path(), &["--allow-private-webhooks", "--public-url", "http://protus.test"]);
    let token = connect(&http, &central.base, &hook).await;
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let stream = tokio::spawn(stream_charges(
            http.clone(),
            central.base.clone(),
            token.clone(),
            round,
            Instant::now() + Duration::from_secs(30),
        ));
        tokio::time::sleep(Duration::from_millis(600 + 300 * round as u64)).await;
        central.kill();
        acknowledged.extend(stream.await.expect("stream"));
        central =
            ChildCentral::start_with(dir.path(), &["--allow-private-webhooks", "--public-url", "http://protus.test"]);
    }
    assert!(acknowledged.len() >= 3, "the stream made progress: {}", acknowledged.len());
    for id in &acknowledged {
        let charge =
            json_call(&http, http.get(format!("{}/api/v1/billing/charges/{id}", central.base)).bearer_auth(&token))
                .await;
        assert_eq!(charge["status"], "settled", "acknowledged charge {id} survived");
    }
    let (code, output) = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || verify(&dir)
    })
    .await
    .expect("verify");
    assert_eq!(code, 0, "{output}");
    // Every acknowledged charge's event is delivered, after the restarts, by the durable outbox.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let missing: Vec<String> = {
            let seen = delivered.lock().expect("lock");
            acknowledged.iter().filter(|id| !seen.contains(*id)).cloned().collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} charge.settled events never arrived, e.g. {}",
            missing.len(),
            missing[0]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(central.terminate().code(), Some(0));
}
