//! The authorization endpoint's page: bad clients and redirect URIs are error pages (never
//! redirects), protocol errors go back to the company, and the form re-renders what was typed.

use crate::oauth_support::*;
use crate::support::TestCentral;

fn query(client_id: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect);
    for (name, value) in extra {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_clients_and_unregistered_redirects_get_an_error_page_never_a_redirect() {
    // Proves an open-redirect cannot be built from the authorization endpoint.
    let central = TestCentral::start().await;
    let (client_id, _, _) = partner(&central, "Messages").await;
    let pkce = [("code_challenge", protus::domain::pkce::s256(VERIFIER)), ("code_challenge_method", "S256".to_owned())];
    let pkce: Vec<(&str, &str)> = pkce.iter().map(|(n, v)| (*n, v.as_str())).collect();
    for url in [
        query("co_aaaaaaaaaaaaaaaaaaaaaaaaaa", REDIRECT, &pkce),
        query("not-an-id", REDIRECT, &pkce),
        query(&client_id, "https://evil.example/steal", &pkce),
        query(&client_id, &format!("{REDIRECT}/extra"), &pkce),
        query(&client_id, "http://127.0.0.1:9/Callback", &pkce),
    ] {
        let page = get_page(&format!("{}/oauth/authorize?{url}", central.base), None).await;
        assert_eq!(page.status, 400, "{url}");
        assert!(page.headers.get("location").is_none(), "{url} must not redirect");
        assert!(page.headers["content-type"].to_str().expect("ct").starts_with("text/html"));
    }
    let unknown = get_page(
        &format!("{}/oauth/authorize?{}", central.base, query("co_aaaaaaaaaaaaaaaaaaaaaaaaaa", REDIRECT, &pkce)),
        None,
    )
    .await;
    assert!(unknown.body.contains("not registered with PROTUS"), "{}", unknown.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_are_redirected_with_state_and_iss() {
    // Proves missing PKCE, a plain PKCE downgrade, a wrong response_type and an unknown scope come back as RFC 6749 errors.
    let central = TestCentral::start().await;
    let (client_id, _, _) = partner(&central, "Messages").await;
    let challenge = protus::domain::pkce::s256(VERIFIER);
    for (extra, error) in [
        (vec![("state", "s1")], "invalid_request"),
        (vec![("state", "s1"), ("code_challenge", VERIFIER), ("code_challenge_method", "plain")], "invalid_request"),
        (vec![("state", "s1"), ("code_challenge", challenge.as_str())], "invalid_request"),
        (
            vec![
                ("state", "s1"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("scope", "check admin"),
            ],
            "invalid_scope",
        ),
    ] {
        let url = format!("{}/oauth/authorize?{}", central.base, query(&client_id, REDIRECT, &extra));
        let page = get_page(&url, None).await;
        assert_eq!(page.status, 302, "{extra:?}: {}", page.body);
        let params = location_params(&page);
        assert_eq!(param(&params, "error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(param(&params, "state").as_deref(), Some("s1"));
        assert_eq!(param(&params, "iss").as_deref(), Some(central.base.as_str()));
    }
    let token_type = format!(
        "{}/oauth/authorize?{}",
        central.base,
        query(&client_id, REDIRECT, &[("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")])
            .replace("response_type=code", "response_type=token")
    );
    let page = get_page(&token_type, None).await;
    assert_eq!(param(&location_params(&page), "error").as_deref(), Some("unsupported_response_type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_company_and_every_scope_checked_in_english_or_russian() {
    // Proves the consent page content, exact form fields, and language by Accept-Language.
    let central = TestCentral::start().await;
    let (client_id, _, _) = partner(&central, "Messages").await;
    let url = authorize_url(&central, &client_id, "check hold charge", "st");
    let page = get_page(&url, None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<strong>Messages</strong>"));
    let cookie = page.headers["set-cookie"].to_str().expect("cookie");
    assert!(cookie.starts_with("protus_browser=pbr_"), "the form's CSRF token is bound to this cookie: {cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    for scope in ["check", "hold", "charge"] {
        assert!(
            page.body.contains(&format!("name=\"granted_scope\" value=\"{scope}\" checked")),
            "{scope} checked by default"
        );
    }
    for field in ["request_id", "csrf_token", "email", "password", "spending_cap", "decision"] {
        assert!(page.body.contains(&format!("name=\"{field}\"")), "field {field}");
    }
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let russian =
        reqwest::Client::new().get(&url).header("accept-language", "ru-RU,ru;q=0.9").send().await.expect("page");
    let body = russian.text().await.expect("html");
    assert!(body.contains("Разрешить") && body.contains("lang=\"ru\""), "{body}");
    let narrow = get_page(&authorize_url(&central, &client_id, "check", "st"), None).await;
    assert!(narrow.body.contains("value=\"check\"") && !narrow.body.contains("value=\"charge\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_empty_choices_re_render_and_deny_redirects_access_denied() {
    // Proves a wrong password or no scope re-renders with the error and what was typed, and deny redirects with access_denied.
    let central = TestCentral::start().await;
    let (client_id, _, _) = partner(&central, "Messages").await;
    central.customer("ann@x.io").await;
    let (page, browser) = consent_page(&authorize_url(&central, &client_id, "check hold charge", "st")).await;
    let (request_id, csrf) = (hidden(&page.body, "request_id"), hidden(&page.body, "csrf_token"));
    let endpoint = format!("{}/oauth/authorize", central.base);
    let wrong = post_form(
        &endpoint,
        &[
            ("request_id", &request_id),
            ("csrf_token", &csrf),
            ("email", "ann@x.io"),
            ("password", "not the one"),
            ("granted_scope", "hold"),
            ("spending_cap", "77"),
            ("decision", "allow"),
        ],
        Some(&browser),
    )
    .await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("Wrong email or password"));
    assert!(wrong.body.contains("value=\"ann@x.io\"") && wrong.body.contains("value=\"77\""));
    assert!(wrong.body.contains("value=\"hold\" checked") && !wrong.body.contains("value=\"check\" checked"));
    assert!(wrong.headers.get("set-cookie").is_none());
    let none = post_form(
        &endpoint,
        &[
            ("request_id", &request_id),
            ("csrf_token", &csrf),
            ("email", "ann@x.io"),
            ("password", "correct horse"),
            ("decision", "allow"),
        ],
        Some(&browser),
    )
    .await;
    assert_eq!(none.status, 200);
    assert!(none.body.contains("Choose at least one permission"));
    let cookie = none.headers["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let session = format!("{browser}; {}", cookie.split(';').next().expect("pair"));
    // Signed in now: the re-rendered form carries a CSRF token bound to the new session.
    let csrf = hidden(&none.body, "csrf_token");
    let bad_cap = post_form(
        &endpoint,
        &[
            ("request_id", &request_id),
            ("csrf_token", &csrf),
            ("granted_scope", "check"),
            ("spending_cap", "-5"),
            ("decision", "allow"),
        ],
        Some(&session),
    )
    .await;
    assert!(bad_cap.body.contains("The limit must be an amount"), "{}", bad_cap.body);
    let denied = post_form(
        &endpoint,
        &[("request_id", &request_id), ("csrf_token", &csrf), ("decision", "deny")],
        Some(&session),
    )
    .await;
    assert_eq!(denied.status, 302);
    let params = location_params(&denied);
    assert_eq!(param(&params, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&params, "state").as_deref(), Some("st"));
    // The request is answered: posting again shows the expired page.
    let again = post_form(
        &endpoint,
        &[("request_id", &request_id), ("csrf_token", &csrf), ("decision", "allow"), ("granted_scope", "check")],
        Some(&session),
    )
    .await;
    assert_eq!(again.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_cross_session_csrf_token_is_refused() {
    // Proves the consent form cannot be posted with another browser's CSRF token or none.
    let central = TestCentral::start().await;
    let (client_id, _, _) = partner(&central, "Messages").await;
    central.customer("ann@x.io").await;
    let (page, browser) = consent_page(&authorize_url(&central, &client_id, "check", "st")).await;
    let (request_id, csrf) = (hidden(&page.body, "request_id"), hidden(&page.body, "csrf_token"));
    let endpoint = format!("{}/oauth/authorize", central.base);
    let fields = |csrf: &str| {
        [
            ("request_id", request_id.clone()),
            ("csrf_token", csrf.to_owned()),
            ("email", "ann@x.io".into()),
            ("password", "correct horse".into()),
            ("granted_scope", "check".into()),
            ("decision", "allow".into()),
        ]
    };
    // No token, a forged one, and the page's own token without the cookie it is bound to.
    for (csrf, cookie) in [("", Some(browser.as_str())), ("forged", Some(browser.as_str())), (csrf.as_str(), None)] {
        let f = fields(csrf);
        let refs: Vec<(&str, &str)> = f.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = post_form(&endpoint, &refs, cookie).await;
        assert_eq!(answer.status, 400, "csrf {csrf:?}, cookie {cookie:?}");
        assert!(answer.body.contains("The form could not be accepted"), "{}", answer.body);
        assert!(answer.headers.get("location").is_none());
        assert!(set_cookie(&answer, "protus_session").is_none(), "no sign-in");
    }
    // A GET with the cookie keeps it; the token is bound to it and the request, not to either alone.
    let again = get_page(&authorize_url(&central, &client_id, "check", "st"), Some(&browser)).await;
    assert!(set_cookie(&again, "protus_browser").is_none(), "the browser keeps its cookie");
    let (other_page, other_browser) = consent_page(&authorize_url(&central, &client_id, "check", "st")).await;
    assert_ne!(hidden(&again.body, "csrf_token"), csrf, "another request, another token");
    assert_ne!(hidden(&other_page.body, "request_id"), request_id);
    let f = fields(&csrf);
    let refs: Vec<(&str, &str)> = f.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let foreign = post_form(&endpoint, &refs, Some(&other_browser)).await;
    assert_eq!(foreign.status, 400, "another browser's request and token: {}", foreign.body);
    // Neither refusal used the request up: its own browser still consents.
    let own = post_form(&endpoint, &refs, Some(&browser)).await;
    assert_eq!(own.status, 302, "{}", own.body);
    // A signed-in browser must present the token bound to its own session, not the one it had
    // before signing in.
    let (code_page, browser) = consent_page(&authorize_url(&central, &client_id, "check", "st")).await;
    let (rid, anon_csrf) = (hidden(&code_page.body, "request_id"), hidden(&code_page.body, "csrf_token"));
    let signed = post_form(
        &endpoint,
        &[
            ("request_id", &rid),
            ("csrf_token", &anon_csrf),
            ("email", "ann@x.io"),
            ("password", "correct horse"),
            ("decision", "allow"),
        ],
        Some(&browser),
    )
    .await;
    assert_eq!(signed.status, 200, "re-rendered without a scope: {}", signed.body);
    let session = set_cookie(&signed, "protus_session").expect("signed in");
    let replay = post_form(
        &endpoint,
        &[("request_id", &rid), ("csrf_token", &anon_csrf), ("granted_scope", "check"), ("decision", "allow")],
        Some(&format!("{browser}; {session}")),
    )
    .await;
    assert_eq!(replay.status, 400);
}

/// Opens a fresh consent page and signs in with `password`, allowing `check`.
async fn sign_in_attempt(central: &TestCentral, client_id: &str, password: &str) -> Page {
    let (page, browser) = consent_page(&authorize_url(central, client_id, "check", "st")).await;
    let (rid, csrf) = (hidden(&page.body, "request_id"), hidden(&page.body, "csrf_token"));
    let fields = [
        ("request_id", rid.as_str()),
        ("csrf_token", csrf.as_str()),
        ("email", "ann@x.io"),
        ("password", password),
        ("granted_scope", "check"),
        ("decision", "allow"),
    ];
    post_form(&format!("{}/oauth/authorize", central.base), &fields, Some(&browser)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_on_the_consent_page_is_rate_limited_per_email() {
    // Proves repeated wrong passwords for one email are stopped with a clear message, even with the right password after.
    let central = TestCentral::start().await;
    let (client_id, _, _) = partner(&central, "Messages").await;
    central.customer("ann@x.io").await;
    let mut last = String::new();
    for _ in 0..11 {
        last = sign_in_attempt(&central, &client_id, "wrong password").await.body;
    }
    assert!(last.contains("Too many attempts"), "{last}");
    let right = sign_in_attempt(&central, &client_id, "correct horse").await;
    assert!(right.body.contains("Too many attempts"));
    central.clock.advance_s(15 * 60);
    let later = sign_in_attempt(&central, &client_id, "correct horse").await;
    assert_eq!(later.status, 302);
}
