//! CSRF on every form (issue 8, security pass): every `method="post"` form of `templates/site/`
//! and `templates/oauth/` is found by reading the templates, so a new form fails this test until
//! it has a case here. Each case posts the form from its own browser (cookies and all, as a
//! cross-site post would) once without a token and once with a token taken from another browser
//! session, and checks the documented refusal (docs/design.md, "Web interface", CSRF; the consent
//! steps; the claim page's OpenAPI answers) and that nothing changed. The consent form is also
//! posted by a signed-out browser: without its `protus_browser` cookie, and with another
//! browser's request and token and credentials (login CSRF).

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::oauth_support::{REDIRECT, authorize_url, consent, exchange, hidden, partner, post_form};
use crate::support::TestCentral;
use crate::web_support::{Browser, Page};

/// Every POST form's action (template placeholders as `{}`), in the order the cases run; the
/// consent and claim cases go last because their positive controls change state.
const CASES: &[&str] = &[
    "/register",
    "/signin",
    "/signout",
    "/wallet/top-ups",
    "/connected/{}",
    "/connected/{}/confirm",
    "/connected/{}/revoke",
    "/company/profile",
    "/company/secrets",
    "/company/services",
    "/company/services/{}",
    "/company/services/{}/active",
    "/company/webhooks/{}/retry",
    "/oauth/authorize",
    "/claim",
];

/// A POST form found in a template.
#[derive(Debug)]
struct Form {
    template: String,
    action: String,
    has_csrf_field: bool,
}

/// Every `<form method="post">` of the site and OAuth templates.
fn post_forms() -> Vec<Form> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut forms = Vec::new();
    for dir in ["site", "oauth"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("templates dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "html"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("template");
            let name = format!("{dir}/{}", file.file_name().expect("name").to_string_lossy());
            forms.extend(forms_in(&name, &text));
        }
    }
    forms
}

fn forms_in(template: &str, text: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    for (start, _) in text.match_indices("<form") {
        let tag = &text[start..start + text[start..].find('>').expect("a closed form tag")];
        if !tag.to_ascii_lowercase().contains("method=\"post\"") {
            continue;
        }
        let action = tag.split("action=\"").nth(1).and_then(|a| a.split('"').next()).unwrap_or_default();
        let end = text[start..].find("</form>").map_or(text.len(), |e| start + e);
        forms.push(Form {
            template: template.to_owned(),
            action: placeholders(action),
            has_csrf_field: text[start..end].contains("name=\"csrf_token\""),
        });
    }
    forms
}

/// `/connected/{{ row.id }}/revoke` → `/connected/{}/revoke`.
fn placeholders(action: &str) -> String {
    let mut out = String::new();
    let mut rest = action;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        out.push_str("{}");
        rest = rest[open..].find("}}").map_or("", |close| &rest[open + close + 2..]);
    }
    out + rest
}

#[test]
fn every_post_form_in_the_templates_has_a_csrf_field_and_a_case() {
    // Proves the template scan finds the forms, each carries a csrf_token field, and each action has a case below (and no case is stale).
    let forms = post_forms();
    assert!(forms.len() >= CASES.len(), "the scan found only {forms:?}");
    for form in &forms {
        assert!(form.has_csrf_field, "{} posts to {} without a csrf_token field", form.template, form.action);
    }
    let found: BTreeSet<&str> = forms.iter().map(|f| f.action.as_str()).collect();
    let cased: BTreeSet<&str> = CASES.iter().copied().collect();
    let missing: Vec<_> = found.difference(&cased).collect();
    assert!(missing.is_empty(), "POST forms without a CSRF case in tests/it/security_csrf.rs: {missing:?}");
    let stale: Vec<_> = cased.difference(&found).collect();
    assert!(stale.is_empty(), "CSRF cases for forms no template has: {stale:?}");
    // The scanner itself: placeholders, GET forms skipped, a form without the field noticed.
    let sample = "<form method=\"get\" action=\"/x\"></form><form method=\"post\" action=\"/a/{{ row.id }}/b\">\
                  <input name=\"csrf_token\"></form><form method=\"post\" action=\"/c\"></form>";
    let scanned: Vec<(String, bool)> =
        forms_in("t", sample).into_iter().map(|f| (f.action, f.has_csrf_field)).collect();
    assert_eq!(scanned, vec![("/a/{}/b".to_owned(), true), ("/c".to_owned(), false)]);
}

