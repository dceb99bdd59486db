//! Rate limits (issue 8, security pass; docs/design.md, "Rate limits"): API sign-in, the site's
//! sign-in form, the consent page's sign-in, `/oauth/token` and direct-user creation at central
//! and through the sidecar are each driven past their limit. The refusal has the documented
//! answer (429 with `Retry-After`, or the consent page re-rendered), another key is unaffected,
//! and the refused request changed nothing. (`oauth_consent.rs` already shows the consent
//! limiter's message and its refill.) Central's clock is manual, so buckets refill only when a
//! test moves it.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Value, json};

use crate::oauth_support::{
    REDIRECT, authorize_url, consent, consent_page, exchange, hidden, partner, post_form, token_request,
};
use crate::sidecar_support::ChildSidecar;
use crate::support::{Answer, TestCentral};
use crate::web_support::Browser;

/// `sign_in_per_email_burst`, `sign_in_per_address_burst`, `token_requests_per_client_burst`,
/// `direct_users_per_client_burst` (vocab/limits.rs).
const PER_EMAIL: usize = protus::vocab::limits::sign_in_per_email_burst as usize;
const PER_ADDRESS: usize = protus::vocab::limits::sign_in_per_address_burst as usize;
const TOKEN_PER_CLIENT: usize = protus::vocab::limits::token_requests_per_client_burst as usize;
const DIRECT_PER_CLIENT: usize = protus::vocab::limits::direct_users_per_client_burst as usize;

/// A positive whole number of seconds in `Retry-After`.
#[track_caller]
fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    let value = headers.get("retry-after").unwrap_or_else(|| panic!("no Retry-After in {headers:?}"));
    let seconds: u64 = value.to_str().expect("ascii").parse().expect("whole seconds");
    assert!(seconds > 0, "Retry-After {seconds}");
    seconds
}

#[track_caller]
fn assert_rate_limited(answer: &Answer) {
    answer.assert_problem(429, "rate_limited");
    retry_after(&answer.headers);
    assert!(answer.body.get("token").is_none(), "a refused sign-in carries no token: {}", answer.body);
    assert!(answer.headers.get("set-cookie").is_none());
}

