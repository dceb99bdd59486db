//! No secret or token in any log line (issue 8, security pass; DESIGN §8): a full run of the real
//! `protus central` and `protus sidecar` binaries at `RUST_LOG=trace` (the most verbose level
//! `telemetry.rs` honours, for our code and every dependency), their stdout and stderr captured
//! whole. The run makes every kind of secret — passwords (and a wrong one), session tokens,
//! client and webhook secrets and their rotated successors, the OAuth code, PKCE verifier,
//! access and refresh tokens and a refreshed pair, the sidecar's enrolment secret, top-up
//! callback and webhook signatures, direct-user tokens and claim links, CSRF tokens, the CSRF
//! and provider keys and the signing key — and uses them: billing through the sidecar,
//! introspection, revocation, refresh and its reuse, webhooks to a receiver this test runs. Then
//! every captured line is searched for every secret (also as the base64 of HTTP Basic
//! credentials).
//!
//! `<data-dir>/mail.log` is not searched: it is the `log` mailer's outbox (the messages central
//! would send), and a claim link in it is the message itself, not a log line.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::child::PROTUS;
use crate::oauth_support::{REDIRECT, VERIFIER, hidden};
use crate::webhooks::receiver::{Receiver, Reply};

type Lines = Arc<Mutex<Vec<String>>>;

/// A child process whose stdout and stderr are kept line by line.
struct Logged {
    name: &'static str,
    child: Child,
    lines: Lines,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Logged {
    fn spawn(name: &'static str, args: &[&str], env: &[(&str, &str)]) -> Logged {
        let mut child = Command::new(PROTUS)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("protus starts");
        let lines: Lines = Arc::default();
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        let readers = [out, err]
            .into_iter()
            .map(|stream| {
                let lines = lines.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        lines.lock().expect("lines").push(line);
                    }
                })
            })
            .collect();
        Logged { name, child, lines, readers }
    }

    /// The `address` of the first JSON line whose message is `message`.
    async fn address(&self, message: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let found = self.lines.lock().expect("lines").iter().find_map(|line| {
                let event: Value = serde_json::from_str(line).ok()?;
                (event["message"] == message).then(|| event["address"].as_str().unwrap_or_default().to_owned())
            });
            if let Some(address) = found {
                return format!("http://{address}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} did not log {message:?} within 30 s", self.name);
    }

    /// SIGTERM, wait for the exit, and every line it wrote.
    fn stop(mut self) -> Vec<String> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        let status = self.child.wait().expect("reap");
        assert!(status.success(), "{} exited with {status}", self.name);
        for reader in std::mem::take(&mut self.readers) {
            reader.join().expect("reader");
        }
        std::mem::take(&mut *self.lines.lock().expect("lines"))
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every secret the run made, by what it is.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, value: &str) {
        assert!(value.len() >= 8, "{} is too short to search for: {value:?}", what.into());
        self.0.push((what.into(), value.to_owned()));
    }

    fn json(&mut self, what: &str, body: &Value, field: &str) -> String {
        let value = body[field].as_str().unwrap_or_else(|| panic!("no {field} in {body}")).to_owned();
        self.add(what, &value);
        value
    }

    /// The secret and the base64 of `id:secret`, as an `Authorization: Basic` header carries it.
    fn basic(&mut self, what: &str, id: &str, secret: &str) {
        self.add(what, secret);
        self.add(format!("{what} (Basic credentials)"), &STANDARD.encode(format!("{id}:{secret}")));
    }
}

struct Http {
    client: reqwest::Client,
}

impl Http {
    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = request.send().await.expect("request");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await.expect("body");
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn json(&self, method: Method, url: String, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.client.request(method, url).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let (status, _, body) = self.send(request).await;
        (status, body)
    }

    async fn form(&self, url: String, basic: Option<(&str, &str)>, fields: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.client.post(url).form(fields);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let (status, _, body) = self.send(request).await;
        (status, body)
    }
}

fn cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers.get_all("set-cookie").iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let value = text.strip_prefix(&format!("{name}="))?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The run's HTTP client (no redirects followed), central's address and what it made so far.
struct Run<'a> {
    http: &'a Http,
    base: String,
    secrets: Secrets,
}

/// A company's credentials: its id, the first client secret (rotated out, still valid) and the
/// current one; and its service.
struct Company {
    id: String,
    first_secret: String,
    secret: String,
    service: Value,
}

