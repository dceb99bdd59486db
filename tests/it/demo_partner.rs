//! `protus demo partner` as its own process beside a `protus central` and a `protus sidecar`
//! child, wired the way deploy/docker-compose.yml wires them: the partner seeds central, writes
//! the sidecar's credentials to `sidecar.env`, and the sidecar started from that file bills.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::child::{ChildCentral, PROTUS, follow_logs};
use crate::demo_support::{Browser, demo_session};
use crate::sidecar_support::ChildSidecar;

struct StandalonePartner {
    child: Child,
    base: String,
    central: String,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl StandalonePartner {
    /// Starts it on `port`, reached by browsers as `localhost` and by central as `127.0.0.1`.
    fn start(central: &str, sidecar: &str, port: u16, data_dir: &Path) -> StandalonePartner {
        let mut child = Command::new(PROTUS)
            .args(["demo", "partner", "--log-format", "json", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &format!("http://localhost:{port}")])
            .args(["--internal-url", &format!("http://127.0.0.1:{port}")])
            .args(["--central", central, "--sidecar", sidecar, "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("protus binary starts");
        let (logs, ready) = follow_logs(child.stderr.take().expect("stderr is piped"), "demo partner ready");
        let ready = ready.recv_timeout(Duration::from_secs(60)).expect("the partner is ready within 60 s");
        let field = |name: &str| ready[name].as_str().expect("an address").to_owned();
        StandalonePartner { child, base: field("partner"), central: field("central"), logs }
    }

    /// SIGINT, and the exit status once it logged its clean stop.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().expect("kill -INT runs");
        let status = self.child.wait().expect("reap");
        let logged_by = Instant::now() + Duration::from_secs(5);
        let stopped =
            || self.logs.lock().expect("log lock").iter().any(|e| e["message"] == "demo partner stopped cleanly");
        while !stopped() && Instant::now() < logged_by {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(stopped(), "the partner logs its clean stop");
        status
    }
}

impl Drop for StandalonePartner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `KEY=value` lines of `sidecar.env`, comments left out.
fn sidecar_env(data_dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(data_dir.join("sidecar.env")).expect("sidecar.env is written");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).expect("KEY=value"))
        .collect()
}

/// The demo company's settings as central keeps them.
async fn company_settings(central: &str) -> Value {
    let http = reqwest::Client::new();
    let token = demo_session(&http, central, "company", "team@messages.example").await;
    let response = http.get(format!("{central}/api/v1/company")).bearer_auth(token).send().await.expect("company");
    response.json().await.expect("json")
}

/// A port nobody listens on now, for the sidecar the partner is told about before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_partner_seeds_central_hands_the_sidecar_its_credentials_and_bills_through_it() {
    // Proves `protus demo partner` works as compose runs it: seeding over HTTP, credentials in an
    // owner-only sidecar.env, sign-in and a charge through a sidecar started from that file, the
    // charge.settled webhook verified, a clean SIGINT stop, and a second run reusing its seed.
    let dir = tempfile::tempdir().expect("temp dir");
    let central = ChildCentral::start_with(&dir.path().join("central"), &["--allow-private-webhooks"]);
    let sidecar_url = format!("http://127.0.0.1:{}", free_port());
    let partner_dir = dir.path().join("partner");
    let port = free_port();
    let partner = StandalonePartner::start(&central.base, &sidecar_url, port, &partner_dir);
    assert_eq!(partner.central, central.base, "browsers are sent to central's issuer URL");
    assert_eq!(partner.base, format!("http://localhost:{port}"));
    let company = company_settings(&central.base).await;
    assert_eq!(company["redirect_uris"], json!([format!("http://localhost:{port}/callback")]));
    assert_eq!(company["webhook_url"], format!("http://127.0.0.1:{port}/webhooks"), "webhooks go to the internal URL");

    let env = sidecar_env(&partner_dir);
    let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["PROTUS_CLIENT_ID", "PROTUS_CLIENT_SECRET"]);
    assert!(env[0].1.starts_with("co_"), "{env:?}");
    let mode = std::fs::metadata(partner_dir.join("sidecar.env")).expect("metadata").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "sidecar.env is owner-only");
    let listen = sidecar_url.trim_start_matches("http://");
    let sidecar = ChildSidecar::start_with(
        &central.base,
        (&env[0].1, &env[1].1),
        &dir.path().join("sidecar"),
        &["--listen".as_ref(), listen.as_ref()],
    );
    assert_eq!(sidecar.base, sidecar_url);

    let mut ann = Browser::new();
    let home = ann.sign_in(&partner.central, &partner.base, "ann@example.com", &["check", "hold", "charge"]).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("100.00 RUB"), "the seeded wallet, read through the sidecar: {}", home.body);
    let launched = ann.act(&partner.base, "/campaigns", ("text", "Autumn sale")).await;
    assert_eq!((launched.status, launched.location.as_str()), (303, "/"), "{}", launched.body);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = ann.get(&format!("{}/", partner.base)).await;
        assert!(page.body.contains("campaign “Autumn sale” — 10.00, invoice"), "{}", page.body);
        if page.body.contains("charge.settled: INV") {
            break;
        }
        assert!(Instant::now() < deadline, "the charge.settled webhook reaches the partner within 20 s: {}", page.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(partner.interrupt().success());
    let seed = std::fs::read(partner_dir.join("demo.json")).expect("demo.json");
    let again = StandalonePartner::start(&central.base, &sidecar_url, port, &partner_dir);
    assert_eq!(sidecar_env(&partner_dir), env, "a second run reuses its seed");
    assert_eq!(std::fs::read(partner_dir.join("demo.json")).expect("demo.json"), seed);
    let mut ann = Browser::new();
    let home = ann.sign_in(&again.central, &again.base, "ann@example.com", &["check"]).await;
    assert!(home.body.contains("90.00 RUB"), "{}", home.body);
    assert!(again.interrupt().success());
    assert!(sidecar.terminate().success());
}
