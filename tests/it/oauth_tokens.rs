//! Access-token security over HTTP (issue 3, "Bad input and security"): forged, altered,
//! expired, revoked and foreign tokens are refused; a company sees only its own tokens through
//! introspection and revocation; the token endpoint answers RFC 6749 errors.
//!
//! `nbf` cannot be reached by moving the clock (the manual clock only moves forward), so the
//! claim checks are covered by tokens signed with central's own key, read from its store: every
//! claim PROTUS checks after the signature is exercised through `GET /api/v1/authorize`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use hmac::Mac;
use protus::storage::central::keys;
use protus::storage::central::oauth_records::SigningKeyRecord;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::oauth_support::*;
use crate::support::TestCentral;

/// A partner and a customer who consented to `granted`: (client id, client secret, company
/// session, customer session, the token endpoint's answer).
pub struct Issued {
    pub client_id: String,
    pub secret: String,
    pub company_session: String,
    pub customer_session: String,
    pub tokens: Value,
}

impl Issued {
    pub fn client(&self) -> (&str, &str) {
        (&self.client_id, &self.secret)
    }

    pub fn access(&self) -> String {
        self.tokens["access_token"].as_str().expect("an access token").to_owned()
    }

    pub fn refresh(&self) -> String {
        self.tokens["refresh_token"].as_str().expect("a refresh token").to_owned()
    }
}

/// Registers company `name` and customer `email`, runs the consent and exchanges the code.
pub async fn issued(central: &TestCentral, name: &str, email: &str, granted: &[&str]) -> Issued {
    let (client_id, secret, company_session) = partner(central, name).await;
    let (_, customer_session) = central.customer(email).await;
    let code = consent(central, &client_id, email, granted, "").await;
    let (status, tokens) = exchange(central, (&client_id, &secret), &code).await;
    assert_eq!(status, 200, "{tokens}");
    Issued { client_id, secret, company_session, customer_session, tokens }
}

/// A fresh access token (and the next refresh token) from `refresh_token`.
pub async fn refreshed(central: &TestCentral, client: (&str, &str), refresh_token: &str) -> (String, String) {
    let (status, tokens) =
        token_request(central, client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await;
    assert_eq!(status, 200, "{tokens}");
    (
        tokens["access_token"].as_str().expect("an access token").to_owned(),
        tokens["refresh_token"].as_str().expect("a refresh token").to_owned(),
    )
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn segment(json: &Value) -> String {
    b64(&serde_json::to_vec(json).expect("JSON serializes"))
}

fn decode_segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWS segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("a JSON segment")
}

/// The decoded JOSE header of a compact JWS.
pub fn header_of(token: &str) -> Value {
    decode_segment(token, 0)
}

/// The decoded claims of a compact JWS.
pub fn claims_of(token: &str) -> Value {
    decode_segment(token, 1)
}

pub fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("a kid").to_owned()
}

/// Every signing key in central's store, oldest first.
pub async fn stored_keys(central: &TestCentral) -> Vec<SigningKeyRecord> {
    central.store().read(keys::all).await.expect("the signing keys read")
}

pub fn secret_of(record: &SigningKeyRecord) -> [u8; 32] {
    hex::decode(&record.secret).expect("hex").try_into().expect("32 bytes")
}

/// `claims` signed with the Ed25519 `secret` under the exact header segment `header`.
pub fn sign_raw(secret: &[u8; 32], header: &str, claims: &Value) -> String {
    let input = format!("{header}.{}", segment(claims));
    let signature = ed25519_dalek::SigningKey::from_bytes(secret).sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

/// The header segment PROTUS puts on tokens signed by `kid`.
pub fn protus_header(kid: &str) -> String {
    b64(format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes())
}

/// Asserts the permission check refuses `token` with 401 `invalid_token` and its challenge.
pub async fn assert_refused(central: &TestCentral, token: &str, what: &str) {
    let answer = central.get("/api/v1/authorize", Some(token)).await;
    assert_eq!((answer.status.as_u16(), answer.code()), (401, "invalid_token"), "{what}: {}", answer.body);
    assert_eq!(answer.content_type(), "application/problem+json", "{what}");
    let challenge = answer.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{what}: challenge {challenge:?}");
}

/// Asserts the permission check accepts `token`; returns its answer's body.
pub async fn assert_accepted(central: &TestCentral, token: &str, what: &str) -> Value {
    let answer = central.get("/api/v1/authorize", Some(token)).await;
    assert_eq!(answer.status, 200, "{what}: {}", answer.body);
    answer.body
}

/// POSTs a form to an OAuth endpoint with optional HTTP Basic client auth.
pub async fn oauth_post(
    central: &TestCentral,
    path: &str,
    basic: Option<(&str, &str)>,
    fields: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter().copied()).finish();
    oauth_post_raw(central, path, basic, "application/x-www-form-urlencoded", body).await
}

