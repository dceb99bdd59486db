//! Security pass (issue 8): redirect-URI and PKCE downgrade attempts at `/oauth/authorize` and
//! `/oauth/token` beyond what `oauth_consent.rs` and `oauth_tokens.rs` cover — near-miss
//! redirect URIs, downgraded or malformed challenges and verifiers, a code held to the one
//! registered URI it was issued for, and replays of a code by its owner and by another client.
//!
//! A challenge is required (DESIGN §5.1), so no code exists without one and "a verifier for a
//! code issued without a challenge" cannot be built. A refused exchange writes nothing
//! (docs/design.md, "Authorization codes"): a wrong verifier does not spend the code; the one
//! exchange that succeeds does, and any later use of the code revokes what it issued.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::oauth_support::*;
use crate::oauth_tokens::{assert_accepted, assert_refused, oauth_post};
use crate::support::TestCentral;

/// A registered URI on a name host, to try case and userinfo tricks on.
const APP: &str = "https://app.example.com/callback";
/// A registered URI with a port and a query of its own.
const TENANT: &str = "https://app.example.com:8443/cb?tenant=1";
/// Another company's registered URI.
const OTHERS: &str = "https://other.example/cb";

/// Company "Messages" with `REDIRECT`, `APP` and `TENANT` registered: (client id, client secret).
async fn partner_with_uris(central: &TestCentral) -> (String, String) {
    let (client_id, secret, session) = partner(central, "Messages").await;
    let body = json!({"redirect_uris": [REDIRECT, APP, TENANT]});
    let updated = central.patch("/api/v1/company", Some(&session), body).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    (client_id, secret)
}

/// `/oauth/authorize?…` with these parameters, in this order, encoded.
fn authorize(central: &TestCentral, params: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter().copied()).finish();
    format!("{}/oauth/authorize?{query}", central.base)
}

/// The parameters of a valid request for `client_id` to `redirect`, S256 challenge included.
fn valid(client_id: &str, redirect: &str, challenge: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "check"),
        ("state", "s1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect()
}

