//! A real `protus central` process with its data dir on a 1 MiB tmpfs, filled through the API
//! until the disk is full: writing requests get 503 `storage_unavailable`, central logs the cause
//! and exits 75 by itself (fail-stop, docs/design.md "Storage failures"); after the tmpfs grows,
//! the restarted central holds every acknowledged top-up, retries settle once and verify is clean.
//!
//! The tmpfs is mounted in a private mount namespace, inside an unprivileged user namespace where
//! the kernel allows one (util-linux `unshare`/`nsenter`), so the test needs no root and leaves no
//! mount behind. Without either, the test fails and says why.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::child::{PROTUS, follow_logs};

/// A process holding a mount namespace with a tmpfs on `dir`; commands run inside it by `nsenter`.
struct TmpfsNamespace {
    holder: Child,
    user_namespace: bool,
    dir: PathBuf,
}

impl TmpfsNamespace {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `dir`, in a new user and mount
    /// namespace, or, as root where user namespaces are refused, in a new mount namespace.
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let attempts: &[(&[&str], bool)] = &[(&["--user", "--map-root-user", "--mount"], true), (&["--mount"], false)];
        let mut failures = Vec::new();
        for (flags, user_namespace) in attempts {
            let script = format!(
                "mount -t tmpfs -o size={size},mode=0700 tmpfs '{}' && echo mounted && exec sleep 100000",
                dir.display()
            );
            let mut holder = Command::new("unshare")
                .args(*flags)
                .args(["sh", "-c", &script])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("util-linux unshare runs (install util-linux)");
            let mut line = String::new();
            let stdout = holder.stdout.take().expect("stdout is piped");
            BufReader::new(stdout).read_line(&mut line).expect("read the holder's output");
            if line.trim() == "mounted" {
                return TmpfsNamespace { holder, user_namespace: *user_namespace, dir: dir.to_owned() };
            }
            let output = holder.wait_with_output().expect("reap the holder");
            failures.push(format!("unshare {}: {}", flags.join(" "), String::from_utf8_lossy(&output.stderr).trim()));
        }
        panic!(
            "cannot mount a tmpfs for the disk-full test: it needs unprivileged user namespaces \
             (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0) or root; tried {failures:?}"
        );
    }

    /// `program` run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command.arg("--target").arg(self.holder.id().to_string());
        if self.user_namespace {
            // Without root, nsenter cannot call setgroups in a namespace made by --map-root-user.
            command.args(["--user", "--preserve-credentials"]);
        }
        command.args(["--mount", "--", program]);
        command
    }

    fn resize(&self, size: &str) {
        let status = self
            .command("mount")
            // Not the options in /proc/self/mountinfo: their uid=<outer uid> is unmapped inside a
            // user namespace, and the kernel would refuse the remount.
            .args(["--options-source", "disable", "-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("nsenter runs");
        assert!(status.success(), "remounting the tmpfs with size {size} failed");
    }

    /// `protus central verify` on the data dir, inside the namespace: (exit code, output).
    fn verify(&self) -> (i32, String) {
        let output = self
            .command(PROTUS)
            .args(["central", "verify", "--data-dir"])
            .arg(&self.dir)
            .output()
            .expect("verify runs");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), text)
    }
}