/// The OAuth tokens of the run: the first pair and the refreshed pair.
struct Tokens {
    first_access: String,
    first_refresh: String,
    access: String,
    refresh: String,
}

const PASSWORD: &str = "customer-password-9xk4";

impl Run<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        self.http.json(Method::POST, self.url(path), bearer, body).await
    }

    fn basic<'c>(&self, company: &'c Company) -> Option<(&'c str, &'c str)> {
        Some((company.id.as_str(), company.secret.as_str()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_run_logs_no_secret_or_token() {
    // Proves that after a run that creates and uses every kind of secret, no line central or the sidecar wrote at trace level contains any of them.
    let central_dir = tempfile::tempdir().expect("temp dir");
    let sidecar_dir = tempfile::tempdir().expect("temp dir");
    let started_s = time_now_s();
    let central = Logged::spawn(
        "central",
        &["central", "--log-format", "json", "--listen", "127.0.0.1:0", "--enable-test-provider"],
        &[("PROTUS_ALLOW_PRIVATE_WEBHOOKS", "true"), ("PROTUS_DATA_DIR", &central_dir.path().to_string_lossy())],
    );
    let base = central.address("central listening").await;
    let receiver = Receiver::start(|_, _| Reply::Status(204)).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let run = &mut Run { http: &Http { client }, base, secrets: Secrets::default() };

    let company = company(run, &receiver.url).await;
    let top_up_id = customer(run).await;
    site_sign_in(run).await;
    let tokens = oauth(run, &company).await;
    let sidecar = Logged::spawn(
        "sidecar",
        &[
            "sidecar",
            "--log-format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--central",
            &run.base,
            "--client-id",
            &company.id,
        ],
        &[("PROTUS_CLIENT_SECRET", &company.secret), ("PROTUS_DATA_DIR", &sidecar_dir.path().to_string_lossy())],
    );
    let sidecar_base = sidecar.address("sidecar listening").await;
    through_the_sidecar(run, &sidecar_base, &company, &tokens.access).await;
    claims(run, central_dir.path(), &company).await;
    token_endpoint_and_refusals(run, &company, &tokens).await;

    // The sidecar flushes its charges at shutdown; central sends their webhooks.
    let sidecar_lines = sidecar.stop();
    let hooks = &receiver;
    wait_until(|| async move { hooks.requests().iter().filter(|r| r.json()["type"] == "charge.settled").count() >= 2 })
        .await;
    for received in receiver.requests() {
        for signature in received.header("webhook-signature").split(' ') {
            run.secrets.add("webhook signature", signature.trim_start_matches("v1,"));
        }
    }
    let central_lines = central.stop();
    let sidecar_id =
        stored_secrets(&mut run.secrets, central_dir.path(), sidecar_dir.path(), &company.id, &top_up_id, started_s)
            .await;

    assert_logs_are_meaningful(&central_lines, "central", "info");
    assert_logs_are_meaningful(&sidecar_lines, "sidecar", "debug");
    // The search sees what the processes wrote: the ids they log are found the same way.
    assert!(sidecar_lines.iter().any(|l| l.contains(&sidecar_id)), "the sidecar logs its id when it enrols");
    assert!(central_lines.iter().any(|l| l.contains(&top_up_id)), "central logs the completed top-up's id");
    let mut leaks = Vec::new();
    for (what, value) in &run.secrets.0 {
        for (process, lines) in [("central", &central_lines), ("sidecar", &sidecar_lines)] {
            if let Some(line) = lines.iter().find(|l| l.contains(value.as_str())) {
                leaks.push(format!("{what} in {process}'s log: {line}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{} secret(s) reached a log line:\n{}", leaks.len(), leaks.join("\n"));
}

/// The company: its password, session, client and webhook secrets and their rotated successors,
/// its webhook URL (the receiver) and a service.
async fn company(run: &mut Run<'_>, webhook_url: &str) -> Company {
    let password = "company-password-7fq2";
    run.secrets.add("company password", password);
    let account = json!({"name": "Logco", "email": "ops@logco.io", "password": password});
    let (status, company) = run.post("/api/v1/companies", None, account).await;
    assert_eq!(status, 201, "{company}");
    let id = company["client_id"].as_str().expect("id").to_owned();
    let first_secret = company["client_secret"].as_str().expect("secret").to_owned();
    run.secrets.basic("client secret", &id, &first_secret);
    run.secrets.json("webhook secret", &company, "webhook_secret");
    let sign_in = json!({"kind": "company", "email": "ops@logco.io", "password": password});
    let (_, session) = run.post("/api/v1/sessions", None, sign_in).await;
    let session = run.secrets.json("company session token", &session, "token");
    let settings = json!({"webhook_url": webhook_url, "redirect_uris": [REDIRECT]});
    let (status, body) = run.http.json(Method::PATCH, run.url("/api/v1/company"), Some(&session), settings).await;
    assert_eq!(status, 200, "{body}");
    let rotate = |kind: &str| json!({"kind": kind});
    let (_, rotated) = run.post("/api/v1/company/secrets/rotate", Some(&session), rotate("webhook_secret")).await;
    run.secrets.json("rotated webhook secret", &rotated, "secret");
    let (_, rotated) = run.post("/api/v1/company/secrets/rotate", Some(&session), rotate("client_secret")).await;
    let secret = rotated["secret"].as_str().expect("secret").to_owned();
    run.secrets.basic("rotated client secret", &id, &secret);
    let price = json!({"name": "Export", "price": "5.00"});
    let (status, service) = run.post("/api/v1/company/services", Some(&session), price).await;
    assert_eq!(status, 201, "{service}");
    Company { id, first_secret, secret, service }
}

/// A customer: password, a wrong one, a session, and a top-up through the signed callback.
/// Returns the top-up's id.
async fn customer(run: &mut Run<'_>) -> String {
    run.secrets.add("customer password", PASSWORD);
    run.secrets.add("wrong password", "wrong-password-3mz8");
    let account = json!({"email": "ann@log.io", "username": "ann", "password": PASSWORD});
    let (status, body) = run.post("/api/v1/customers", None, account).await;
    assert_eq!(status, 201, "{body}");
    let wrong = json!({"kind": "customer", "email": "ann@log.io", "password": "wrong-password-3mz8"});
    assert_eq!(run.post("/api/v1/sessions", None, wrong).await.0, 401);
    let right = json!({"kind": "customer", "email": "ann@log.io", "password": PASSWORD});
    let (_, session) = run.post("/api/v1/sessions", None, right).await;
    let session = run.secrets.json("customer session token", &session, "token");
    let request = run.http.client.post(run.url("/api/v1/me/top-ups")).bearer_auth(&session);
    let top_up =
        run.http.send(request.header("idempotency-key", "log-top-up").json(&json!({"amount": "100.00"}))).await;
    assert_eq!(top_up.0, 201, "{}", top_up.2);
    let id = top_up.2["id"].as_str().expect("id").to_owned();
    let (http, url, session) = (run.http, &run.url(&format!("/api/v1/me/top-ups/{id}")), &session);
    wait_until(|| async move {
        http.json(Method::GET, url.clone(), Some(session), Value::Null).await.1["status"] == "succeeded"
    })
    .await;
    id
}

/// The site's sign-in form: the browser cookie, a CSRF token and a session cookie.
async fn site_sign_in(run: &mut Run<'_>) {
    let page = run.http.send(run.http.client.get(run.url("/signin"))).await;
    let browser = cookie(&page.1, "protus_browser").expect("a browser cookie");
    run.secrets.add("browser binding cookie", &browser);
    let csrf = hidden(page.2.as_str().expect("html"), "csrf_token");
    run.secrets.add("sign-in CSRF token", &csrf);
    let fields = [("csrf_token", csrf.as_str()), ("kind", "customer"), ("email", "ann@log.io"), ("password", PASSWORD)];
    let request = run.http.client.post(run.url("/signin")).header("cookie", format!("protus_browser={browser}"));
    let signed = run.http.send(request.form(&fields)).await;
    assert_eq!(signed.0, 303, "{}", signed.2);
    run.secrets.add("site session cookie", &cookie(&signed.1, "protus_session").expect("session cookie"));
}

/// OAuth: the consent page (its browser cookie and CSRF token, the session it makes), the code
/// with PKCE, the tokens and a refresh.
async fn oauth(run: &mut Run<'_>, company: &Company) -> Tokens {
    run.secrets.add("PKCE code_verifier", VERIFIER);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", company.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "check hold charge"),
            ("state", "log-state-12345"),
            ("code_challenge", &protus::domain::pkce::s256(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let page = run.http.send(run.http.client.get(run.url(&format!("/oauth/authorize?{query}")))).await;
    let browser = cookie(&page.1, "protus_browser").expect("a browser cookie");
    run.secrets.add("consent browser binding cookie", &browser);
    let page = page.2.as_str().expect("html").to_owned();
    let csrf = hidden(&page, "csrf_token");
    run.secrets.add("consent CSRF token", &csrf);
    let request_id = hidden(&page, "request_id");
    let fields = [
        ("request_id", request_id.as_str()),
        ("csrf_token", csrf.as_str()),
        ("email", "ann@log.io"),
        ("password", PASSWORD),
        ("granted_scope", "check"),
        ("granted_scope", "hold"),
        ("granted_scope", "charge"),
        ("spending_cap", ""),
        ("decision", "allow"),
    ];
    let request =
        run.http.client.post(run.url("/oauth/authorize")).header("cookie", format!("protus_browser={browser}"));
    let allowed = run.http.send(request.form(&fields)).await;
    assert_eq!(allowed.0, 302, "{}", allowed.2);
    run.secrets.add("consent session cookie", &cookie(&allowed.1, "protus_session").expect("session cookie"));
    let location = allowed.1["location"].to_str().expect("ascii").to_owned();
    let query = location.split_once('?').expect("query").1;
    let code = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "code").expect("a code").1.into_owned();
    run.secrets.add("authorization code", &code);
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, first) = run.http.form(run.url("/oauth/token"), run.basic(company), &exchange).await;
    assert_eq!(status, 200, "{first}");
    let first_access = run.secrets.json("access token", &first, "access_token");
    let first_refresh = run.secrets.json("refresh token", &first, "refresh_token");
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", first_refresh.as_str())];
    let (status, second) = run.http.form(run.url("/oauth/token"), run.basic(company), &refresh).await;
    assert_eq!(status, 200, "{second}");
    let access = run.secrets.json("refreshed access token", &second, "access_token");
    let refresh = run.secrets.json("refreshed refresh token", &second, "refresh_token");
    Tokens { first_access, first_refresh, access, refresh }
}

/// At the sidecar: a hold, its capture and a charge with the customer's token, a forged token
/// refused there and at central, and a direct user.
async fn through_the_sidecar(run: &mut Run<'_>, sidecar: &str, company: &Company, access: &str) {
    let http = run.http;
    let side = |path: &str| format!("{sidecar}{path}");
    wait_until(|| async move {
        http.json(Method::GET, side("/api/v1/authorize?scope=charge"), Some(access), Value::Null).await.0 == 200
    })
    .await;
    let billed = |path: &str, key: &'static str, body: Value| {
        http.send(http.client.post(side(path)).bearer_auth(access).header("idempotency-key", key).json(&body))
    };
    let hold = billed("/api/v1/billing/holds", "log-hold", json!({"amount": "3.00"})).await;
    assert_eq!(hold.0, 201, "{}", hold.2);
    let capture = side(&format!("/api/v1/billing/holds/{}/capture", hold.2["id"].as_str().expect("id")));
    let captured = http.send(http.client.post(capture).header("idempotency-key", "log-capture").json(&json!({}))).await;
    assert_eq!(captured.0, 201, "{}", captured.2);
    let charged = billed("/api/v1/billing/charges", "log-charge", json!({"service_id": company.service["id"]})).await;
    assert_eq!(charged.0, 201, "{}", charged.2);
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.forged-signature-5kq";
    run.secrets.add("forged bearer token", forged);
    assert_eq!(http.json(Method::GET, side("/api/v1/billing/balance"), Some(forged), Value::Null).await.0, 401);
    assert_eq!(http.json(Method::GET, run.url("/api/v1/billing/balance"), Some(forged), Value::Null).await.0, 401);
    let user = json!({"email": "dana@log.io", "username": "dana"});
    let direct = http
        .send(http.client.post(side("/api/v1/direct-users")).header("idempotency-key", "log-dana").json(&user))
        .await;
    assert_eq!(direct.0, 201, "{}", direct.2);
    run.secrets.json("direct user's access token", &direct.2, "access_token");
}

/// Claiming: dana's link (her direct user came through the sidecar) through the page with its
/// CSRF token, and erin's (made at central) through the API.
async fn claims(run: &mut Run<'_>, central_dir: &Path, company: &Company) {
    let http = run.http;
    let user = json!({"email": "erin@log.io", "username": "erin"});
    let made = http
        .send(
            http.client
                .post(run.url("/api/v1/direct-users"))
                .basic_auth(&company.id, Some(&company.secret))
                .header("idempotency-key", "log-erin")
                .json(&user),
        )
        .await;
    assert_eq!(made.0, 201, "{}", made.2);
    run.secrets.json("direct user's access token (central)", &made.2, "access_token");
    for name in ["dana", "erin"] {
        let email = format!("{name}@log.io");
        let account = json!({"email": email, "username": name, "password": PASSWORD});
        let (status, body) = run.post("/api/v1/customers", None, account).await;
        assert_eq!(status, 202, "{body}");
        let link = mailed_token(central_dir, &email);
        run.secrets.add(format!("claim link of {name}"), &link);
        if name == "dana" {
            let page = http.send(http.client.get(run.url(&format!("/claim?token={link}")))).await;
            let csrf = hidden(page.2.as_str().expect("html"), "csrf_token");
            run.secrets.add("claim CSRF token", &csrf);
            let fields = [("token", link.as_str()), ("csrf_token", csrf.as_str()), ("password", PASSWORD)];
            let done = http.send(http.client.post(run.url("/claim")).form(&fields)).await;
            assert_eq!(done.0, 200, "{}", done.2);
        } else {
            let (status, body) =
                run.post("/api/v1/customers/claim", None, json!({"token": link, "password": PASSWORD})).await;
            assert_eq!(status, 200, "{body}");
        }
    }
}

/// Introspection (`client_secret_post` with the rotated-out secret), revocation, a reused refresh
/// token, and wrong credentials of every kind, refused: failure paths must not log them either.
async fn token_endpoint_and_refusals(run: &mut Run<'_>, company: &Company, tokens: &Tokens) {
    let http = run.http;
    for token in [&tokens.access, &tokens.refresh] {
        let fields = [("token", token.as_str()), ("client_id", &company.id), ("client_secret", &company.first_secret)];
        let (status, body) = http.form(run.url("/oauth/introspect"), None, &fields).await;
        assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    }
    for token in [&tokens.first_access, &tokens.refresh] {
        assert_eq!(http.form(run.url("/oauth/revoke"), run.basic(company), &[("token", token.as_str())]).await.0, 200);
    }
    let reuse = [("grant_type", "refresh_token"), ("refresh_token", tokens.first_refresh.as_str())];
    assert_eq!(http.form(run.url("/oauth/token"), run.basic(company), &reuse).await.0, 400, "reuse is refused");
    let wrong_client = "cs_wrong-client-secret-8hd3";
    assert_eq!(http.form(run.url("/oauth/token"), Some((&company.id, wrong_client)), &reuse).await.0, 401);
    run.secrets.basic("wrong client secret", &company.id, wrong_client);
    let wrong_sidecar = ("sc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "scs_wrong-sidecar-secret-4jw9");
    let snapshot = http.client.get(run.url("/sync/v1/snapshot")).basic_auth(wrong_sidecar.0, Some(wrong_sidecar.1));
    let refused = http.send(snapshot).await;
    assert_eq!(refused.0, 401, "{}", refused.2);
    run.secrets.basic("wrong sidecar secret", wrong_sidecar.0, wrong_sidecar.1);
    let wrong_verifier = "a-wrong-code-verifier-that-is-long-enough-for-rfc-7636-4pz0";
    let unknown: [(&str, Vec<(&str, &str)>); 2] = [
        (
            "unknown refresh token",
            vec![("grant_type", "refresh_token"), ("refresh_token", "prt_unknown-refresh-token-2kd8")],
        ),
        (
            "unknown authorization code",
            vec![
                ("grant_type", "authorization_code"),
                ("code", "pac_unknown-authorization-code-6tq1"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", wrong_verifier),
            ],
        ),
    ];
    for (what, fields) in unknown {
        let (status, body) = http.form(run.url("/oauth/token"), run.basic(company), &fields).await;
        assert_eq!(status, 400, "{what}: {body}");
        run.secrets.add(what, fields[1].1);
    }
    run.secrets.add("wrong code_verifier", wrong_verifier);
    let claim = json!({"token": "clm_unknown-claim-link-9vn3", "password": "refused-claim-password-1qa7"});
    let (status, body) = run.post("/api/v1/customers/claim", None, claim).await;
    assert!((400..500).contains(&status), "an unknown claim link is refused: {status} {body}");
    run.secrets.add("unknown claim link", "clm_unknown-claim-link-9vn3");
    run.secrets.add("password of a refused claim", "refused-claim-password-1qa7");
}

/// Secrets only the stores hold: the sidecar's enrolment secret, central's CSRF and provider
/// keys, its signing keys, and the provider's callback signatures (recomputed from its key for
/// every second of the run, since the signature covers the time it was sent). Returns the
/// sidecar's id.
async fn stored_secrets(
    secrets: &mut Secrets,
    central_dir: &Path,
    sidecar_dir: &Path,
    client_id: &str,
    top_up: &str,
    started_s: i64,
) -> String {
    use protus::storage::StoreOptions;
    let options = StoreOptions::default();
    let store = protus::storage::sidecar::open::open_sidecar(sidecar_dir, &options).expect("sidecar store opens");
    let loaded = store.read(protus::storage::sidecar::sync_state::load).await.expect("load");
    let enrolment = loaded.enrolment.expect("the sidecar enrolled");
    assert_eq!(enrolment.company_id, client_id);
    secrets.basic("sidecar secret", &enrolment.sidecar_id, &enrolment.sidecar_secret);
    let store = protus::storage::central::open::open_central(central_dir, &options).expect("central store opens");
    let setting = |name: &'static str| {
        store.write(move |tx| {
            protus::storage::central::settings::get_or_create(tx, name, || unreachable!("{name} exists"))
        })
    };
    secrets.add("CSRF key", &setting("csrf_key").await.expect("csrf key"));
    let provider_key = setting("provider_key:test").await.expect("provider key");
    secrets.add("provider key", &provider_key);
    for key in store.read(protus::storage::central::keys::all).await.expect("keys") {
        secrets.add("signing key", &key.secret);
    }
    // The callback body exactly as the provider builds it, from the stored top-up.
    let id = protus::vocab::ids::TopUpId::parse(top_up).expect("top-up id");
    let record =
        store.read(move |r| protus::storage::central::top_ups::get(r, &id)).await.expect("read").expect("top-up");
    let currency = protus::vocab::money::Currency::parse("RUB").expect("RUB");
    let amount = record.amount.to_wire(currency);
    assert_eq!(amount, "100.00");
    let key = protus::vocab::secret::Secret::new(provider_key);
    let body = json!({"top_up_id": top_up, "amount": amount, "status": "succeeded"}).to_string();
    for at in started_s - 2..=time_now_s() + 2 {
        let signed = protus::central::providers::test_provider::sign(&key, at, body.as_bytes());
        let mac = signed.split("v1=").nth(1).expect("v1").to_owned();
        secrets.add(format!("top-up callback signature at {at}"), &mac);
    }
    enrolment.sidecar_id
}

/// The logs are worth searching: many lines, request lines with routes, and lines below `info`
/// (so `RUST_LOG=trace` was honoured).
#[track_caller]
fn assert_logs_are_meaningful(lines: &[String], process: &str, request_level: &str) {
    let events: Vec<Value> = lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.len() > 50, "{process} wrote only {} lines", lines.len());
    let requests: Vec<&Value> = events.iter().filter(|e| e["message"] == "request").collect();
    assert!(requests.len() > 5, "{process} logged {} request lines", requests.len());
    assert!(requests.iter().all(|e| e["route"].is_string() && e["status"].is_u64()), "{process}: {requests:?}");
    assert!(requests.iter().any(|e| e["level"].as_str() == Some(&request_level.to_uppercase())));
    let verbose = events.iter().any(|e| e["level"] == "TRACE" || e["level"] == "DEBUG");
    assert!(verbose, "{process} wrote nothing below info: RUST_LOG=trace was not honoured");
}

/// The claim link mailed to `email` (the `log` mailer's outbox).
fn mailed_token(data_dir: &Path, email: &str) -> String {
    let log = std::fs::read_to_string(data_dir.join("mail.log")).expect("mail.log written");
    let message = log.split("----").filter(|m| m.contains(&format!("To: {email}"))).last().expect("a message");
    let start = message.find("token=").expect("a claim link") + "token=".len();
    message[start..].split_whitespace().next().expect("token").to_owned()
}

fn time_now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// Polls `done` until it holds, for at most 30 s (a generous wait, not a timing assertion).
async fn wait_until<F, Fut>(done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "the condition did not hold within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