fn refs(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// `params` with `name` set to `value` (or removed when `None`).
fn with(params: &[(String, String)], name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = params.iter().filter(|(n, _)| n != name).cloned().collect();
    if let Some(value) = value {
        out.push((name.to_owned(), value.to_owned()));
    }
    out
}

/// Asserts an HTML error page: 400, no `Location`, nothing that sends the browser anywhere.
#[track_caller]
fn assert_error_page(page: &Page, what: &str) {
    assert_eq!(page.status, 400, "{what}: {}", page.body);
    assert!(page.headers.get("location").is_none(), "{what} must not redirect");
    let content_type = page.headers["content-type"].to_str().expect("a content type");
    assert!(content_type.starts_with("text/html"), "{what}: {content_type}");
    assert!(!page.body.contains("evil"), "{what}: the page names the attacker's URI: {}", page.body);
    assert!(!page.body.contains("http-equiv"), "{what}: the page refreshes somewhere: {}", page.body);
    assert!(!page.body.contains("request_id"), "{what}: an error page is not a consent form");
}

/// Asserts a 302 back to `redirect` with `error` and no code.
#[track_caller]
fn assert_redirected_error(page: &Page, redirect: &str, error: &str, what: &str) {
    assert_eq!(page.status, 302, "{what}: {}", page.body);
    let location = page.headers["location"].to_str().expect("a Location");
    let (base, query) = location.split_once('?').expect("a query");
    assert_eq!(base, redirect, "{what}: redirected to the verified URI only");
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    assert_eq!(param(&params, "error").as_deref(), Some(error), "{what}");
    assert_eq!(param(&params, "code"), None, "{what}: no code with an error");
}

/// An exchange at `/oauth/token` as `client` (HTTP Basic) with these fields.
async fn token_post(central: &TestCentral, client: (&str, &str), fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let (status, headers, body): (StatusCode, HeaderMap, Value) =
        oauth_post(central, "/oauth/token", Some(client), fields).await;
    assert_eq!(headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{body}");
    (status, body)
}

#[track_caller]
fn assert_oauth(answer: &(StatusCode, Value), status: u16, error: &str, what: &str) {
    let (got, body) = answer;
    assert_eq!((got.as_u16(), body["error"].as_str()), (status, Some(error)), "{what}: {body}");
    assert!(body.get("access_token").is_none(), "{what}: no token with an error");
}

fn code_fields<'a>(code: &'a str, redirect: &'a str, verifier: &'a str) -> [(&'a str, &'a str); 4] {
    [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect), ("code_verifier", verifier)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_miss_redirect_uris_get_an_error_page_never_a_redirect() {
    // Proves every near miss of a registered URI (path, host case, scheme, port, query, fragment, userinfo, encoding, whitespace, another company's URI) is an error page, even with a PKCE error that would otherwise be redirected.
    let central = TestCentral::start().await;
    let (client_id, _) = partner_with_uris(&central).await;
    let (_, _, other_session) = partner(&central, "Other").await;
    let others = json!({"redirect_uris": [REDIRECT, OTHERS]});
    assert_eq!(central.patch("/api/v1/company", Some(&other_session), others).await.status, 200);
    let challenge = protus::domain::pkce::s256(VERIFIER);
    // The controls: each registered URI, exactly, gets the consent page.
    for registered in [REDIRECT, APP, TENANT] {
        let page = get_page(&authorize(&central, &refs(&valid(&client_id, registered, &challenge))), None).await;
        assert_eq!(page.status, 200, "{registered}: {}", page.body);
        assert!(page.body.contains("name=\"request_id\""), "{registered}");
    }
    let near_misses = [
        "https://app.example.com/callback/",
        "https://app.example.com/callback/extra",
        "https://app.example.com/callbac",
        "https://app.example.com/call",
        "https://app.example.com/callbackx",
        "https://app.example.com/callback.evil.example",
        "https://app.example.com.evil.example/callback",
        "https://evil.app.example.com/callback",
        "https://APP.EXAMPLE.COM/callback",
        "https://app.example.com/Callback",
        "HTTPS://app.example.com/callback",
        "http://app.example.com/callback",
        "https://app.example.com:443/callback",
        "https://app.example.com:8443/callback",
        "https://app.example.com/callback?",
        "https://app.example.com/callback?next=https://evil.example",
        "https://app.example.com/callback#",
        "https://app.example.com/callback#evil",
        "https://app.example.com@evil.example/callback",
        "https://evil.example@app.example.com/callback",
        "https://app.example.com%40evil.example/callback",
        "https://app.example.com\\@evil.example/callback",
        "//app.example.com/callback",
        "app.example.com/callback",
        "https://app.example.com/%63allback",
        "https://app.example.com/./callback",
        "https://app.example.com//callback",
        "https://app.example.com/callback%00",
        "https://app.example.com/callback\r\nLocation: https://evil.example",
        " https://app.example.com/callback",
        "https://app.example.com/callback ",
        "https://app.example.com:8443/cb",
        "https://app.example.com:8443/cb?tenant=2",
        "https://app.example.com:8443/cb?tenant=1&evil=1",
        "https://app.example.com:8443/cb?TENANT=1",
        "https://app.example.com:8443/cb?tenant=1#evil",
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:90/callback",
        "http://127.0.0.1/callback",
        "http://localhost:9/callback",
        "https://127.0.0.1:9/callback",
        OTHERS,
        "https://evil.example/steal",
    ];
    for uri in near_misses {
        let good = valid(&client_id, uri, &challenge);
        assert_error_page(&get_page(&authorize(&central, &refs(&good)), None).await, uri);
        // A downgrade on top of the bad URI is still not sent to it.
        let plain = with(&with(&good, "code_challenge_method", Some("plain")), "code_challenge", Some(VERIFIER));
        assert_error_page(&get_page(&authorize(&central, &refs(&plain)), None).await, &format!("{uri} + plain"));
        let bad_type = with(&good, "response_type", Some("token"));
        assert_error_page(&get_page(&authorize(&central, &refs(&bad_type)), None).await, &format!("{uri} + token"));
    }
    // No URI, an empty one, or a second one next to a registered one: no default is ever taken.
    let base = valid(&client_id, REDIRECT, &challenge);
    for (what, params) in [
        ("no redirect_uri", with(&base, "redirect_uri", None)),
        ("an empty redirect_uri", with(&base, "redirect_uri", Some(""))),
        ("redirect_uri twice", {
            let mut twice = base.clone();
            twice.push(("redirect_uri".to_owned(), "https://evil.example/steal".to_owned()));
            twice
        }),
        ("the same redirect_uri twice", {
            let mut twice = base.clone();
            twice.push(("redirect_uri".to_owned(), REDIRECT.to_owned()));
            twice
        }),
        ("client_id twice", {
            let mut twice = base.clone();
            twice.push(("client_id".to_owned(), client_id.clone()));
            twice
        }),
    ] {
        assert_error_page(&get_page(&authorize(&central, &refs(&params)), None).await, what);
    }
    // A company with a single registered URI gets no default either.
    let (solo, _, _) = partner(&central, "Solo").await;
    let solo_params = with(&valid(&solo, REDIRECT, &challenge), "redirect_uri", None);
    assert_error_page(&get_page(&authorize(&central, &refs(&solo_params)), None).await, "one URI, none sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downgraded_or_malformed_pkce_challenges_are_refused_at_authorize() {
    // Proves every challenge other than a well-formed S256 one (method spelled otherwise, plain with a well-formed value, wrong length, standard base64, padding) is refused with invalid_request, and repeated PKCE parameters are an error page.
    let central = TestCentral::start().await;
    let (client_id, _) = partner_with_uris(&central).await;
    let challenge = protus::domain::pkce::s256(VERIFIER);
    let base = valid(&client_id, TENANT, &challenge);
    let standard_base64 = format!("{}+/", &challenge[..41]);
    let padded = format!("{challenge}=");
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("method s256", with(&base, "code_challenge_method", Some("s256"))),
        ("method sha256", with(&base, "code_challenge_method", Some("sha256"))),
        ("method S256 with a space", with(&base, "code_challenge_method", Some("S256 "))),
        ("method none", with(&base, "code_challenge_method", Some("none"))),
        ("method plain, a well-formed value", with(&base, "code_challenge_method", Some("plain"))),
        ("method empty", with(&base, "code_challenge_method", Some(""))),
        ("S256 without a challenge", with(&base, "code_challenge", None)),
        ("S256 with an empty challenge", with(&base, "code_challenge", Some(""))),
        ("42 characters", with(&base, "code_challenge", Some(&challenge[..42]))),
        ("44 characters", with(&base, "code_challenge", Some(&format!("{challenge}A")))),
        ("standard base64", with(&base, "code_challenge", Some(&standard_base64))),
        ("padded", with(&base, "code_challenge", Some(&padded))),
        ("the verifier itself", with(&base, "code_challenge", Some(VERIFIER))),
    ];
    for (what, params) in cases {
        let page = get_page(&authorize(&central, &refs(&params)), None).await;
        assert_redirected_error(&page, "https://app.example.com:8443/cb", "invalid_request", what);
        let location = page.headers["location"].to_str().expect("a Location");
        assert!(location.starts_with(&format!("{TENANT}&")), "{what}: the registered query is kept: {location}");
    }
    for (what, name, second) in [
        ("method twice", "code_challenge_method", "plain"),
        ("challenge twice", "code_challenge", VERIFIER),
        ("the same method twice", "code_challenge_method", "S256"),
    ] {
        let mut twice = base.clone();
        twice.push((name.to_owned(), second.to_owned()));
        assert_error_page(&get_page(&authorize(&central, &refs(&twice)), None).await, what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_form_cannot_choose_where_the_code_goes() {
    // Proves a redirect_uri added to the consent POST is ignored: the code goes to the URI of the request and is redeemable only with it, not with another registered one.
    let central = TestCentral::start().await;
    let (client_id, secret) = partner_with_uris(&central).await;
    central.customer("ann@x.io").await;
    let challenge = protus::domain::pkce::s256(VERIFIER);
    let (page, browser) = consent_page(&authorize(&central, &refs(&valid(&client_id, APP, &challenge)))).await;
    let (request_id, csrf) = (hidden(&page.body, "request_id"), hidden(&page.body, "csrf_token"));
    let fields = [
        ("request_id", request_id.as_str()),
        ("csrf_token", csrf.as_str()),
        ("email", "ann@x.io"),
        ("password", "correct horse"),
        ("granted_scope", "check"),
        ("spending_cap", ""),
        ("decision", "allow"),
        ("redirect_uri", "https://evil.example/steal"),
    ];
    let answer = post_form(&format!("{}/oauth/authorize", central.base), &fields, Some(&browser)).await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let location = answer.headers["location"].to_str().expect("a Location");
    let query = location.strip_prefix(&format!("{APP}?")).unwrap_or_else(|| panic!("sent to {location}, not {APP}"));
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let code = param(&params, "code").expect("a code");
    let client = (client_id.as_str(), secret.as_str());
    for uri in [REDIRECT, TENANT, "https://evil.example/steal", "https://app.example.com/callback/"] {
        let refused = token_post(&central, client, &code_fields(&code, uri, VERIFIER)).await;
        assert_oauth(&refused, 400, "invalid_grant", uri);
    }
    let (status, tokens) = token_post(&central, client, &code_fields(&code, APP, VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_accepted(&central, tokens["access_token"].as_str().expect("a token"), "the code's own URI").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_holds_a_code_to_the_exact_uri_it_was_issued_for() {
    // Proves another registered URI, near misses and a missing redirect_uri are refused at the token endpoint without spending the code.
    let central = TestCentral::start().await;
    let (client_id, secret) = partner_with_uris(&central).await;
    central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check"], "").await;
    let client = (client_id.as_str(), secret.as_str());
    for uri in [
        APP,
        TENANT,
        "http://127.0.0.1:9/callback/",
        "HTTP://127.0.0.1:9/callback",
        "http://127.0.0.1:9/Callback",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/callback#",
        "http://127.0.0.1:09/callback",
        "http://127.0.0.1:9/callback ",
        "http://evil.example@127.0.0.1:9/callback",
    ] {
        assert_oauth(
            &token_post(&central, client, &code_fields(&code, uri, VERIFIER)).await,
            400,
            "invalid_grant",
            uri,
        );
    }
    let missing = [("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", VERIFIER)];
    assert_oauth(&token_post(&central, client, &missing).await, 400, "invalid_request", "no redirect_uri");
    let (status, tokens) = token_post(&central, client, &code_fields(&code, REDIRECT, VERIFIER)).await;
    assert_eq!(status, 200, "the refusals spent the code: {tokens}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_downgraded_verifiers_get_no_tokens_and_a_replay_revokes_what_the_code_issued() {
    // Proves the challenge sent as a plain verifier, near-miss and malformed verifiers are invalid_grant; the code then redeems once, and a replay even with a wrong verifier revokes its tokens.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check", "charge"], "").await;
    let client = (client_id.as_str(), secret.as_str());
    let challenge = protus::domain::pkce::s256(VERIFIER);
    let upper = VERIFIER.to_uppercase();
    let (longer, too_long) = (format!("{VERIFIER}0"), "a".repeat(129));
    let (spaced, equals) = (format!("{VERIFIER} "), "=".repeat(43));
    for (what, verifier) in [
        ("the challenge as a plain verifier", challenge.as_str()),
        ("the verifier in upper case", upper.as_str()),
        ("one character short", &VERIFIER[..VERIFIER.len() - 1]),
        ("one character more", longer.as_str()),
        ("42 characters", &VERIFIER[..42]),
        ("129 characters", too_long.as_str()),
        ("a character outside the set", spaced.as_str()),
        ("43 padding characters", equals.as_str()),
    ] {
        let refused = token_post(&central, client, &code_fields(&code, REDIRECT, verifier)).await;
        assert_oauth(&refused, 400, "invalid_grant", what);
    }
    let empty = token_post(&central, client, &code_fields(&code, REDIRECT, "")).await;
    assert_oauth(&empty, 400, "invalid_request", "an empty verifier");
    let mut downgrade = code_fields(&code, REDIRECT, &challenge).to_vec();
    downgrade.push(("code_challenge_method", "plain"));
    let downgraded = token_post(&central, client, &downgrade).await;
    assert!(
        downgraded.1.get("access_token").is_none(),
        "code_challenge_method=plain at the token endpoint: {}",
        downgraded.1
    );
    assert_eq!(downgraded.0, 400, "{}", downgraded.1);

    // None of that spent the code: its owner redeems it once with the right verifier.
    let (status, tokens) = token_post(&central, client, &code_fields(&code, REDIRECT, VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("an access token").to_owned();
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_owned();
    assert_accepted(&central, &access, "the one exchange").await;
    // A replay of the spent code, even one that would fail PKCE, revokes what the code issued.
    let replay = token_post(&central, client, &code_fields(&code, REDIRECT, &challenge)).await;
    assert_oauth(&replay, 400, "invalid_grant", "a replay with a wrong verifier");
    assert_refused(&central, &access, "the access token after the replay").await;
    let refreshed = token_post(&central, client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_oauth(&refreshed, 400, "invalid_grant", "the refresh token after the replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_client_cannot_redeem_a_code_nor_spoil_it_by_replaying_it() {
    // Proves a code is unknown to every other client — before and after its owner redeemed it — so another client neither gets tokens nor revokes the owner's, and cannot pass as the owner.
    let central = TestCentral::start().await;
    let (a_id, a_secret, _) = partner(&central, "Messages").await;
    let (b_id, b_secret, _) = partner(&central, "Other").await;
    central.customer("ann@x.io").await;
    let code = consent(&central, &a_id, "ann@x.io", &["check"], "").await;
    let (a, b) = ((a_id.as_str(), a_secret.as_str()), (b_id.as_str(), b_secret.as_str()));
    let fields = code_fields(&code, REDIRECT, VERIFIER);
    assert_oauth(&token_post(&central, b, &fields).await, 400, "invalid_grant", "B redeems A's code");
    let mut posing = fields.to_vec();
    posing.extend([("client_id", a_id.as_str()), ("client_secret", b_secret.as_str())]);
    let (status, _, body) = oauth_post(&central, "/oauth/token", None, &posing).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, tokens) = token_post(&central, a, &fields).await;
    assert_eq!(status, 200, "B's attempts spent A's code: {tokens}");
    let access = tokens["access_token"].as_str().expect("an access token").to_owned();
    assert_oauth(&token_post(&central, b, &fields).await, 400, "invalid_grant", "B replays A's spent code");
    assert_accepted(&central, &access, "A's token after B replayed A's code").await;
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let (status, body) = token_post(&central, a, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 200, "A's refresh token after B's replay: {body}");
}
