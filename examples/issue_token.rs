//! Run with:
//!
//! ```sh
//! cargo run --release -- central --enable-test-provider    # in one shell
//! cargo run --example issue_token -- http://127.0.0.1:8080  # in another
//! ```
//!
//! The OAuth 2.1 authorization-code flow with PKCE against a local central, end to end: a new
//! company and customer, the consent form posted as a browser posts it, the code exchanged for
//! an access token, and the token checked at `GET /api/v1/authorize`.

use protus::domain::pkce::s256;
use protus::vocab::rng::random_bytes;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:9/callback"; // never fetched: we read the redirect ourselves

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let http = reqwest::Client::builder().redirect(Policy::none()).build()?;
    let run = hex::encode(random_bytes::<6>());
    let post = |path: &str, body: Value| http.post(format!("{base}{path}")).json(&body).send();
    let password = "correct horse battery";

    // A company (the OAuth client) with its redirect URI, and a customer.
    let company: Value = post(
        "/api/v1/companies",
        json!({"name": format!("Acme {run}"),
        "email": format!("dev-{run}@acme.example"), "password": password}),
    )
    .await?
    .json()
    .await?;
    let session: Value = post(
        "/api/v1/sessions",
        json!({"kind": "company",
        "email": format!("dev-{run}@acme.example"), "password": password}),
    )
    .await?
    .json()
    .await?;
    let token = session["token"].as_str().ok_or("no company session")?;
    http.patch(format!("{base}/api/v1/company"))
        .bearer_auth(token)
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await?
        .error_for_status()?;
    let email = format!("ann-{run}@example.com");
    post("/api/v1/customers", json!({"email": email, "username": "ann", "password": password}))
        .await?
        .error_for_status()?;

    // The browser's part: the authorization URL with a PKCE challenge, then the consent form.
    let (client_id, secret) =
        (company["client_id"].as_str().ok_or("no client_id")?, company["client_secret"].as_str().ok_or("no secret")?);
    let verifier = hex::encode(random_bytes::<32>());
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "check charge"),
            ("state", &run),
            ("code_challenge", &s256(&verifier)),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let page = http.get(format!("{base}/oauth/authorize?{query}")).send().await?;
    // The form's CSRF token is bound to the `protus_browser` cookie the page sets: a browser
    // sends it back with the form, and so must we.
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .find(|pair| pair.starts_with("protus_browser="))
        .ok_or("no browser cookie")?
        .to_owned();
    let page = page.text().await?;
    let hidden = |name: &str| {
        page.split(&format!("name=\"{name}\" value=\"")).nth(1).and_then(|r| r.split('"').next()).map(str::to_owned)
    };
    let form = [
        ("request_id", hidden("request_id").ok_or("no request_id")?),
        ("csrf_token", hidden("csrf_token").ok_or("no csrf")?),
        ("email", email.clone()),
        ("password", password.to_owned()),
        ("granted_scope", "check".into()),
        ("granted_scope", "charge".into()),
        ("spending_cap", String::new()),
        ("decision", "allow".into()),
    ];
    let allowed = http.post(format!("{base}/oauth/authorize")).header("cookie", cookie).form(&form).send().await?;
    let location = allowed.headers().get("location").ok_or("consent did not redirect")?.to_str()?.to_owned();
    let params: Vec<(String, String)> =
        form_urlencoded::parse(location.split_once('?').ok_or("no query")?.1.as_bytes()).into_owned().collect();
    let param = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(param("state").as_deref(), Some(run.as_str()), "state must come back unchanged");
    assert_eq!(param("iss").as_deref(), Some(base.as_str()), "the answer must come from this issuer");

    // The partner's back channel: the code and the PKCE verifier for tokens.
    let code = param("code").ok_or("no code")?;
    let tokens: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let access = tokens["access_token"].as_str().ok_or("no access token")?;
    let permission: Value = http
        .get(format!("{base}/api/v1/authorize?scope=charge"))
        .bearer_auth(access)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let (account, scope) = (permission["account_id"].as_str().unwrap_or("?"), tokens["scope"].as_str().unwrap_or("?"));
    println!("access token for account {account} with scope \"{scope}\", expires in {} s", tokens["expires_in"]);
    Ok(())
}
