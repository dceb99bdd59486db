//! Helpers for OAuth tests: a company with a redirect URI, PKCE, the consent form, the token endpoint.

use protus::domain::pkce::s256;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestCentral;

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-for-rfc-7636-0123456789";

/// A registered company with `REDIRECT` registered: (client id, client secret, session token).
pub async fn partner(central: &TestCentral, name: &str) -> (String, String, String) {
    let email = format!("ops@{}.io", name.to_lowercase());
    let (registered, token) = central.company(name, &email).await;
    let updated = central.patch("/api/v1/company", Some(&token), json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    (
        registered["client_id"].as_str().expect("id").to_owned(),
        registered["client_secret"].as_str().expect("secret").to_owned(),
        token,
    )
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The authorization URL for `client_id` asking for `scope`.
pub fn authorize_url(central: &TestCentral, client_id: &str, scope: &str, state: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", state)
        .append_pair("code_challenge", &s256(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}/oauth/authorize?{query}", central.base)
}

/// The value of hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in page: {html}")) + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// A page fetched with optional cookies.
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

pub async fn get_page(url: &str, cookie: Option<&str>) -> Page {
    let mut request = no_redirects().get(url).header("accept-language", "en");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("page");
    Page { status: response.status(), headers: response.headers().clone(), body: response.text().await.expect("html") }
}

pub async fn post_form(url: &str, fields: &[(&str, &str)], cookie: Option<&str>) -> Page {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter().copied()).finish();
    let mut request = no_redirects().post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("post");
    Page { status: response.status(), headers: response.headers().clone(), body: response.text().await.expect("body") }
}

/// The `name=value` pair of the cookie `name` that a page sets, if it sets one.
pub fn set_cookie(page: &Page, name: &str) -> Option<String> {
    page.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let pair = c.split(';').next()?;
        pair.strip_prefix(name)?.starts_with('=').then(|| pair.to_owned())
    })
}

/// Opens a consent page as a browser without cookies does: the page and the `protus_browser`
/// cookie it sets, which its form's CSRF token is bound to and a post must carry.
pub async fn consent_page(url: &str) -> (Page, String) {
    let page = get_page(url, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = set_cookie(&page, "protus_browser").unwrap_or_else(|| panic!("no browser cookie: {:?}", page.headers));
    (page, cookie)
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(page: &Page) -> Vec<(String, String)> {
    let location = page.headers.get("location").and_then(|v| v.to_str().ok()).expect("a Location header");
    assert!(location.starts_with(REDIRECT), "redirected to the registered URI: {location}");
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

pub fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// Signs `email` in on the consent page and allows `granted` with `cap`; returns the code.
pub async fn consent(central: &TestCentral, client_id: &str, email: &str, granted: &[&str], cap: &str) -> String {
    let (page, browser) = consent_page(&authorize_url(central, client_id, "check hold charge", "st-1")).await;
    let (request_id, csrf) = (hidden(&page.body, "request_id"), hidden(&page.body, "csrf_token"));
    let mut fields = vec![
        ("request_id", request_id.as_str()),
        ("csrf_token", csrf.as_str()),
        ("email", email),
        ("password", "correct horse"),
    ];
    fields.extend(granted.iter().map(|scope| ("granted_scope", *scope)));
    fields.extend([("spending_cap", cap), ("decision", "allow")]);
    let answer = post_form(&format!("{}/oauth/authorize", central.base), &fields, Some(&browser)).await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let params = location_params(&answer);
    assert_eq!(param(&params, "state").as_deref(), Some("st-1"));
    assert_eq!(param(&params, "iss").as_deref(), Some(central.base.as_str()));
    param(&params, "code").expect("a code")
}

/// POSTs to the token endpoint with HTTP Basic client auth.
pub async fn token_request(
    central: &TestCentral,
    client: (&str, &str),
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter().copied()).finish();
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", central.base))
        .basic_auth(client.0, Some(client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token endpoint");
    (response.status(), response.json().await.unwrap_or_default())
}

pub async fn exchange(central: &TestCentral, client: (&str, &str), code: &str) -> (StatusCode, Value) {
    token_request(
        central,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}