impl Drop for TmpfsNamespace {
    fn drop(&mut self) {
        // The tmpfs goes with the last process of the namespace.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// `protus central` running inside the namespace, with its JSON log lines.
struct Central {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl Central {
    fn start(namespace: &TmpfsNamespace) -> Self {
        let mut child = namespace
            .command(PROTUS)
            .args([
                "central",
                "--log-format",
                "json",
                "--listen",
                "127.0.0.1:0",
                "--enable-test-provider",
                "--data-dir",
            ])
            .arg(&namespace.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("protus runs under nsenter");
        let (logs, ready) = follow_logs(child.stderr.take().expect("stderr is piped"), "central listening");
        let event = ready.recv_timeout(Duration::from_secs(30)).expect("central logs its address within 30 s");
        let base = format!("http://{}", event["address"].as_str().expect("an address"));
        Central { child, base, logs }
    }

    /// Waits (at most a minute) for central to exit by itself.
    fn wait_for_exit(&mut self) -> ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("central did not exit after its storage failed");
    }

    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("reap")
    }

    fn logged(&self, level: &str, message: &str) -> Vec<Value> {
        let logs = self.logs.lock().expect("log lock");
        logs.iter().filter(|e| e["level"] == level && e["message"] == message).cloned().collect()
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one top-up request got.
enum Sent {
    /// 201: acknowledged, with the top-up id.
    Created(String),
    /// 503 `storage_unavailable`.
    Refused,
    /// No answer: central had stopped listening.
    Unanswered,
}

async fn top_up(client: &reqwest::Client, base: &str, session: &str, key: &str) -> Sent {
    let sent = client
        .post(format!("{base}/api/v1/me/top-ups"))
        .bearer_auth(session)
        .header("idempotency-key", key)
        .json(&json!({"amount": "1.00"}))
        .send()
        .await;
    let Ok(response) = sent else { return Sent::Unanswered };
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Ok(body) = response.json::<Value>().await else { return Sent::Unanswered };
    match status {
        201 => Sent::Created(body["id"].as_str().expect("an id").to_owned()),
        503 => {
            assert_eq!(
                (body["code"].as_str(), retry_after.as_deref()),
                (Some("storage_unavailable"), Some("5")),
                "{body}"
            );
            Sent::Refused
        }
        other => panic!("a top-up on a full disk must be 201 or 503 storage_unavailable, not {other}: {body}"),
    }
}

async fn sign_up(client: &reqwest::Client, base: &str) -> String {
    let registered = client
        .post(format!("{base}/api/v1/customers"))
        .json(&json!({"email": "ann@x.io", "username": "ann", "password": "correct horse"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let session = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"kind": "customer", "email": "ann@x.io", "password": "correct horse"}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(session.status(), 201);
    session.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_owned()
}

/// Sends top-ups of 1.00 from `workers` concurrent clients, each until its first answer that is
/// not a 201: (acknowledged ids, keys answered 503, keys left unanswered).
async fn fill(base: &str, session: &str, workers: usize) -> (Vec<String>, Vec<String>, Vec<String>) {
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let (base, session) = (base.to_owned(), session.to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut created = Vec::new();
                for n in 0..20_000 {
                    let key = format!("fill-{worker}-{n}");
                    match top_up(&client, &base, &session, &key).await {
                        Sent::Created(id) => created.push(id),
                        Sent::Refused => return (created, vec![key], vec![]),
                        Sent::Unanswered => return (created, vec![], vec![key]),
                    }
                }
                panic!("20000 top-ups did not fill the tmpfs");
            })
        })
        .collect();
    let (mut created, mut refused, mut unanswered) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        let (c, r, u) = task.await.expect("a filling worker");
        created.extend(c);
        refused.extend(r);
        unanswered.extend(u);
    }
    (created, refused, unanswered)
}

/// Polls a top-up until it is no longer pending; returns its status.
async fn settled(client: &reqwest::Client, base: &str, session: &str, id: &str) -> String {
    for _ in 0..2000 {
        let response =
            client.get(format!("{base}/api/v1/me/top-ups/{id}")).bearer_auth(session).send().await.expect("read");
        assert_eq!(response.status(), 200, "acknowledged top-up {id} must survive");
        let body: Value = response.json().await.expect("json");
        if body["status"] != "pending" {
            return body["status"].as_str().unwrap_or_default().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("top-up {id} stayed pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_central_with_503s_and_a_restart_after_it_grows_loses_nothing() {
    // Proves that on a full tmpfs top-ups get 201 or 503 storage_unavailable (never 500), central logs ENOSPC and exits 75 by itself, and after the tmpfs grows a restarted central holds every acknowledged top-up, settles retries once, and verify is clean.
    let root = tempfile::tempdir().expect("temp dir");
    let namespace = TmpfsNamespace::mount(&root.path().join("data"), "1m");
    let mut central = Central::start(&namespace);
    let client = reqwest::Client::new();
    let session = sign_up(&client, &central.base).await;

    let (created, refused, unanswered) = fill(&central.base, &session, 4).await;
    assert!(!created.is_empty(), "some top-ups must fit before the disk is full");
    assert!(!refused.is_empty(), "a request in flight when the disk filled must get 503 storage_unavailable");
    let status = tokio::task::block_in_place(|| central.wait_for_exit());
    assert_eq!(status.code(), Some(75), "central must stop with EX_TEMPFAIL after a storage failure");
    let failures =
        central.logged("ERROR", "storage failed; the database must be reopened before it takes writes again");
    assert!(
        failures.iter().any(|e| e["error"].as_str().is_some_and(|cause| cause.contains("No space left on device"))),
        "central must log the cause: {failures:?}"
    );

    namespace.resize("16m");
    let mut central = Central::start(&namespace);
    // Every acknowledged top-up survived; central completes the pending ones at start.
    let mut settled_ids = Vec::new();
    for id in &created {
        assert_eq!(settled(&client, &central.base, &session, id).await, "succeeded");
        settled_ids.push(id.clone());
    }
    // A refused or unanswered top-up, retried with its key, is made or replayed, once.
    for key in refused.iter().chain(&unanswered) {
        let Sent::Created(id) = top_up(&client, &central.base, &session, key).await else {
            panic!("the retry of {key} must succeed once the disk has room");
        };
        assert!(!settled_ids.contains(&id), "key {key} answered with another request's top-up");
        assert_eq!(settled(&client, &central.base, &session, &id).await, "succeeded");
        settled_ids.push(id);
    }
    let me: Value = client
        .get(format!("{}/api/v1/me", central.base))
        .bearer_auth(&session)
        .send()
        .await
        .expect("read the wallet")
        .json()
        .await
        .expect("json");
    assert_eq!(me["wallet"]["available"], format!("{}.00", settled_ids.len()), "one credit per top-up, no more");
    let (code, output) = tokio::task::block_in_place(|| namespace.verify());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains(&format!("checked {} transfers", settled_ids.len())), "{output}");
    assert_eq!(tokio::task::block_in_place(|| central.terminate()).code(), Some(0));
    let (code, output) = tokio::task::block_in_place(|| namespace.verify());
    assert_eq!(code, 0, "{output}");
}