async fn oauth_post_raw(
    central: &TestCentral,
    path: &str,
    basic: Option<(&str, &str)>,
    content_type: &str,
    body: String,
) -> (StatusCode, HeaderMap, Value) {
    let mut request =
        reqwest::Client::new().post(format!("{}{path}", central.base)).header("content-type", content_type).body(body);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("the OAuth endpoint answers");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.bytes().await.expect("a body");
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub async fn introspect(central: &TestCentral, client: (&str, &str), token: &str) -> Value {
    let (status, _, body) = oauth_post(central, "/oauth/introspect", Some(client), &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn revoke(central: &TestCentral, client: (&str, &str), token: &str, hint: &str) {
    let (status, _, body) =
        oauth_post(central, "/oauth/revoke", Some(client), &[("token", token), ("token_type_hint", hint)]).await;
    assert_eq!(status, 200, "{body}");
}

/// Asserts an RFC 6749 error answer.
#[track_caller]
fn assert_oauth_error(answer: &(StatusCode, HeaderMap, Value), status: u16, error: &str) {
    let (got_status, headers, body) = answer;
    assert_eq!((got_status.as_u16(), body["error"].as_str()), (status, Some(error)), "body: {body}");
    assert!(body["error_description"].is_string(), "an error_description: {body}");
    assert_eq!(headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    if status == 401 {
        let challenge = headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(challenge.starts_with("Basic"), "401 challenges for Basic: {challenge:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_and_malformed_tokens_are_refused_by_the_permission_check() {
    // Proves alg none, HS256 key confusion, a foreign key under the real kid, an unknown kid, an altered payload and garbage all get 401 invalid_token.
    let central = TestCentral::start().await;
    let issued = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let token = issued.access();
    assert_eq!(assert_accepted(&central, &token, "the real token").await["scope"], "check charge");
    let missing = central.get("/api/v1/authorize", None).await;
    missing.assert_problem(401, "unauthorized");
    assert_eq!(missing.headers["www-authenticate"], "Bearer");

    let mut parts = token.split('.');
    let (header, payload, signature) =
        (parts.next().expect("header"), parts.next().expect("payload"), parts.next().expect("signature"));
    let kid = kid_of(&token);
    let claims = claims_of(&token);

    let none = format!("{}.{payload}.", segment(&json!({"alg": "none", "typ": "at+jwt"})));
    assert_refused(&central, &none, "alg none with an empty signature").await;
    let none_with_kid = format!("{}.{payload}.", segment(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})));
    assert_refused(&central, &none_with_kid, "alg none under the real kid").await;

    // The classic confusion: HMAC keyed with the public key as published.
    let jwks = central.get("/.well-known/jwks.json", None).await.body;
    let public_x = jwks["keys"][0]["x"].as_str().expect("x").to_owned();
    for hmac_key in [public_x.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(&public_x).expect("x is base64url")] {
        let hs_header = segment(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
        let input = format!("{hs_header}.{payload}");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&hmac_key).expect("any key length");
        mac.update(input.as_bytes());
        let forged = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        assert_refused(&central, &forged, "HS256 keyed with the public key").await;
    }

    let stranger = protus::domain::token::keys::SigningKeyPair::generate().secret_bytes();
    assert_refused(&central, &sign_raw(&stranger, header, &claims), "a foreign key under the real kid").await;
    let unknown_kid = protus_header("not-a-key-of-central");
    assert_refused(&central, &sign_raw(&stranger, &unknown_kid, &claims), "an unknown kid").await;
    let unknown_kid_real_sig = format!("{unknown_kid}.{payload}.{signature}");
    assert_refused(&central, &unknown_kid_real_sig, "the real signature under an unknown kid").await;
    let extra_header = segment(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jku": "http://evil"}));
    assert_refused(&central, &format!("{extra_header}.{payload}.{signature}"), "an extra header parameter").await;
    let other_typ = segment(&json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}));
    assert_refused(&central, &format!("{other_typ}.{payload}.{signature}"), "typ JWT").await;

    let mut widened = claims.clone();
    widened["scope"] = json!("check hold charge");
    let altered = format!("{header}.{}.{signature}", segment(&widened));
    assert_refused(&central, &altered, "a payload widened to hold, signature kept").await;
    let mut longer = claims.clone();
    longer["exp"] = json!(claims["exp"].as_i64().expect("exp") + 3600);
    assert_refused(&central, &format!("{header}.{}.{signature}", segment(&longer)), "a payload with a later exp").await;

    let mut flipped = signature.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{header}.{payload}.{}", String::from_utf8(flipped).expect("ascii"));
    assert_refused(&central, &flipped, "one signature character changed").await;
    let too_long = format!("{token}{}", "A".repeat(5000));
    for (garbage, what) in [
        ("garbage", "one word"),
        ("a.b.c", "three tiny segments"),
        ("..", "three empty segments"),
        (&token[..token.len() - 10], "a truncated token"),
        (&token[..token.rfind('.').expect("a dot")], "no signature segment"),
        (&format!("{token}.extra"), "four segments"),
        (&format!("{header}.{payload}.{signature}="), "a padded signature"),
        (&too_long, "a 5 kB token"),
        ("eyJhbGciOiJFZERTQSJ9.e30.e30", "a bare EdDSA header"),
    ] {
        assert_refused(&central, garbage, what).await;
    }
    // The real token still works after all that.
    assert_accepted(&central, &token, "the real token, again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_signed_with_centrals_own_key_are_still_checked() {
    // Proves nbf (beyond the 60 s skew), iss, aud, unknown scopes, extra claims and over-long lifetimes are refused even under central's real signature.
    let central = TestCentral::start().await;
    let a = issued(&central, "Messages", "ann@x.io", &["check", "hold", "charge"]).await;
    let (b_id, _, _) = partner(&central, "Other").await;
    let token = a.access();
    let keys = stored_keys(&central).await;
    assert_eq!(keys.len(), 1, "one key at first start");
    assert_eq!(keys[0].kid, kid_of(&token), "the token is signed by the stored key");
    let (secret, header) = (secret_of(&keys[0]), token.split('.').next().expect("header").to_owned());
    let claims = claims_of(&token);
    let now = claims["iat"].as_i64().expect("iat");
    let forge = |change: &dyn Fn(&mut Value)| {
        let mut forged = claims.clone();
        forged["jti"] = json!(b64(&rand_bytes()));
        change(&mut forged);
        sign_raw(&secret, &header, &forged)
    };

    // The control: a token forged this way with unchanged claims is accepted.
    assert_accepted(&central, &forge(&|_| {}), "a re-signed copy").await;
    let at = |start: i64| {
        move |c: &mut Value| {
            c["iat"] = json!(start);
            c["nbf"] = json!(start);
            c["exp"] = json!(start + 3600);
        }
    };
    assert_accepted(&central, &forge(&at(now + 60)), "nbf 60 s ahead, within the skew").await;
    let early = central.get("/api/v1/authorize", Some(&forge(&at(now + 61)))).await;
    early.assert_problem(401, "invalid_token");
    assert!(early.body["detail"].as_str().unwrap_or_default().contains("not valid yet"), "{}", early.body);
    assert_refused(&central, &forge(&at(now + 3600)), "nbf an hour ahead").await;

    assert_refused(&central, &forge(&|c| c["iss"] = json!("http://evil.example")), "another issuer").await;
    assert_refused(&central, &forge(&|c| c["iss"] = json!(format!("{}/", central.base))), "iss with a slash").await;
    let to_b = |c: &mut Value| {
        c["aud"] = json!(b_id);
        c["client_id"] = json!(b_id);
    };
    assert_refused(&central, &forge(&to_b), "company A's grant with company B's audience").await;
    assert_refused(&central, &forge(&|c| c["aud"] = json!(b_id)), "aud differs from client_id").await;
    assert_refused(&central, &forge(&|c| c["scope"] = json!("check admin")), "an unknown scope in the token").await;
    assert_refused(&central, &forge(&|c| c["admin"] = json!(true)), "an extra claim").await;
    assert_refused(&central, &forge(&|c| c["exp"] = json!(now + 86_401)), "a lifetime over 24 h").await;
    assert_refused(&central, &forge(&|c| c["nbf"] = json!(now - 1)), "nbf differs from iat").await;
    let unknown_grant = |c: &mut Value| c["grant"] = json!(protus::vocab::ids::GrantId::generate().to_string());
    assert_refused(&central, &forge(&unknown_grant), "a grant that does not exist").await;
}

fn rand_bytes() -> [u8; 16] {
    protus::vocab::rng::random_bytes::<16>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_permission_check_refuses_unknown_scopes_in_the_query() {
    // Proves ?scope= names must be check, hold or charge (422 validation_failed), and that known ones are checked against the token.
    let central = TestCentral::start().await;
    let token = issued(&central, "Messages", "ann@x.io", &["check"]).await.access();
    for query in ["admin", "check%20admin", "CHECK", "check,hold"] {
        let answer = central.get(&format!("/api/v1/authorize?scope={query}"), Some(&token)).await;
        answer.assert_problem(422, "validation_failed");
    }
    central.get("/api/v1/authorize?scopes=check", Some(&token)).await.assert_problem(400, "invalid_request");
    assert_eq!(central.get("/api/v1/authorize?scope=check", Some(&token)).await.status, 200);
    central.get("/api/v1/authorize?scope=check%20hold", Some(&token)).await.assert_problem(403, "insufficient_scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_expires_after_its_lifetime_plus_sixty_seconds_of_skew() {
    // Proves exp is enforced with exactly 60 s of skew, also for a token already in the verification cache.
    let central = TestCentral::start().await;
    let issued = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let token = issued.access();
    let claims = claims_of(&token);
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 3600);
    assert_accepted(&central, &token, "a fresh token").await;
    central.clock.advance_s(lifetime + 59);
    assert_accepted(&central, &token, "59 s after exp").await;
    assert_eq!(introspect(&central, issued.client(), &token).await["active"], true);
    central.clock.advance_s(1);
    let expired = central.get("/api/v1/authorize", Some(&token)).await;
    expired.assert_problem(401, "invalid_token");
    assert!(expired.body["detail"].as_str().unwrap_or_default().contains("expired"), "{}", expired.body);
    assert_eq!(introspect(&central, issued.client(), &token).await, json!({"active": false}));
    // The refresh token still mints a working one.
    let (fresh, _) = refreshed(&central, issued.client(), &issued.refresh()).await;
    assert_accepted(&central, &fresh, "a token refreshed after expiry").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validly_signed_token_stops_working_once_its_grant_or_itself_is_revoked() {
    // Proves a customer's grant revocation and a company's RFC 7009 revocation both stop an unexpired, correctly signed token at once.
    let central = TestCentral::start().await;
    let first = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let token = first.access();
    assert_accepted(&central, &token, "before revocation").await;
    let grants = central.get("/api/v1/me/grants", Some(&first.customer_session)).await;
    let grant_id = grants.body["items"][0]["id"].as_str().expect("a grant").to_owned();
    let revoked = central
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/grants/{grant_id}"),
            Some(&first.customer_session),
            None,
            &[],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_refused(&central, &token, "after the customer revoked the grant").await;
    assert_eq!(introspect(&central, first.client(), &token).await, json!({"active": false}));
    assert_eq!(introspect(&central, first.client(), &first.refresh()).await, json!({"active": false}));

    // A new consent; the company revokes one access token, then a refresh token.
    let code = consent(&central, &first.client_id, "ann@x.io", &["check", "charge"], "").await;
    let (status, second) = exchange(&central, first.client(), &code).await;
    assert_eq!(status, 200, "{second}");
    let second_access = second["access_token"].as_str().expect("at").to_owned();
    let second_refresh = second["refresh_token"].as_str().expect("rt").to_owned();
    let (third_access, third_refresh) = refreshed(&central, first.client(), &second_refresh).await;
    assert_accepted(&central, &second_access, "a new grant's token").await;
    revoke(&central, first.client(), &second_access, "access_token").await;
    assert_refused(&central, &second_access, "after the company revoked it").await;
    assert_eq!(introspect(&central, first.client(), &second_access).await, json!({"active": false}));
    assert_accepted(&central, &third_access, "a sibling token of the same grant").await;
    // Revoking again, or revoking something unknown, is still 200.
    revoke(&central, first.client(), &second_access, "access_token").await;
    revoke(&central, first.client(), "prt_never-issued", "refresh_token").await;
    let (status, _, body) =
        oauth_post(&central, "/oauth/revoke", Some(first.client()), &[("token", "x"), ("token_type_hint", "id_token")])
            .await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("unsupported_token_type")));

    revoke(&central, first.client(), &third_refresh, "refresh_token").await;
    assert_eq!(introspect(&central, first.client(), &third_refresh).await, json!({"active": false}));
    let (status, refused) = token_request(
        &central,
        first.client(),
        &[("grant_type", "refresh_token"), ("refresh_token", third_refresh.as_str())],
    )
    .await;
    assert_eq!((status.as_u16(), refused["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_company_a_is_useless_to_company_b() {
    // Proves B's introspection sees A's tokens as inactive, B's revocation of them is a 200 no-op, and B cannot redeem A's refresh token.
    let central = TestCentral::start().await;
    let a = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let b = issued(&central, "Other", "bob@x.io", &["check"]).await;
    let (a_access, a_refresh) = (a.access(), a.refresh());
    assert_eq!(introspect(&central, b.client(), &a_access).await, json!({"active": false}));
    assert_eq!(introspect(&central, b.client(), &a_refresh).await, json!({"active": false}));
    revoke(&central, b.client(), &a_access, "access_token").await;
    revoke(&central, b.client(), &a_refresh, "refresh_token").await;
    revoke(&central, b.client(), &a_refresh, "access_token").await;
    assert_accepted(&central, &a_access, "A's token after B tried to revoke it").await;
    assert_eq!(introspect(&central, a.client(), &a_access).await["active"], true);
    assert_eq!(introspect(&central, a.client(), &a_refresh).await["active"], true);

    let (status, stolen) =
        token_request(&central, b.client(), &[("grant_type", "refresh_token"), ("refresh_token", a_refresh.as_str())])
            .await;
    assert_eq!((status.as_u16(), stolen["error"].as_str()), (400, Some("invalid_grant")));
    // B's attempt neither spent A's refresh token nor revoked A's grant.
    let (fresh, _) = refreshed(&central, a.client(), &a_refresh).await;
    assert_accepted(&central, &fresh, "A's refreshed token").await;

    // B's own token works for B and is invisible to A.
    let b_access = b.access();
    assert_eq!(introspect(&central, a.client(), &b_access).await, json!({"active": false}));
    assert_eq!(introspect(&central, b.client(), &b_access).await["client_id"], b.client_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_reports_the_effective_scope_and_refresh_token_state() {
    // Proves RFC 7662 answers: an access token's claims with scope narrowed by the grant, a refresh token as token_type refresh_token until rotated.
    let central = TestCentral::start().await;
    let a = issued(&central, "Messages", "ann@x.io", &["check", "hold", "charge"]).await;
    let access = a.access();
    let permission = assert_accepted(&central, &access, "the token").await;
    let claims = claims_of(&access);
    let seen = introspect(&central, a.client(), &access).await;
    assert_eq!(
        seen,
        json!({
            "active": true, "scope": "check hold charge", "client_id": a.client_id, "token_type": "Bearer",
            "exp": claims["exp"], "iat": claims["iat"], "nbf": claims["nbf"], "sub": permission["account_id"],
            "aud": a.client_id, "iss": central.base, "jti": claims["jti"],
        })
    );
    let grant_id = central.get("/api/v1/me/grants", Some(&a.customer_session)).await.body["items"][0]["id"]
        .as_str()
        .expect("a grant")
        .to_owned();
    let narrowed = central
        .patch(&format!("/api/v1/me/grants/{grant_id}"), Some(&a.customer_session), json!({"scope": "check charge"}))
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(introspect(&central, a.client(), &access).await["scope"], "check charge");

    let refresh = a.refresh();
    let seen = introspect(&central, a.client(), &refresh).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["token_type"].as_str(), seen["scope"].as_str(), seen["client_id"].as_str()),
        (Some(true), Some("refresh_token"), Some("check charge"), Some(a.client_id.as_str()))
    );
    assert_eq!(seen["sub"], permission["account_id"]);
    let (_, next) = refreshed(&central, a.client(), &refresh).await;
    assert_eq!(introspect(&central, a.client(), &refresh).await, json!({"active": false}));
    assert_eq!(introspect(&central, a.client(), &next).await["token_type"], "refresh_token");
    for junk in ["", "garbage", "a.b.c", "prt_unknown"] {
        let (status, _, body) = oauth_post(&central, "/oauth/introspect", Some(a.client()), &[("token", junk)]).await;
        if junk.is_empty() {
            assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_request")));
        } else {
            assert_eq!((status.as_u16(), body), (200, json!({"active": false})), "{junk}");
        }
    }
    let (status, headers, body) = oauth_post(&central, "/oauth/introspect", None, &[("token", &access)]).await;
    assert_oauth_error(&(status, headers, body), 401, "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_answers_rfc_6749_errors() {
    // Proves client auth errors (401 invalid_client + Basic challenge, 400 for two methods), repeated parameters, unsupported grant types and every code binding (PKCE, redirect URI, client).
    let central = TestCentral::start().await;
    let (a_id, a_secret, _) = partner(&central, "Messages").await;
    let (b_id, b_secret, _) = partner(&central, "Other").await;
    central.customer("ann@x.io").await;
    let code = consent(&central, &a_id, "ann@x.io", &["check", "charge"], "").await;
    let a = (a_id.as_str(), a_secret.as_str());
    let exchange_fields = |verifier: &'static str, redirect: &'static str| {
        [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]
    };
    let good = exchange_fields(VERIFIER, REDIRECT);

    assert_oauth_error(&oauth_post(&central, "/oauth/token", None, &good).await, 401, "invalid_client");
    let wrong_secret = oauth_post(&central, "/oauth/token", Some((&a_id, "cs_wrong")), &good).await;
    assert_oauth_error(&wrong_secret, 401, "invalid_client");
    let unknown = oauth_post(&central, "/oauth/token", Some(("cmp_unknown", &a_secret)), &good).await;
    assert_oauth_error(&unknown, 401, "invalid_client");
    let mut posted_wrong = good.to_vec();
    posted_wrong.extend([("client_id", a_id.as_str()), ("client_secret", "cs_wrong")]);
    assert_oauth_error(&oauth_post(&central, "/oauth/token", None, &posted_wrong).await, 401, "invalid_client");
    let mut both = good.to_vec();
    both.extend([("client_id", a_id.as_str()), ("client_secret", a_secret.as_str())]);
    assert_oauth_error(&oauth_post(&central, "/oauth/token", Some(a), &both).await, 400, "invalid_request");
    let mut repeated = good.to_vec();
    repeated.push(("code_verifier", VERIFIER));
    assert_oauth_error(&oauth_post(&central, "/oauth/token", Some(a), &repeated).await, 400, "invalid_request");
    let json_body =
        oauth_post_raw(&central, "/oauth/token", Some(a), "application/json", json!(good).to_string()).await;
    assert_oauth_error(&json_body, 400, "invalid_request");
    let missing = oauth_post(&central, "/oauth/token", Some(a), &[("code", code.as_str())]).await;
    assert_oauth_error(&missing, 400, "invalid_request");
    let password = oauth_post(
        &central,
        "/oauth/token",
        Some(a),
        &[("grant_type", "password"), ("username", "u"), ("password", "p")],
    )
    .await;
    assert_oauth_error(&password, 400, "unsupported_grant_type");
    let client_credentials =
        oauth_post(&central, "/oauth/token", Some(a), &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(&client_credentials, 400, "unsupported_grant_type");

    let bad_verifier = exchange_fields("another-verifier-that-is-long-enough-for-rfc-7636-9876543210", REDIRECT);
    assert_oauth_error(&oauth_post(&central, "/oauth/token", Some(a), &bad_verifier).await, 400, "invalid_grant");
    let bad_redirect = exchange_fields(VERIFIER, "http://127.0.0.1:9/callback/other");
    assert_oauth_error(&oauth_post(&central, "/oauth/token", Some(a), &bad_redirect).await, 400, "invalid_grant");
    let by_b = oauth_post(&central, "/oauth/token", Some((&b_id, &b_secret)), &good).await;
    assert_oauth_error(&by_b, 400, "invalid_grant");
    let mut code_missing_verifier = good.to_vec();
    code_missing_verifier.retain(|(name, _)| *name != "code_verifier");
    let no_verifier = oauth_post(&central, "/oauth/token", Some(a), &code_missing_verifier).await;
    assert_oauth_error(&no_verifier, 400, "invalid_request");

    // None of the failures spent the code (as the code is written: they refuse before redeeming);
    // its owner redeems it with client_secret_post.
    let mut posted = good.to_vec();
    posted.extend([("client_id", a_id.as_str()), ("client_secret", a_secret.as_str())]);
    let (status, headers, tokens) = oauth_post(&central, "/oauth/token", None, &posted).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    assert_eq!(tokens["scope"], "check charge");
    let access = tokens["access_token"].as_str().expect("at");
    assert_accepted(&central, access, "a token from client_secret_post").await;
    // Introspection and revocation take client_secret_post too.
    let (status, _, seen) = oauth_post(
        &central,
        "/oauth/introspect",
        None,
        &[("token", access), ("client_id", &a_id), ("client_secret", &a_secret)],
    )
    .await;
    assert_eq!((status.as_u16(), seen["active"].as_bool()), (200, Some(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_code_expires_after_sixty_seconds() {
    // Proves a code exchanged 61 s after it was issued gets invalid_grant, even with the right client, URI and verifier.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check"], "").await;
    central.clock.advance_s(61);
    let (status, body) = exchange(&central, (&client_id, &secret), &code).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // A code used within its minute works.
    let code = consent(&central, &client_id, "ann@x.io", &["check"], "").await;
    central.clock.advance_s(59);
    let (status, body) = exchange(&central, (&client_id, &secret), &code).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_asking_for_more_scope_is_refused_without_spending_the_refresh_token() {
    // Proves a refresh with a wider or unknown scope is invalid_scope and the same refresh token still works afterwards (no false reuse detection).
    let central = TestCentral::start().await;
    let a = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let refresh = a.refresh();
    let asking = |scope: &'static str| {
        let refresh = refresh.clone();
        let central = &central;
        let client = a.client();
        async move {
            token_request(
                central,
                client,
                &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("scope", scope)],
            )
            .await
        }
    };
    let (status, unknown) = asking("check admin").await;
    assert_eq!((status.as_u16(), unknown["error"].as_str()), (400, Some("invalid_scope")), "{unknown}");
    let (status, wider) = asking("check hold charge").await;
    assert_eq!((status.as_u16(), wider["error"].as_str()), (400, Some("invalid_scope")), "{wider}");
    // The client never got a new refresh token, so it must be able to go on with the one it has.
    let (status, body) =
        token_request(&central, a.client(), &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
            .await;
    assert_eq!(status, 200, "the refresh token was spent by a refused request: {body}");
    let grants = central.get("/api/v1/me/grants", Some(&a.customer_session)).await;
    assert_eq!(grants.body["items"][0]["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_secret_keeps_working_for_its_overlap_only() {
    // Proves after a client-secret rotation both secrets authenticate for 24 h, then only the new one.
    let central = TestCentral::start().await;
    let a = issued(&central, "Messages", "ann@x.io", &["check"]).await;
    let rotated = central
        .post("/api/v1/company/secrets/rotate", Some(&a.company_session), json!({"kind": "client_secret"}))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().expect("the new secret").to_owned();
    assert_ne!(new_secret, a.secret);
    let old = (a.client_id.as_str(), a.secret.as_str());
    let new = (a.client_id.as_str(), new_secret.as_str());
    let (_, refresh) = refreshed(&central, old, &a.refresh()).await;
    let (_, refresh) = refreshed(&central, new, &refresh).await;
    central.clock.advance_s(24 * 3600 - 1);
    let (_, refresh) = refreshed(&central, old, &refresh).await;
    central.clock.advance_s(2);
    let late = oauth_post(
        &central,
        "/oauth/token",
        Some(old),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())],
    )
    .await;
    assert_oauth_error(&late, 401, "invalid_client");
    let (access, _) = refreshed(&central, new, &refresh).await;
    assert_accepted(&central, &access, "a token minted with the new secret").await;
}
