//! `protus demo` as a child process, driven the way a browser drives it: sign-in with PROTUS
//! through the consent form, billed actions, insufficient funds, revoked access, charges not
//! allowed (the original 426), then SIGINT and a clean exit; a second run reuses the data.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::child::{PROTUS, follow_logs};
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

/// One browser: no automatic redirects, and the partner's cookies kept by hand.
struct Browser {
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: u16,
    location: String,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { http, cookies: Vec::new() }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let response = request.header("cookie", cookie.join("; ")).send().await.expect("the page answers");
        for set in response.headers().get_all("set-cookie") {
            let text = set.to_str().expect("ascii cookie");
            let (name, value) = text.split(';').next().and_then(|p| p.split_once('=')).expect("name=value");
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|v| v.to_str().expect("ascii").to_owned());
        Page { status, location: location.unwrap_or_default(), body: response.text().await.expect("body") }
    }

    async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url).header("accept-language", "en");
        self.send(request).await
    }

    async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter().copied()).finish();
        let request = self.http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
        self.send(request).await
    }

    /// "Sign in with PROTUS" at the partner, the consent form posted as a browser posts it,
    /// and the redirect back; answers the partner's page after sign-in.
    async fn sign_in(&mut self, demo: &Demo, email: &str, scopes: &[&str]) -> Page {
        let start = self.get(&format!("{}/login", demo.partner)).await;
        assert_eq!(start.status, 303, "{}", start.body);
        assert!(start.location.starts_with(&format!("{}/oauth/authorize?", demo.central)), "{}", start.location);
        assert!(start.location.contains("code_challenge_method=S256"), "{}", start.location);
        let consent = self.get(&start.location).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let (request_id, csrf) = (hidden(&consent.body, "request_id"), hidden(&consent.body, "csrf_token"));
        let mut fields = vec![
            ("request_id", request_id.as_str()),
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", "demo-password"),
        ];
        fields.extend(scopes.iter().map(|s| ("granted_scope", *s)));
        fields.extend([("spending_cap", ""), ("decision", "allow")]);
        let allowed = self.post(&format!("{}/oauth/authorize", demo.central), &fields).await;
        assert_eq!(allowed.status, 302, "{}", allowed.body);
        assert!(allowed.location.starts_with(&format!("{}/callback?", demo.partner)), "{}", allowed.location);
        let back = self.get(&allowed.location).await;
        assert_eq!((back.status, back.location.as_str()), (303, "/"), "{}", back.body);
        self.get(&format!("{}/", demo.partner)).await
    }

    /// Submits one of the partner's billed forms with the key the page carries.
    async fn act(&mut self, demo: &Demo, path: &str, field: (&str, &str)) -> Page {
        let page = self.get(&format!("{}/", demo.partner)).await;
        let key = hidden(&page.body, "key");
        self.post(&format!("{}{path}", demo.partner), &[("key", key.as_str()), field]).await
    }
}

async fn revoke_all_grants(central: &str, email: &str) {
    let http = reqwest::Client::new();
    let body = json!({"kind": "customer", "email": email, "password": "demo-password"});
    let session: Value = http
        .post(format!("{central}/api/v1/sessions"))
        .json(&body)
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token");
    let grants: Value = http
        .get(format!("{central}/api/v1/me/grants"))
        .bearer_auth(token)
        .send()
        .await
        .expect("grants")
        .json()
        .await
        .expect("json");
    for grant in grants["items"].as_array().expect("items") {
        if grant["status"] == "active" {
            let id = grant["id"].as_str().expect("id");
            let revoked = http
                .delete(format!("{central}/api/v1/me/grants/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("revoke");
            assert!(revoked.status().is_success(), "{}", revoked.status());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_signs_in_bills_refuses_and_stops_cleanly_on_sigint() {
    // Proves `protus demo` serves the whole flow — PKCE sign-in, billed actions through the sidecar, 402, 401 after revocation, 426 without `charge` — and exits 0 on SIGINT.
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("protus-demo-data");
    let demo = Demo::start(&data_dir);

    let mut ann = Browser::new();
    let home = ann.sign_in(&demo, "ann@example.com", &["check", "hold", "charge"]).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("check hold charge") && home.body.contains("100.00 RUB"), "{}", home.body);
    let added = ann.act(&demo, "/customers", ("phone", "+7 900 111-22-33")).await;
    assert_eq!((added.status, added.location.as_str()), (303, "/"), "{}", added.body);
    let launched = ann.act(&demo, "/campaigns", ("text", "Spring sale")).await;
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
    let home = bob.sign_in(&demo, "bob@example.com", &["check", "hold", "charge"]).await;
    assert!(home.body.contains("5.00 RUB"), "{}", home.body);
    let refused = bob.act(&demo, "/campaigns", ("text", "Too dear")).await;
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
    let home = ann_again.sign_in(&demo, "ann@example.com", &["check"]).await;
    assert!(home.body.contains("<code id=\"scope\">check</code>"), "{}", home.body);
    let not_allowed = ann_again.act(&demo, "/campaigns", ("text", "No charge scope")).await;
    assert_eq!(not_allowed.status, 426, "{}", not_allowed.body);
    assert!(not_allowed.body.contains("Вы запретили взимать плату за услуги сервиса."), "{}", not_allowed.body);

    let (status, printed) = demo.interrupt();
    assert!(status.success(), "{status:?}");
    assert!(printed.contains("Every account's password is demo-password."), "{printed}");

    // The data is kept: a second run starts without seeding again and serves the same wallets.
    let seed_file = std::fs::read(data_dir.join("demo.json")).expect("demo.json");
    let demo = Demo::start(&data_dir);
    let mut bob = Browser::new();
    let home = bob.sign_in(&demo, "bob@example.com", &["check", "charge"]).await;
    assert!(home.body.contains("5.00 RUB"), "{}", home.body);
    assert_eq!(std::fs::read(data_dir.join("demo.json")).expect("demo.json"), seed_file);
    let (status, _) = demo.interrupt();
    assert!(status.success(), "{status:?}");
}
