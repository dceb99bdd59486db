//! A webhook receiver for tests: a real HTTP server on 127.0.0.1:0 that records every request
//! and answers each as its script says (by webhook-id and how often that id came before).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use protus::domain::webhook_signature::{SignatureError, SignedHeaders, verify};
use protus::vocab::time::Timestamp;
use serde_json::Value;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Holds the request far past any webhook timeout.
    Hang,
}

type Script = Box<dyn Fn(&str, usize) -> Reply + Send + Sync>;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn id(&self) -> &str {
        self.header("webhook-id")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The crate's own verifier, at the request's own timestamp, with `signature` as the header.
    pub fn verify_with(&self, secret: &str, signature: &str) -> Result<(), SignatureError> {
        let timestamp = self.header("webhook-timestamp");
        let now = Timestamp::from_unix_ms(timestamp.parse::<i64>().expect("unix seconds") * 1000);
        verify(secret, SignedHeaders { id: self.id(), timestamp, signature }, &self.body, now)
    }

    pub fn verify(&self, secret: &str) -> Result<(), SignatureError> {
        self.verify_with(secret, self.header("webhook-signature"))
    }
}

struct Inner {
    requests: Mutex<Vec<Received>>,
    script: Mutex<Script>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let reply = {
        let mut requests = inner.requests.lock().expect("lock");
        let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let before = requests.iter().filter(|r| r.id() == id).count();
        requests.push(Received { headers, body });
        (inner.script.lock().expect("lock"))(&id, before)
    };
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).expect("status"),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            StatusCode::NO_CONTENT
        }
    }
}

impl Receiver {
    /// Starts a receiver answering as `script(webhook_id, earlier_requests_with_that_id)` says.
    pub async fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Self {
        let inner = Arc::new(Inner { requests: Mutex::new(Vec::new()), script: Mutex::new(Box::new(script)) });
        let app = axum::Router::new().route("/hook", post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, inner }
    }

    /// Answers later requests as `script` says.
    pub fn set_script(&self, script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) {
        *self.inner.script.lock().expect("lock") = Box::new(script);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.inner.requests.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.inner.requests.lock().expect("lock").len()
    }
}