/// Everything the cases need: browsers with sessions, their API twins, and the objects the
/// forms act on.
struct World<'a> {
    central: &'a TestCentral,
    /// A person with an active grant, signed in twice (two browser sessions).
    anna: Browser<'a>,
    anna2: Browser<'a>,
    anna_api: String,
    grant: String,
    /// A person whose claimed grant waits for confirmation.
    dana: Browser<'a>,
    dana2: Browser<'a>,
    dana_api: String,
    dana_grant: String,
    /// The company "Messages", signed in twice.
    company: Browser<'a>,
    company2: Browser<'a>,
    company_api: String,
    company_id: String,
    service: String,
    delivery: Value,
    /// Two signed-out browsers.
    anon: Browser<'a>,
    anon2: Browser<'a>,
    /// Pending claim links of two direct users.
    eve_claim: String,
    fay_claim: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_refuses_a_missing_or_foreign_csrf_token_and_changes_nothing() {
    // Proves each POST form of the site, the consent page and the claim page refuses a post without its token and one with another session's token, with the documented status and no change.
    let central = TestCentral::start().await;
    let mut world = world(&central).await;
    let discovered: BTreeSet<String> = post_forms().into_iter().map(|f| f.action).collect();
    for case in CASES {
        assert!(discovered.contains(*case), "stale case {case}");
        run_case(&mut world, case).await;
    }
}

async fn world(central: &TestCentral) -> World<'_> {
    let (client_id, client_secret, company_api) = partner(central, "Messages").await;
    let hooked =
        central.patch("/api/v1/company", Some(&company_api), json!({"webhook_url": "http://127.0.0.1:9/hooks"})).await;
    assert_eq!(hooked.status, 200, "{}", hooked.body);
    let company_id = client_id.clone();
    let service = central
        .post("/api/v1/company/services", Some(&company_api), json!({"name": "SMS campaign", "price": "12.50"}))
        .await;
    assert_eq!(service.status, 201, "{}", service.body);
    let service = service.body["id"].as_str().expect("id").to_owned();

    let mut anna = Browser::new(central, "en");
    anna.register_person("anna@example.com").await;
    anna.top_up("100", "t1").await;
    let code = consent(central, &client_id, "anna@example.com", &["check", "charge"], "").await;
    let (status, tokens) = exchange(central, (&client_id, &client_secret), &code).await;
    assert_eq!(status, 200, "{tokens}");
    let anna_api = central.sign_in("customer", "anna@example.com", "correct horse").await;
    let grants = central.get("/api/v1/me/grants", Some(&anna_api)).await;
    let grant = grants.body["items"][0]["id"].as_str().expect("a grant").to_owned();
    let anna2 = signed_in(central, "customer", "anna@example.com", "correct horse").await;

    // Direct users: dana claims (her grant is suspended), eve and fay keep their links pending.
    let mut links = Vec::new();
    for (key, name) in [("d1", "dana"), ("d2", "eve"), ("d3", "fay")] {
        let email = format!("{name}@example.com");
        let created = central
            .client
            .post(format!("{}/api/v1/direct-users", central.base))
            .basic_auth(&client_id, Some(&client_secret))
            .header("idempotency-key", key)
            .json(&json!({"email": email, "username": name}))
            .send()
            .await
            .expect("direct user");
        assert_eq!(created.status(), 201);
        let registered = central
            .post("/api/v1/customers", None, json!({"email": email, "username": name, "password": "correct horse"}))
            .await;
        assert_eq!(registered.status, 202, "{}", registered.body);
        links.push(mailed_token(central, &email));
    }
    let claimed =
        central.post("/api/v1/customers/claim", None, json!({"token": links[0], "password": "correct horse"})).await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    let dana = signed_in(central, "customer", "dana@example.com", "correct horse").await;
    let dana2 = signed_in(central, "customer", "dana@example.com", "correct horse").await;
    let dana_api = central.sign_in("customer", "dana@example.com", "correct horse").await;
    let dana_grants = central.get("/api/v1/me/grants", Some(&dana_api)).await;
    assert_eq!(dana_grants.body["items"][0]["status"], "suspended", "{}", dana_grants.body);
    let dana_grant = dana_grants.body["items"][0]["id"].as_str().expect("id").to_owned();

    let company = signed_in(central, "company", "ops@messages.io", "company pass").await;
    let company2 = signed_in(central, "company", "ops@messages.io", "company pass").await;
    let delivery = settled_delivery(central, &company_api).await;
    let mut anon = Browser::new(central, "en");
    anon.get("/").await;
    let mut anon2 = Browser::new(central, "en");
    anon2.get("/").await;
    World {
        central,
        anna,
        anna2,
        anna_api,
        grant,
        dana,
        dana2,
        dana_api,
        dana_grant,
        company,
        company2,
        company_api,
        company_id,
        service,
        delivery,
        anon,
        anon2,
        eve_claim: links[1].clone(),
        fay_claim: links[2].clone(),
    }
}

