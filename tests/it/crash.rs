//! Crash safety: a central killed with SIGKILL during a stream of top-ups loses nothing it acknowledged.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::child::{ChildCentral, verify};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Value,
    ) -> reqwest::Result<(u16, Value)> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Result<Value> {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await?.json().await
    }
}

/// Top-ups one after another until the deadline; returns the ids seen `succeeded`.
async fn stream_top_ups(client: &Client, token: &str, round: usize, until: Instant) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for i in 0.. {
        if Instant::now() > until {
            break;
        }
        let key = format!("r{round}-{i}");
        let Ok((201, started)) =
            client.post("/api/v1/me/top-ups", Some(token), Some(&key), json!({"amount": "1.25"})).await
        else {
            break;
        };
        let id = started["id"].as_str().expect("id").to_owned();
        loop {
            match client.get(&format!("/api/v1/me/top-ups/{id}"), token).await {
                Ok(top_up) if top_up["status"] == "succeeded" => {
                    acknowledged.push(id);
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(_) => return acknowledged,
            }
        }
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_top_ups_loses_no_acknowledged_top_up() {
    // Proves every top-up seen succeeded before a SIGKILL is present after restart and `verify` stays clean.
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let first = ChildCentral::start(dir.path());
    let client = Client { http: http.clone(), base: first.base.clone() };
    let (status, _) = client
        .post(
            "/api/v1/customers",
            None,
            None,
            json!({"email": "ann@x.io", "username": "ann", "password": "correct horse"}),
        )
        .await
        .expect("register");
    assert_eq!(status, 201);
    let (_, session) = client
        .post(
            "/api/v1/sessions",
            None,
            None,
            json!({"kind": "customer", "email": "ann@x.io", "password": "correct horse"}),
        )
        .await
        .expect("sign in");
    let token = session["token"].as_str().expect("token").to_owned();

    let mut acknowledged = Vec::new();
    let mut central = first;
    for round in 0..3 {
        let client = Client { http: http.clone(), base: central.base.clone() };
        // Kill while a top-up stream is in full flow: the stream runs in the background.
        let token_for_stream = token.clone();
        let stream = tokio::spawn(async move {
            stream_top_ups(&client, &token_for_stream, round, Instant::now() + Duration::from_secs(30)).await
        });
        tokio::time::sleep(Duration::from_millis(700 + 300 * round as u64)).await;
        central.kill();
        acknowledged.extend(stream.await.expect("stream task"));
        central = ChildCentral::start(dir.path());
    }
    assert!(acknowledged.len() >= 3, "the stream made progress: {}", acknowledged.len());
    eprintln!("{} top-ups acknowledged across 3 kills", acknowledged.len());

    let client = Client { http, base: central.base.clone() };
    for id in &acknowledged {
        let top_up = client.get(&format!("/api/v1/me/top-ups/{id}"), &token).await.expect("top-up");
        assert_eq!(top_up["status"], "succeeded", "acknowledged top-up {id} survived");
    }
    let me = client.get("/api/v1/me", &token).await.expect("me");
    let mut credited = 0;
    let mut cursor = String::new();
    loop {
        let page =
            client.get(&format!("/api/v1/me/operations?limit=200&cursor={cursor}"), &token).await.expect("statement");
        credited += page["items"].as_array().expect("items").len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert!(credited >= acknowledged.len());
    let expected = rust_decimal::Decimal::new(125, 2) * rust_decimal::Decimal::from(credited);
    assert_eq!(me["wallet"]["available"].as_str().expect("available"), format!("{expected:.2}"));

    // Verify through the admin socket while central runs, then on the file after a clean stop.
    let (code, output) = verify(dir.path());
    assert_eq!(code, 0, "{output}");
    assert_eq!(central.terminate().code(), Some(0));
    let (code, output) = verify(dir.path());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("ledger OK"), "{output}");
}
