//! A `protus sidecar` child process for integration tests, with helpers to call it and read
//! its metrics.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::child::{PROTUS, follow_logs};

/// A `protus sidecar` child process, with every log line it wrote.
pub struct ChildSidecar {
    pub child: Child,
    pub base: String,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl ChildSidecar {
    pub fn start(central: &str, client: (&str, &str), data_dir: &Path) -> Self {
        Self::start_with(central, client, data_dir, &[])
    }

    /// `start` with extra flags; a `--listen` among them replaces the OS-chosen port.
    pub fn start_with(central: &str, client: (&str, &str), data_dir: &Path, extra: &[&std::ffi::OsStr]) -> Self {
        Self::start_with_env(central, client, data_dir, extra, &[])
    }

    /// `start_with` and these extra environment variables (e.g. libfaketime's).
    pub fn start_with_env(
        central: &str,
        client: (&str, &str),
        data_dir: &Path,
        extra: &[&std::ffi::OsStr],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let mut child = Command::new(PROTUS)
            .args(["sidecar", "--log-format", "json", "--central", central])
            .args(if extra.iter().any(|a| *a == "--listen") { &[][..] } else { &["--listen", "127.0.0.1:0"][..] })
            .args(["--client-id", client.0, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env("PROTUS_CLIENT_SECRET", client.1)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("protus binary starts");
        let (logs, listening) = follow_logs(child.stderr.take().expect("stderr is piped"), "sidecar listening");
        let listening = listening.recv_timeout(Duration::from_secs(30)).expect("sidecar logs its address within 30 s");
        let address = listening["address"].as_str().unwrap_or_default();
        ChildSidecar { child, base: format!("http://{address}"), logs }
    }

    /// The log events with this message.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.logs.lock().expect("log lock").iter().filter(|e| e["message"] == message).cloned().collect()
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM runs");
        self.child.wait().expect("reap")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the sidecar");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().await.expect("body"))
    }

    /// `POST /api/v1/direct-users` as a partner app does it: no credentials, only the key.
    pub async fn direct_user(&self, key: Option<&str>, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
        let mut request = reqwest::Client::new().post(format!("{}/api/v1/direct-users", self.base)).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("request reaches the sidecar");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().await.expect("body"))
    }

    /// A POST with an optional bearer token and `Idempotency-Key`; the status and the JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, key: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = reqwest::Client::new().post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("request reaches the sidecar");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Polls `path` until it answers `status`, for at most `within`; returns the last answer.
    pub async fn wait_for(&self, path: &str, token: Option<&str>, status: u16, within: Duration) -> (u16, String) {
        let deadline = Instant::now() + within;
        loop {
            let (got, _, body) = self.get(path, token).await;
            if got == status || Instant::now() >= deadline {
                return (got, body);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChildSidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn metric(text: &str, name: &str) -> i64 {
    let line = text.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '));
    line.and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}
