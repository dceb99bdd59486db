//! `protus demo` as a child process, driven the way a browser drives it: sign-in with PROTUS
//! through the consent form, billed actions, insufficient funds, revoked access, charges not
//! allowed (the original 426), then SIGINT and a clean exit; a second run reuses the data.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::child::{PROTUS, follow_logs};
use crate::demo_support::{Browser, revoke_all_grants};
use crate::oauth_support::hidden;

struct Demo {
    child: Child,
    central: String,
    partner: String,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl Demo {
    fn start(data_dir: &Path) -> Demo {
        let mut child = Command::new(PROTUS)
            .args(["demo", "--log-format", "json", "--data-dir"])
            .arg(data_dir)
            .args(["--central-listen", "127.0.0.1:0", "--sidecar-listen", "127.0.0.1:0"])
            .args(["--partner-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("protus binary starts");
        let (logs, ready) = follow_logs(child.stderr.take().expect("stderr is piped"), "demo ready");
        let ready = ready.recv_timeout(Duration::from_secs(60)).expect("the demo is ready within 60 s");
        let field = |name: &str| ready[name].as_str().expect("an address").to_owned();
        Demo { child, central: field("central"), partner: field("partner"), logs }
    }

    fn logged(&self, message: &str) -> bool {
        self.logs.lock().expect("log lock").iter().any(|e| e["message"] == message)
    }

    /// SIGINT, as Ctrl-C sends, and the exit status with the walkthrough it printed.
    fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().expect("kill -INT runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "the demo did not exit within 30 s of SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        };
        // The log reader thread sees the last line once the pipe closes.
        let logged_by = Instant::now() + Duration::from_secs(5);
        while !self.logged("demo stopped cleanly") && Instant::now() < logged_by {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(self.logged("demo stopped cleanly"), "the demo logs its clean stop");
        let mut printed = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().expect("stdout"), &mut printed).expect("stdout");
        (status, printed)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_signs_in_bills_refuses_and_stops_cleanly_on_sigint() {
    // Proves `protus demo` serves the whole flow — PKCE sign-in, billed actions through the sidecar, 402, 401 after revocation, 426 without `charge` — and exits 0 on SIGINT.
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("protus-demo-data");
    let demo = Demo::start(&data_dir);

    let mut ann = Browser::new();
    let home = ann.sign_in(&demo.central, &demo.partner, "ann@example.com", &["check", "hold", "charge"]).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("check hold charge") && home.body.contains("100.00 RUB"), "{}", home.body);
    let added = ann.act(&demo.partner, "/customers", ("phone", "+7 900 111-22-33")).await;
    assert_eq!((added.status, added.location.as_str()), (303, "/"), "{}", added.body);
    let launched = ann.act(&demo.partner, "/campaigns", ("text", "Spring sale")).await;
    assert_eq!(launched.status, 303, "{}", launched.body);
    let page = ann.get(&format!("{}/", demo.partner)).await;
    assert!(page.body.contains("customer +7 900 111-22-33 — 2.00, invoice"), "{}", page.body);
    assert!(page.body.contains("campaign “Spring sale” — 10.00, invoice"), "{}", page.body);
    assert!(page.body.contains("88.00 RUB"), "the sidecar's balance shows both charges: {}", page.body);
    // A double submit of one form is charged and done once.
    let key = hidden(&page.body, "key");
    for _ in 0..2 {
        let again = ann.post(&format!("{}/customers", demo.partner), &[("key", &key), ("phone", "+7 1")]).await;
        assert_eq!(again.status, 303, "{}", again.body);
    }
    let page = ann.get(&format!("{}/", demo.partner)).await;
    assert_eq!(page.body.matches("customer +7 1 —").count(), 1, "{}", page.body);
    // Central books the sidecar's charges and signs a webhook for each, which the partner verifies.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = ann.get(&format!("{}/", demo.partner)).await;
        if page.body.matches("charge.settled: INV").count() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "three charge.settled webhooks within 20 s: {}", page.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut bob = Browser::new();
    let home = bob.sign_in(&demo.central, &demo.partner, "bob@example.com", &["check", "hold", "charge"]).await;
    assert!(home.body.contains("5.00 RUB"), "{}", home.body);
    let refused = bob.act(&demo.partner, "/campaigns", ("text", "Too dear")).await;
    assert_eq!(refused.status, 402, "{}", refused.body);
    assert!(refused.body.contains("id=\"insufficient-funds\""), "{}", refused.body);
    let page = bob.get(&format!("{}/", demo.partner)).await;
    assert!(
        page.body.contains("No campaigns yet.") && page.body.contains("5.00 RUB"),
        "nothing done, nothing charged: {}",
        page.body
    );

    revoke_all_grants(&demo.central, "ann@example.com").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tries = 0;
    let revoked = loop {
        tries += 1;
        let key = format!("after-revocation-{tries}");
        let fields = [("key", key.as_str()), ("phone", "+7 2")];
        let page = ann.post(&format!("{}/customers", demo.partner), &fields).await;
        if page.status != 303 {
            break page;
        }
        assert!(Instant::now() < deadline, "the revocation reaches the sidecar within 10 s");
    };
    assert_eq!(revoked.status, 401, "{}", revoked.body);
    assert!(revoked.body.contains("id=\"revoked\""), "{}", revoked.body);
    assert!(ann.get(&format!("{}/", demo.partner)).await.body.contains("Sign in with PROTUS"), "signed out");

    let mut ann_again = Browser::new();
    let home = ann_again.sign_in(&demo.central, &demo.partner, "ann@example.com", &["check"]).await;
    assert!(home.body.contains("<code id=\"scope\">check</code>"), "{}", home.body);
    let not_allowed = ann_again.act(&demo.partner, "/campaigns", ("text", "No charge scope")).await;
    assert_eq!(not_allowed.status, 426, "{}", not_allowed.body);
    assert!(not_allowed.body.contains("Вы запретили взимать плату за услуги сервиса."), "{}", not_allowed.body);

    let (status, printed) = demo.interrupt();
    assert!(status.success(), "{status:?}");
    assert!(printed.contains("Every account's password is demo-password."), "{printed}");

    // The data is kept: a second run starts without seeding again and serves the same wallets.
    let seed_file = std::fs::read(data_dir.join("demo.json")).expect("demo.json");
    let demo = Demo::start(&data_dir);
    let mut bob = Browser::new();
    let home = bob.sign_in(&demo.central, &demo.partner, "bob@example.com", &["check", "charge"]).await;
    assert!(home.body.contains("5.00 RUB"), "{}", home.body);
    assert_eq!(std::fs::read(data_dir.join("demo.json")).expect("demo.json"), seed_file);
    let (status, _) = demo.interrupt();
    assert!(status.success(), "{status:?}");
}
