//! Test harness: a real central on 127.0.0.1:0 with a temp data dir and a manual clock, and a
//! small HTTP client around reqwest.

use std::sync::Arc;

use protus::central::config::CentralConfig;
use protus::central::server::{self, RunningCentral};
use protus::vocab::time::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A running central and what a test needs to talk to it.
pub struct TestCentral {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    running: Option<RunningCentral>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Reads a whole response: its body as JSON, `Null` when empty, a string when not JSON.
    pub async fn read(response: reqwest::Response) -> Answer {
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer { status, headers, body }
    }

    /// The problem `code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// Asserts an RFC 9457 answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!((self.status.as_u16(), self.code()), (status, code), "body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "body: {}", self.body);
    }
}

impl TestCentral {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the test provider on, after `adjust` changes the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut CentralConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = CentralConfig::for_tests(dir.path().to_owned());
        adjust(&mut config);
        let clock = ManualClock::starting_now();
        let running = server::start(config, clock.clone()).await.expect("central starts");
        Self::around(running, clock, dir)
    }

    /// Starts central on a store the test opened over `dir` (a fault-injecting backend).
    pub async fn start_on_store(dir: tempfile::TempDir, store: protus::storage::Store) -> Self {
        let config = CentralConfig::for_tests(dir.path().to_owned());
        let clock = ManualClock::starting_now();
        let running = server::start_on_store(config, clock.clone(), store).await.expect("central starts");
        Self::around(running, clock, dir)
    }

    fn around(running: RunningCentral, clock: Arc<ManualClock>, dir: tempfile::TempDir) -> Self {
        TestCentral {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            clock,
            dir,
            running: Some(running),
        }
    }

    /// Stops central cleanly, keeping the data dir.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }

    /// Starts central again on the same data dir (a new port).
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    /// `restart`, after `adjust` changes the configuration.
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut CentralConfig)) {
        self.stop().await;
        let mut config = CentralConfig::for_tests(self.dir.path().to_owned());
        adjust(&mut config);
        let running = server::start(config, self.clock.clone()).await.expect("central restarts");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// Starts central again on the same data dir and the same address, as a process restart does.
    pub async fn restart_on_same_port(&mut self) {
        self.stop().await;
        let mut config = CentralConfig::for_tests(self.dir.path().to_owned());
        config.listen = self.base.trim_start_matches("http://").parse().expect("a socket address");
        config.public_url = Some(self.base.clone());
        let running = server::start(config, self.clock.clone()).await.expect("central restarts");
        self.running = Some(running);
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Answer::read(request.send().await.expect("request reaches central")).await
    }

    /// The running node's shared state, for white-box checks.
    pub fn state(&self) -> protus::central::state::SharedState {
        self.running.as_ref().expect("central is running").state.clone()
    }

    /// POSTs raw JSON bytes to /api/v1/me/top-ups with an Idempotency-Key.
    pub async fn raw_with_key(&self, token: &str, key: &str, body: Vec<u8>) -> Answer {
        let response = self
            .client
            .post(format!("{}/api/v1/me/top-ups", self.base))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request reaches central");
        let status = response.status();
        let headers = response.headers().clone();
        Answer { status, headers, body: response.json().await.unwrap_or_default() }
    }

    /// The running node's store, for seeding what no endpoint creates yet.
    pub fn store(&self) -> protus::storage::Store {
        self.running.as_ref().expect("central is running").state.store.clone()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None, &[]).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PATCH, path, token, Some(body), &[]).await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let mut request =
            self.client.request(method, format!("{}{path}", self.base)).header("content-type", content_type).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches central");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// Registers a customer and signs them in; returns (customer id, session token).
    pub async fn customer(&self, email: &str) -> (String, String) {
        let registered = self
            .post("/api/v1/customers", None, json!({"email": email, "username": "person", "password": "correct horse"}))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        let token = self.sign_in("customer", email, "correct horse").await;
        (registered.body["id"].as_str().expect("id").to_owned(), token)
    }

    /// Registers a company and signs it in; returns (registration answer, session token).
    pub async fn company(&self, name: &str, email: &str) -> (Value, String) {
        let registered = self
            .post("/api/v1/companies", None, json!({"name": name, "email": email, "password": "company pass"}))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        let token = self.sign_in("company", email, "company pass").await;
        (registered.body, token)
    }

    pub async fn sign_in(&self, kind: &str, email: &str, password: &str) -> String {
        let session =
            self.post("/api/v1/sessions", None, json!({"kind": kind, "email": email, "password": password})).await;
        assert_eq!(session.status, 201, "{}", session.body);
        session.body["token"].as_str().expect("token").to_owned()
    }

    /// POSTs a top-up of `amount` (any JSON, to test bad ones) with `key`, without waiting.
    pub async fn start_top_up(&self, token: &str, amount: Value, key: &str) -> Answer {
        self.call(
            Method::POST,
            "/api/v1/me/top-ups",
            Some(token),
            Some(json!({"amount": amount})),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// Starts a top-up with `key` and waits until the provider's callback completed it.
    pub async fn top_up(&self, token: &str, amount: &str, key: &str) -> Value {
        let started = self
            .call(
                Method::POST,
                "/api/v1/me/top-ups",
                Some(token),
                Some(json!({"amount": amount})),
                &[("idempotency-key", key)],
            )
            .await;
        assert_eq!(started.status, 201, "{}", started.body);
        let id = started.body["id"].as_str().expect("id").to_owned();
        self.wait_top_up(token, &id).await
    }

    /// Polls a top-up until it is no longer pending.
    pub async fn wait_top_up(&self, token: &str, id: &str) -> Value {
        for _ in 0..200 {
            let top_up = self.get(&format!("/api/v1/me/top-ups/{id}"), Some(token)).await;
            if top_up.body["status"] != "pending" {
                return top_up.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("top-up {id} stayed pending");
    }

    pub async fn wallet(&self, token: &str) -> Value {
        self.get("/api/v1/me", Some(token)).await.body["wallet"].clone()
    }
}

impl Drop for TestCentral {
    fn drop(&mut self) {
        // A test that panicked leaves its server; the runtime ending stops it.
        let _ = self.running.take();
    }
}