/// A browser signed in through the sign-in form.
async fn signed_in<'a>(central: &'a TestCentral, kind: &str, email: &str, password: &str) -> Browser<'a> {
    let mut browser = Browser::new(central, "en");
    let from = if kind == "company" { "/signin?kind=company" } else { "/signin" };
    let done = browser.submit(from, "/signin", &[("kind", kind), ("email", email), ("password", password)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    browser
}

/// The claim link mailed to `email` (the `log` mailer's outbox, `<data-dir>/mail.log`).
fn mailed_token(central: &TestCentral, email: &str) -> String {
    let log = std::fs::read_to_string(central.dir.path().join("mail.log")).expect("mail.log written");
    let message = log.split("----").filter(|m| m.contains(&format!("To: {email}"))).last().expect("a message");
    let start = message.find("token=").expect("a claim link") + "token=".len();
    message[start..].split_whitespace().next().expect("token").to_owned()
}

/// The company's oldest delivery once its first attempt (to a closed port) has failed: it then
/// waits for central's manual clock, so nothing but a retry changes it.
async fn settled_delivery(central: &TestCentral, company_api: &str) -> Value {
    for _ in 0..400 {
        let list = central.get("/api/v1/company/webhooks/deliveries", Some(company_api)).await;
        let items = list.body["items"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() && items.iter().all(|d| d["status"] == "failed") {
            return items.last().expect("a delivery").clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the deliveries did not fail their first attempt");
}

async fn delivery(central: &TestCentral, company_api: &str, id: &str) -> Value {
    let list = central.get("/api/v1/company/webhooks/deliveries", Some(company_api)).await;
    list.body["items"].as_array().expect("items").iter().find(|d| d["id"] == id).expect("the delivery").clone()
}

/// A refused post: the status, no redirect, and no new session cookie.
#[track_caller]
fn assert_refused(page: &Page, status: u16, what: &str) {
    assert_eq!(page.status.as_u16(), status, "{what}: {}", page.body);
    assert!(page.headers.get("location").is_none(), "{what} redirected to {}", page.location());
    let new_session = page
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.starts_with("protus_session=") && !c.contains("Max-Age=0")));
    assert!(!new_session, "{what} set a session cookie");
}

/// `fields` with `csrf_token` first.
fn with_token<'f>(token: &'f str, fields: &[(&'f str, &'f str)]) -> Vec<(&'f str, &'f str)> {
    let mut all = vec![("csrf_token", token)];
    all.extend_from_slice(fields);
    all
}

async fn grant_of(central: &TestCentral, api: &str, id: &str) -> Value {
    let grants = central.get("/api/v1/me/grants", Some(api)).await;
    grants.body["items"].as_array().expect("items").iter().find(|g| g["id"] == id).expect("the grant").clone()
}

async fn run_case(w: &mut World<'_>, case: &str) {
    match case {
        "/register" | "/signin" => signed_out_case(w, case).await,
        "/signout" | "/wallet/top-ups" | "/connected/{}" | "/connected/{}/confirm" | "/connected/{}/revoke" => {
            customer_case(w, case).await
        }
        company if company.starts_with("/company/") => company_case(w, case).await,
        "/oauth/authorize" => oauth_case(w).await,
        "/claim" => claim_case(w).await,
        other => panic!("no CSRF case for the form posting to {other}"),
    }
}

/// The forms of a signed-out browser: a token from another browser is refused as well as none.
async fn signed_out_case(w: &mut World<'_>, case: &str) {
    let central = w.central;
    match case {
        "/register" => {
            let fields = [
                ("kind", "person"),
                ("email", "mallory@example.com"),
                ("username", "mallory"),
                ("password", "correct horse"),
            ];
            let foreign = w.anon2.get("/register").await.csrf("/register");
            assert_refused(&w.anon.post("/register", &fields).await, 403, "register without a token");
            assert_refused(
                &w.anon.post("/register", &with_token(&foreign, &fields)).await,
                403,
                "register, foreign token",
            );
            let probe = central
                .post(
                    "/api/v1/sessions",
                    None,
                    json!({"kind": "customer", "email": "mallory@example.com", "password": "correct horse"}),
                )
                .await;
            probe.assert_problem(401, "unauthorized");
        }
        "/signin" => {
            let fields = [("kind", "customer"), ("email", "anna@example.com"), ("password", "correct horse")];
            let foreign = w.anon2.get("/signin").await.csrf("/signin");
            assert_refused(&w.anon.post("/signin", &fields).await, 403, "sign-in without a token");
            assert_refused(
                &w.anon.post("/signin", &with_token(&foreign, &fields)).await,
                403,
                "sign-in, foreign token",
            );
            assert_eq!(w.anon.get("/wallet").await.status, 303, "the browser is still signed out");
        }
        other => panic!("not a signed-out form: {other}"),
    }
}

/// The forms of a signed-in person; the foreign token comes from their own second session.
async fn customer_case(w: &mut World<'_>, case: &str) {
    let central = w.central;
    match case {
        "/signout" => {
            let foreign = w.anna2.get("/wallet").await.csrf("/signout");
            assert_refused(&w.anna.post("/signout", &[]).await, 403, "sign-out without a token");
            assert_refused(&w.anna.post("/signout", &[("csrf_token", &foreign)]).await, 403, "sign-out, foreign token");
            assert_eq!(w.anna.get("/wallet").await.status, 200, "the session still works");
        }
        "/wallet/top-ups" => {
            let fields = [("amount", "10"), ("idempotency_key", "csrf-probe-1")];
            let foreign = w.anna2.get("/wallet").await.csrf("/wallet/top-ups");
            assert_refused(&w.anna.post("/wallet/top-ups", &fields).await, 422, "top-up without a token");
            let foreign_fields = [("amount", "10"), ("idempotency_key", "csrf-probe-2")];
            let posted = w.anna.post("/wallet/top-ups", &with_token(&foreign, &foreign_fields)).await;
            assert_refused(&posted, 422, "top-up, foreign token");
            // Had either started a top-up, its key would be taken with another request: 422.
            for key in ["csrf-probe-1", "csrf-probe-2"] {
                let probe = central.start_top_up(&w.anna_api, json!("11.00"), key).await;
                assert_eq!(probe.status, 201, "key {key} was unused: {}", probe.body);
            }
        }
        "/connected/{}" => {
            let action = format!("/connected/{}", w.grant);
            let before = grant_of(central, &w.anna_api, &w.grant).await;
            let fields = [("scope", "check"), ("spending_cap", "5")];
            let foreign = w.anna2.get("/connected").await.csrf(&action);
            assert_refused(&w.anna.post(&action, &fields).await, 422, "narrowing without a token");
            assert_refused(
                &w.anna.post(&action, &with_token(&foreign, &fields)).await,
                422,
                "narrowing, foreign token",
            );
            assert_eq!(grant_of(central, &w.anna_api, &w.grant).await, before);
        }
        "/connected/{}/confirm" => {
            let action = format!("/connected/{}/confirm", w.dana_grant);
            let foreign = w.dana2.get("/connected").await.csrf(&action);
            assert_refused(&w.dana.post(&action, &[]).await, 422, "confirming without a token");
            assert_refused(&w.dana.post(&action, &[("csrf_token", &foreign)]).await, 422, "confirming, foreign token");
            assert_eq!(grant_of(central, &w.dana_api, &w.dana_grant).await["status"], "suspended");
        }
        "/connected/{}/revoke" => {
            let action = format!("/connected/{}/revoke", w.grant);
            let foreign = w.anna2.get(&action).await.csrf(&action);
            assert_refused(&w.anna.post(&action, &[]).await, 403, "revoking without a token");
            assert_refused(&w.anna.post(&action, &[("csrf_token", &foreign)]).await, 403, "revoking, foreign token");
            assert_eq!(grant_of(central, &w.anna_api, &w.grant).await["status"], "active");
        }
        other => panic!("not a person's form: {other}"),
    }
}

/// The forms of a signed-in company; the foreign token comes from its own second session.
async fn company_case(w: &mut World<'_>, case: &str) {
    let central = w.central;
    match case {
        "/company/profile" => {
            let before = central.get("/api/v1/company", Some(&w.company_api)).await.body;
            let fields =
                [("webhook_url", "http://127.0.0.1:9/elsewhere"), ("redirect_uris", "https://evil.example/cb")];
            let foreign = w.company2.get("/company").await.csrf("/company/profile");
            assert_refused(&w.company.post("/company/profile", &fields).await, 422, "profile without a token");
            let posted = w.company.post("/company/profile", &with_token(&foreign, &fields)).await;
            assert_refused(&posted, 422, "profile, foreign token");
            assert_eq!(central.get("/api/v1/company", Some(&w.company_api)).await.body, before);
        }
        "/company/secrets" => {
            let foreign = w.company2.get("/company/secrets").await.csrf("/company/secrets");
            for kind in ["client_secret", "webhook_secret"] {
                let fields = [("kind", kind)];
                assert_refused(&w.company.post("/company/secrets", &fields).await, 403, "rotation without a token");
                let posted = w.company.post("/company/secrets", &with_token(&foreign, &fields)).await;
                assert_refused(&posted, 403, "rotation, foreign token");
            }
            let id = protus::vocab::ids::CompanyId::parse(&w.company_id).expect("company id");
            let record = central
                .store()
                .read(move |r| protus::storage::central::companies::get(r, &id))
                .await
                .expect("read")
                .expect("the company");
            assert!(record.client_secret_previous.is_empty(), "no client secret was rotated");
            assert!(record.webhook_secret_previous.is_empty(), "no webhook secret was rotated");
        }
        "/company/services" => {
            let fields = [("name", "Forged"), ("price", "1")];
            let foreign = w.company2.get("/company/services").await.csrf("/company/services");
            assert_refused(&w.company.post("/company/services", &fields).await, 422, "new service without a token");
            let posted = w.company.post("/company/services", &with_token(&foreign, &fields)).await;
            assert_refused(&posted, 422, "new service, foreign token");
            let services = central.get("/api/v1/company/services", Some(&w.company_api)).await;
            assert_eq!(services.body["items"].as_array().expect("items").len(), 1, "{}", services.body);
        }
        "/company/services/{}" | "/company/services/{}/active" => {
            let action = case.replace("{}", &w.service);
            let fields: &[(&str, &str)] =
                if case.ends_with("/active") { &[("active", "false")] } else { &[("name", "Forged"), ("price", "1")] };
            let before = central.get("/api/v1/company/services", Some(&w.company_api)).await.body;
            let foreign = w.company2.get("/company/services").await.csrf(&action);
            assert_refused(&w.company.post(&action, fields).await, 422, "service change without a token");
            assert_refused(
                &w.company.post(&action, &with_token(&foreign, fields)).await,
                422,
                "service change, foreign token",
            );
            assert_eq!(central.get("/api/v1/company/services", Some(&w.company_api)).await.body, before);
        }
        "/company/webhooks/{}/retry" => {
            let id = w.delivery["id"].as_str().expect("id").to_owned();
            let action = format!("/company/webhooks/{id}/retry");
            let before = delivery(central, &w.company_api, &id).await;
            let foreign = w.company2.get("/company/webhooks").await.csrf(&action);
            assert_refused(&w.company.post(&action, &[]).await, 422, "retry without a token");
            assert_refused(&w.company.post(&action, &[("csrf_token", &foreign)]).await, 422, "retry, foreign token");
            // A retry would have made it pending and due now.
            assert_eq!(delivery(central, &w.company_api, &id).await, before);
        }
        other => panic!("not a company's form: {other}"),
    }
}

/// The consent form of a signed-in browser: its token is bound to the request and the session.
async fn oauth_case(w: &mut World<'_>) {
    let central = w.central;
    let url = authorize_url(central, &w.company_id, "check", "st-csrf");
    let path = url.trim_start_matches(central.base.as_str());
    let mine = w.anna.get(path).await;
    assert!(mine.body.contains("anna@example.com"), "the consent page sees the session: {}", mine.body);
    let rid = hidden(&mine.body, "request_id");
    let theirs = w.anna2.get(path).await;
    let (their_rid, their_csrf) = (hidden(&theirs.body, "request_id"), hidden(&theirs.body, "csrf_token"));
    let grants_before = central.get("/api/v1/me/grants", Some(&w.anna_api)).await.body;
    let fields = [("request_id", rid.as_str()), ("granted_scope", "check"), ("decision", "allow")];
    assert_refused(&w.anna.post("/oauth/authorize", &fields).await, 400, "consent without a token");
    let foreign = [
        ("request_id", their_rid.as_str()),
        ("csrf_token", their_csrf.as_str()),
        ("granted_scope", "check"),
        ("decision", "allow"),
    ];
    assert_refused(&w.anna.post("/oauth/authorize", &foreign).await, 400, "consent, another session's token");
    assert_eq!(central.get("/api/v1/me/grants", Some(&w.anna_api)).await.body, grants_before);
    // Neither refusal used the request up: its own browser still consents, once.
    let done = w.anna2.post("/oauth/authorize", &foreign).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert!(done.location().starts_with(REDIRECT), "{}", done.location());
    anonymous_oauth_case(w, path).await;
}

/// The consent form of a signed-out browser: its token is bound to the request and the
/// browser's `protus_browser` cookie, so neither a post without that cookie nor another
/// browser's request and token (with that browser's credentials: login CSRF) signs anyone in.
async fn anonymous_oauth_case(w: &mut World<'_>, path: &str) {
    let central = w.central;
    let (mallory_id, mallory_api) = central.customer("mallory@example.com").await;
    let mine = w.anon.get(path).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert!(mine.body.contains("name=\"password\""), "the signed-out page asks to sign in: {}", mine.body);
    let (rid, csrf) = (hidden(&mine.body, "request_id"), hidden(&mine.body, "csrf_token"));
    let theirs = w.anon2.get(path).await;
    let (their_rid, their_csrf) = (hidden(&theirs.body, "request_id"), hidden(&theirs.body, "csrf_token"));
    let grants_before = central.get("/api/v1/me/grants", Some(&mallory_api)).await.body;
    /// The signed-out consent form with mallory's credentials.
    fn form<'f>(rid: &'f str, csrf: &'f str) -> Vec<(&'f str, &'f str)> {
        let mut all = vec![("request_id", rid), ("csrf_token", csrf), ("decision", "allow")];
        all.extend([("email", "mallory@example.com"), ("password", "correct horse"), ("granted_scope", "check")]);
        all
    }
    // Without a token; and its own page's token from a client that does not send the cookie.
    let mut without = form(&rid, &csrf);
    without.retain(|(name, _)| *name != "csrf_token");
    assert_refused(&w.anon.post("/oauth/authorize", &without).await, 400, "signed-out consent without a token");
    let cookieless = post_form(&format!("{}/oauth/authorize", central.base), &form(&rid, &csrf), None).await;
    assert_eq!(cookieless.status.as_u16(), 400, "signed-out consent without the cookie: {}", cookieless.body);
    assert!(cookieless.headers.get("location").is_none(), "redirected: {:?}", cookieless.headers);
    let session_set = cookieless
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.starts_with("protus_session=")));
    assert!(!session_set, "the post without the cookie set a session cookie");
    // Login CSRF: another browser's request, token and account, posted from this browser.
    let attack = form(&their_rid, &their_csrf);
    assert_refused(&w.anon.post("/oauth/authorize", &attack).await, 400, "signed-out consent, another browser's form");
    assert_eq!(w.anon.get("/wallet").await.status, 303, "the browser is still signed out");
    assert_eq!(central.get("/api/v1/me/grants", Some(&mallory_api)).await.body, grants_before, "no grant");
    let accounts = central.get("/api/v1/company/accounts", Some(&w.company_api)).await;
    assert!(!accounts.body.to_string().contains(&mallory_id), "no account for mallory: {}", accounts.body);
    // Neither refusal used the requests up: in their own browsers both forms still work.
    for (browser, fields) in [(&mut w.anon2, attack), (&mut w.anon, form(&rid, &csrf))] {
        let done = browser.post("/oauth/authorize", &fields).await;
        assert_eq!(done.status, 302, "{}", done.body);
        assert!(done.location().starts_with(REDIRECT), "{}", done.location());
    }
}