async fn api_sign_in(central: &TestCentral, client: &reqwest::Client, email: &str, password: &str) -> Answer {
    let response = client
        .post(format!("{}/api/v1/sessions", central.base))
        .json(&json!({"kind": "customer", "email": email, "password": password}))
        .send()
        .await
        .expect("sign-in reaches central");
    Answer::read(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_sign_in_is_limited_per_email_and_per_address() {
    // Proves POST /api/v1/sessions answers 429 rate_limited with Retry-After past the per-email and per-address limits, even with the right password, while another email and another address still sign in.
    let central = TestCentral::start().await;
    central.customer("ann@x.io").await;
    central.customer("bob@x.io").await;
    central.customer("cid@x.io").await;
    let here = reqwest::Client::new();
    // `customer` signed ann in once: her bucket has PER_EMAIL - 1 left.
    for _ in 1..PER_EMAIL {
        api_sign_in(&central, &here, "ann@x.io", "wrong password").await.assert_problem(401, "unauthorized");
    }
    let refused = api_sign_in(&central, &here, "ann@x.io", "correct horse").await;
    assert_rate_limited(&refused);
    let bob = api_sign_in(&central, &here, "bob@x.io", "correct horse").await;
    assert_eq!(bob.status, 201, "another email is not limited: {}", bob.body);
    // The address bucket: every attempt so far took a token from it too (three registrations'
    // sign-ins, ann's attempts, bob's); the rest are spent on ann, refused before any hashing.
    let spent = 3 + PER_EMAIL + 1;
    for _ in spent..PER_ADDRESS {
        assert_rate_limited(&api_sign_in(&central, &here, "ann@x.io", "correct horse").await);
    }
    assert_rate_limited(&api_sign_in(&central, &here, "cid@x.io", "correct horse").await);
    // Another address (127.0.0.2 reaches central's 127.0.0.1 listener over loopback).
    let elsewhere =
        reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).build().expect("client");
    let cid = api_sign_in(&central, &elsewhere, "cid@x.io", "correct horse").await;
    assert_eq!(cid.status, 201, "another address is not limited: {}", cid.body);
    let ann = api_sign_in(&central, &elsewhere, "ann@x.io", "correct horse").await;
    assert_rate_limited(&ann);
    // The refusals changed nothing: after the window ann signs in with her unchanged password.
    central.clock.advance_s(i64::from(protus::vocab::limits::sign_in_window_s));
    assert_eq!(api_sign_in(&central, &elsewhere, "ann@x.io", "correct horse").await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_sign_in_form_is_limited_per_email() {
    // Proves the /signin form answers 429 with "Too many attempts" and Retry-After past the per-email limit, sets no session, and leaves another email's sign-in alone.
    let central = TestCentral::start().await;
    let mut anna = Browser::new(&central, "en");
    anna.register_person("anna@example.com").await;
    let mut bob = Browser::new(&central, "en");
    bob.register_person("bob@example.com").await;
    let mut browser = Browser::new(&central, "en");
    let wrong = [("kind", "customer"), ("email", "anna@example.com"), ("password", "wrong password")];
    // Registering signed anna in once, which took a token from her bucket.
    for _ in 1..PER_EMAIL {
        let page = browser.submit("/signin", "/signin", &wrong).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_contains("Wrong email or password.");
    }
    let right = [("kind", "customer"), ("email", "anna@example.com"), ("password", "correct horse")];
    let refused = browser.submit("/signin", "/signin", &right).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    refused.assert_contains("Too many attempts");
    retry_after(&refused.headers);
    assert!(refused.headers.get("location").is_none());
    assert!(!browser.cookies.iter().any(|(name, _)| name == "protus_session"), "no session after a refusal");
    assert_eq!(browser.get("/wallet").await.status, 303, "still signed out");
    let mut other = Browser::new(&central, "en");
    let bob_in = other
        .submit(
            "/signin",
            "/signin",
            &[("kind", "customer"), ("email", "bob@example.com"), ("password", "correct horse")],
        )
        .await;
    assert_eq!((bob_in.status.as_u16(), bob_in.location()), (303, "/wallet"), "{}", bob_in.body);
}

/// A fresh consent form: its request id, its CSRF token and the browser cookie it is bound to.
async fn form(central: &TestCentral, client_id: &str) -> (String, String, String) {
    let (page, browser) = consent_page(&authorize_url(central, client_id, "check", "st")).await;
    (hidden(&page.body, "request_id"), hidden(&page.body, "csrf_token"), browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_sign_in_refuses_past_the_limit_without_a_grant_or_session_and_spares_others() {
    // Proves the consent page's sign-in, once ann's limit is spent, re-renders with "Too many attempts" even for the right password, sets no session, records no consent, keeps the request open, and lets bob consent.
    let central = TestCentral::start().await;
    let (client_id, client_secret, company_token) = partner(&central, "Messages").await;
    central.customer("ann@x.io").await;
    central.customer("bob@x.io").await;
    let endpoint = format!("{}/oauth/authorize", central.base);
    let attempt = |(rid, csrf, browser): (String, String, String), email: &'static str, password: &'static str| {
        let endpoint = endpoint.clone();
        async move {
            let fields = [
                ("request_id", rid.as_str()),
                ("csrf_token", csrf.as_str()),
                ("email", email),
                ("password", password),
                ("granted_scope", "check"),
                ("decision", "allow"),
            ];
            post_form(&endpoint, &fields, Some(&browser)).await
        }
    };
    // `customer` signed ann in once through the API, which shares the limiter.
    for _ in 1..PER_EMAIL {
        let wrong = attempt(form(&central, &client_id).await, "ann@x.io", "wrong pass").await;
        assert_eq!(wrong.status, 200);
        assert!(!wrong.body.contains("Too many attempts"), "limited too early");
    }
    let form = form(&central, &client_id).await;
    let refused = attempt(form.clone(), "ann@x.io", "correct horse").await;
    assert_eq!(refused.status, 200, "re-rendered: {}", refused.body);
    assert!(refused.body.contains("Too many attempts"), "{}", refused.body);
    assert!(refused.headers.get("location").is_none(), "no code was issued");
    assert!(refused.headers.get("set-cookie").is_none(), "no session was made");
    let accounts = central.get("/api/v1/company/accounts", Some(&company_token)).await;
    assert_eq!(accounts.body["items"], json!([]), "no consent was recorded");
    let bob_code = consent(&central, &client_id, "bob@x.io", &["check"], "").await;
    assert_eq!(exchange(&central, (&client_id, &client_secret), &bob_code).await.0, 200, "bob is not limited");
    // The refused request is still open: once ann's bucket has refilled by one attempt (well
    // inside the request's lifetime), the same form succeeds.
    central.clock.advance_s(i64::from(protus::vocab::limits::sign_in_window_s) / PER_EMAIL as i64);
    let later = attempt(form, "ann@x.io", "correct horse").await;
    assert_eq!(later.status, 302, "{}", later.body);
    assert!(later.headers["location"].to_str().expect("ascii").starts_with(REDIRECT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_token_endpoint_slows_a_client_down_and_keeps_its_code() {
    // Proves /oauth/token answers 429 slow_down (RFC 6749 JSON) with Retry-After past the per-client limit, does not spend the code it refused, and leaves another client alone.
    let central = TestCentral::start().await;
    let (client_id, client_secret, _) = partner(&central, "Messages").await;
    let (other_id, other_secret, _) = partner(&central, "Othercorp").await;
    central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check"], "").await;
    let other_code = consent(&central, &other_id, "ann@x.io", &["check"], "").await;
    let bogus = [("grant_type", "refresh_token"), ("refresh_token", "prt_not_a_real_one")];
    let mut burst = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (base, id, secret) = (central.base.clone(), client_id.clone(), client_secret.clone());
        burst.spawn(async move {
            let client = reqwest::Client::new();
            for _ in (worker..TOKEN_PER_CLIENT).step_by(8) {
                let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(bogus).finish();
                let response = client
                    .post(format!("{base}/oauth/token"))
                    .basic_auth(&id, Some(&secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .expect("token endpoint");
                assert_eq!(response.status(), 400, "within the limit the bogus token is invalid_grant");
            }
        });
    }
    while let Some(done) = burst.join_next().await {
        done.expect("a worker");
    }
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", central.base))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", crate::oauth_support::VERIFIER),
        ])
        .send()
        .await
        .expect("token endpoint");
    assert_eq!(response.status(), 429);
    retry_after(response.headers());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "slow_down", "{body}");
    assert!(body["error_description"].is_string() && body.get("access_token").is_none(), "{body}");
    let (status, issued) = exchange(&central, (&other_id, &other_secret), &other_code).await;
    assert_eq!(status, 200, "another client is not limited: {issued}");
    // The refused exchange did not spend the code (a spent code would be invalid_grant now):
    // one second refills a few requests, well inside the code's 60 s.
    central.clock.advance_s(1);
    let (status, issued) = exchange(&central, (&client_id, &client_secret), &code).await;
    assert_eq!(status, 200, "the code is still unused: {issued}");
    let (status, _) = token_request(&central, (&client_id, &client_secret), &bogus).await;
    assert_eq!(status, 400);
}

/// `POST /api/v1/direct-users` at `base` with client credentials (or none, as the sidecar takes it).
async fn direct_user(base: &str, client: Option<(&str, &str)>, key: Option<&str>, email: &str) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/v1/direct-users"))
        .json(&json!({"email": email, "username": "dana"}));
    if let Some((id, secret)) = client {
        request = request.basic_auth(id, Some(secret));
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("direct-user request");
    Answer::read(response).await
}

/// Spends `DIRECT_PER_CLIENT` of a company's direct-user requests on calls without an
/// `Idempotency-Key` (each a 400 that stores nothing, after the limiter took its token).
async fn spend_direct_user_budget(base: &str, client: Option<(&str, &str)>) {
    for _ in 0..DIRECT_PER_CLIENT {
        direct_user(base, client, None, "spent@x.io").await.assert_problem(400, "invalid_request");
    }
}

async fn accounts(central: &TestCentral, company_token: &str) -> Value {
    central.get("/api/v1/company/accounts", Some(company_token)).await.body["items"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_user_creation_is_limited_per_client_at_central() {
    // Proves POST /api/v1/direct-users answers 429 rate_limited with Retry-After past the per-client limit, creates nothing and stores no idempotent answer, and leaves another client alone.
    let central = TestCentral::start().await;
    let (client_id, secret, company_token) = partner(&central, "Messages").await;
    let (other_id, other_secret, _) = partner(&central, "Othercorp").await;
    let client = Some((client_id.as_str(), secret.as_str()));
    spend_direct_user_budget(&central.base, client).await;
    let refused = direct_user(&central.base, client, Some("dana-1"), "dana@x.io").await;
    refused.assert_problem(429, "rate_limited");
    retry_after(&refused.headers);
    assert_eq!(accounts(&central, &company_token).await, json!([]), "no user was created");
    let other = direct_user(&central.base, Some((&other_id, &other_secret)), Some("dana-1"), "dana@x.io").await;
    assert_eq!(other.status, 201, "another client is not limited: {}", other.body);
    central.clock.advance_s(1); // refills two requests
    let later = direct_user(&central.base, client, Some("dana-1"), "dana@x.io").await;
    assert_eq!(later.status, 201, "{}", later.body);
    assert!(later.headers.get("idempotent-replayed").is_none(), "the refusal stored no answer under its key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_user_creation_through_the_sidecar_is_limited_per_client() {
    // Proves the sidecar relays central's 429 rate_limited with Retry-After for its company's direct users past the limit, creating nothing, while another company is not affected.
    let central = TestCentral::start().await;
    let (client_id, secret, company_token) = partner(&central, "Messages").await;
    let (other_id, other_secret, _) = partner(&central, "Othercorp").await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let sidecar = ChildSidecar::start(&central.base, (&client_id, &secret), data_dir.path());
    spend_direct_user_budget(&sidecar.base, None).await;
    let refused = direct_user(&sidecar.base, None, Some("dana-1"), "dana@x.io").await;
    refused.assert_problem(429, "rate_limited");
    retry_after(&refused.headers);
    assert_eq!(accounts(&central, &company_token).await, json!([]), "no user was created");
    // Central counts the company's calls, whichever way they come.
    direct_user(&central.base, Some((&client_id, &secret)), Some("dana-2"), "dana@x.io")
        .await
        .assert_problem(429, "rate_limited");
    let other = direct_user(&central.base, Some((&other_id, &other_secret)), Some("dana-1"), "dana@x.io").await;
    assert_eq!(other.status, 201, "another client is not limited: {}", other.body);
    central.clock.advance_s(1); // refills two requests
    let later = direct_user(&sidecar.base, None, Some("dana-1"), "dana@x.io").await;
    assert_eq!(later.status, 201, "{}", later.body);
    assert!(later.headers.get("idempotent-replayed").is_none(), "the refusal stored no answer under its key");
}
