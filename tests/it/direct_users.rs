//! Direct users and claiming: a company onboards its own user, cannot take a registered
//! person's wallet, and the person claims the wallet by a mailed link, after which the
//! company's grant waits for their confirmation.

use serde_json::json;

use crate::oauth_support::partner;
use crate::support::{Answer, TestCentral};

async fn onboard(central: &TestCentral, client: (&str, &str), key: &str, email: &str) -> Answer {
    let response = central
        .client
        .post(format!("{}/api/v1/direct-users", central.base))
        .basic_auth(client.0, Some(client.1))
        .header("idempotency-key", key)
        .json(&json!({"email": email, "username": "direct_user"}))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    Answer { status, headers, body: response.json().await.unwrap_or_default() }
}

/// The claim link mailed to `email` (the `log` mailer writes `<data-dir>/mail.log`).
fn mailed_token(central: &TestCentral, email: &str) -> String {
    let log = std::fs::read_to_string(central.dir.path().join("mail.log")).expect("mail.log written");
    let message =
        log.split("----").filter(|m| m.contains(&format!("To: {email}"))).last().expect("a message to that address");
    let start = message.find("token=").expect("a claim link") + "token=".len();
    message[start..].split_whitespace().next().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_onboards_a_direct_user_with_a_working_token() {
    // Proves get-or-create of an unclaimed customer, account and full-scope grant, with a usable token and idempotent replay.
    let central = TestCentral::start().await;
    let (client_id, secret, company_token) = partner(&central, "Messages").await;
    let created = onboard(&central, (&client_id, &secret), "u1", "Dana@Example.com").await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["scope"], "check hold charge");
    let token = created.body["access_token"].as_str().expect("token");
    let check = central.get("/api/v1/authorize?scope=charge", Some(token)).await;
    assert_eq!(check.body["account_id"], created.body["account_id"]);
    let replay = onboard(&central, (&client_id, &secret), "u1", "Dana@Example.com").await;
    assert_eq!(replay.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(replay.body["account_id"], created.body["account_id"]);
    // A new key for the same user finds the same account and grant.
    let again = onboard(&central, (&client_id, &secret), "u2", "dana@example.com").await;
    assert_eq!(
        (again.body["account_id"].clone(), again.body["grant_id"].clone()),
        (created.body["account_id"].clone(), created.body["grant_id"].clone())
    );
    let accounts = central.get("/api/v1/company/accounts", Some(&company_token)).await;
    assert_eq!(accounts.body["items"].as_array().expect("items").len(), 1);
    assert_eq!(accounts.body["items"][0]["customer_email"], "dana@example.com");
    // The unclaimed customer cannot sign in.
    central
        .post("/api/v1/sessions", None, json!({"kind": "customer", "email": "dana@example.com", "password": ""}))
        .await
        .assert_problem(401, "unauthorized");
    // Events were queued for the company.
    let events = central.store().read(protus::storage::central::changes::queued_events).await.expect("outbox");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["account.created", "grant.created"]);
    assert_eq!(events[1].data["scope"], "check hold charge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_customer_cannot_be_taken_over_and_bad_calls_are_refused() {
    // Proves 409 customer_exists for a registered email, 401 without client auth, 400 without a key, 422 on bad fields.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    let (_, person) = central.customer("ann@x.io").await;
    onboard(&central, (&client_id, &secret), "k1", "ANN@x.io").await.assert_problem(409, "customer_exists");
    onboard(&central, (&client_id, "cs_wrong"), "k2", "new@x.io").await.assert_problem(401, "unauthorized");
    let no_key = central
        .client
        .post(format!("{}/api/v1/direct-users", central.base))
        .basic_auth(&client_id, Some(&secret))
        .json(&json!({"email": "n@x.io", "username": "nobody"}))
        .send()
        .await
        .expect("request");
    assert_eq!(no_key.status(), 400);
    onboard(&central, (&client_id, &secret), "k3", "not-an-email").await.assert_problem(422, "validation_failed");
    // Ann's grants are untouched: she has none.
    assert_eq!(central.get("/api/v1/me/grants", Some(&person)).await.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_claims_the_wallet_by_mail_and_confirms_the_suspended_grant() {
    // Proves registering an unclaimed email mails a claim link, the claim sets a password that signs in, and the grant is suspended until confirmed.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    let created = onboard(&central, (&client_id, &secret), "u1", "dana@example.com").await;
    let token = created.body["access_token"].as_str().expect("token").to_owned();
    let registration = central
        .post(
            "/api/v1/customers",
            None,
            json!({"email": "dana@example.com", "username": "dana", "password": "chosen at signup"}),
        )
        .await;
    assert_eq!(registration.status, 202, "{}", registration.body);
    assert_eq!(registration.body["status"], "verification_sent");
    // Registration alone does not take the account: the signup password does not work.
    central
        .post(
            "/api/v1/sessions",
            None,
            json!({"kind": "customer", "email": "dana@example.com", "password": "chosen at signup"}),
        )
        .await
        .assert_problem(401, "unauthorized");
    let link = mailed_token(&central, "dana@example.com");
    central
        .post("/api/v1/customers/claim", None, json!({"token": "clm_wrong", "password": "my new password"}))
        .await
        .assert_problem(404, "not_found");
    central
        .post("/api/v1/customers/claim", None, json!({"token": link, "password": "short"}))
        .await
        .assert_problem(422, "validation_failed");
    let claimed =
        central.post("/api/v1/customers/claim", None, json!({"token": link, "password": "my new password"})).await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    assert_eq!(
        (claimed.body["email"].as_str(), claimed.body["username"].as_str()),
        (Some("dana@example.com"), Some("dana"))
    );
    // The link works once.
    central
        .post("/api/v1/customers/claim", None, json!({"token": link, "password": "another password"}))
        .await
        .assert_problem(404, "not_found");
    let session = central.sign_in("customer", "dana@example.com", "my new password").await;
    // The company's grant waits for the person; its token stops working meanwhile.
    let grants = central.get("/api/v1/me/grants", Some(&session)).await;
    assert_eq!(grants.body["items"][0]["status"], "suspended");
    central.get("/api/v1/authorize", Some(&token)).await.assert_problem(401, "invalid_token");
    onboard(&central, (&client_id, &secret), "u2", "dana@example.com").await.assert_problem(409, "customer_exists");
    let grant_id = grants.body["items"][0]["id"].as_str().expect("id");
    central
        .patch(&format!("/api/v1/me/grants/{grant_id}"), Some(&session), json!({"status": "revoked"}))
        .await
        .assert_problem(422, "validation_failed");
    let confirmed =
        central.patch(&format!("/api/v1/me/grants/{grant_id}"), Some(&session), json!({"status": "active"})).await;
    assert_eq!(confirmed.body["status"], "active");
    assert_eq!(central.get("/api/v1/authorize?scope=charge", Some(&token)).await.status, 200);
    // Now a registered, claimed customer can top up.
    assert_eq!(central.top_up(&session, "5.00", "claimed-topup").await["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_page_sets_the_password_through_a_browser_form() {
    // Proves the mailed link's page works without JavaScript and refuses a form without its CSRF token.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    onboard(&central, (&client_id, &secret), "u1", "eve@example.com").await;
    central
        .post(
            "/api/v1/customers",
            None,
            json!({"email": "eve@example.com", "username": "eve", "password": "whatever1"}),
        )
        .await;
    let link = mailed_token(&central, "eve@example.com");
    let page = central.client.get(format!("{}/claim?token={link}", central.base)).send().await.expect("page");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.expect("html");
    let csrf = crate::oauth_support::hidden(&html, "csrf_token");
    let forged = crate::oauth_support::post_form(
        &format!("{}/claim", central.base),
        &[("token", &link), ("csrf_token", "x"), ("password", "from the page")],
        None,
    )
    .await;
    assert!(!forged.body.contains("Your wallet is yours"));
    let done = crate::oauth_support::post_form(
        &format!("{}/claim", central.base),
        &[("token", &link), ("csrf_token", &csrf), ("password", "from the page")],
        None,
    )
    .await;
    assert!(done.body.contains("Your wallet is yours"), "{}", done.body);
    central.sign_in("customer", "eve@example.com", "from the page").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_link_without_its_token_or_form_gets_an_error_page() {
    // Proves a truncated link or a body that is not the page's form answers 400 with an HTML error page, not the extractor's plain text.
    let central = TestCentral::start().await;
    let page = central.client.get(format!("{}/claim", central.base)).send().await.expect("page");
    assert_eq!(page.status(), 400);
    assert!(page.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let missing = crate::oauth_support::post_form(&format!("{}/claim", central.base), &[("password", "x")], None).await;
    assert_eq!(missing.status, 400);
    assert!(missing.headers["content-type"].to_str().expect("type").starts_with("text/html"), "{}", missing.body);
    let json = central.client.post(format!("{}/claim", central.base)).json(&json!({})).send().await.expect("post");
    assert_eq!(json.status(), 400);
    assert!(json.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
}