/// The claim page's token is bound to the claim link; a form without it, or with another
/// link's, sets no password and leaves the link usable.
async fn claim_case(w: &mut World<'_>) {
    let central = w.central;
    let eve_page = w.anon.get(&format!("/claim?token={}", w.eve_claim)).await;
    assert_eq!(eve_page.status, 200, "{}", eve_page.body);
    let fay_csrf = hidden(&w.anon2.get(&format!("/claim?token={}", w.fay_claim)).await.body, "csrf_token");
    let without = w.anon.post("/claim", &[("token", w.eve_claim.as_str()), ("password", "forged password")]).await;
    assert_refused(&without, 400, "claim without a token");
    let foreign = [("token", w.eve_claim.as_str()), ("csrf_token", fay_csrf.as_str()), ("password", "forged password")];
    let refused = w.anon.post("/claim", &foreign).await;
    assert_refused(&refused, 200, "claim with another link's token");
    assert!(refused.body.contains("name=\"password\""), "the form is shown again: {}", refused.body);
    let signed = central
        .post(
            "/api/v1/sessions",
            None,
            json!({"kind": "customer", "email": "eve@example.com", "password": "forged password"}),
        )
        .await;
    signed.assert_problem(401, "unauthorized");
    let claimed = central
        .call(
            Method::POST,
            "/api/v1/customers/claim",
            None,
            Some(json!({"token": w.eve_claim, "password": "correct horse"})),
            &[],
        )
        .await;
    assert_eq!(claimed.status, 200, "the link is still unused: {}", claimed.body);
}
