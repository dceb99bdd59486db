//! A `protus central` child process (the real binary), for crash and CLI tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PROTUS: &str = env!("CARGO_BIN_EXE_protus");

/// A central running as its own process.
pub struct ChildCentral {
    pub child: Child,
    pub base: String,
}

impl ChildCentral {
    /// Starts `protus central` on an OS-chosen port and waits for its "listening" log line.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// `start` with extra flags.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_on(data_dir, "127.0.0.1:0", extra)
    }

    /// `start_with` on a chosen address (a restart on the port the sidecars know).
    pub fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(PROTUS)
            .args(["central", "--log-format", "json", "--listen", listen, "--enable-test-provider", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("protus binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent
                    && let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "central listening"
                {
                    let _ = sender.send(event["address"].as_str().unwrap_or_default().to_owned());
                    sent = true;
                }
            }
        });
        let address = receiver.recv_timeout(Duration::from_secs(30)).expect("central logs its address within 30 s");
        ChildCentral { child, base: format!("http://{address}") }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM runs");
        self.child.wait().expect("reap")
    }
}

impl Drop for ChildCentral {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `protus central verify --data-dir D`; returns (exit code, stdout).
pub fn verify(data_dir: &Path) -> (i32, String) {
    let output =
        Command::new(PROTUS).args(["central", "verify", "--data-dir"]).arg(data_dir).output().expect("verify runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// Every JSON log line a child writes to `stderr`, kept as it comes, and the first line whose
/// message is `ready` (sent once).
pub fn follow_logs(
    stderr: std::process::ChildStderr,
    ready: &'static str,
) -> (std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>, std::sync::mpsc::Receiver<serde_json::Value>) {
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (sender, receiver) = std::sync::mpsc::channel();
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if event["message"] == ready {
                let _ = sender.send(event.clone());
            }
            kept.lock().expect("log lock").push(event);
        }
    });
    (logs, receiver)
}
