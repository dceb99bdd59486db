//! Signing keys over HTTP: the JWKS and RFC 8414 metadata, tokens any JWT library verifies,
//! and key rotation (through the admin socket while central runs, or on the file while it is
//! stopped): pre-publication, the switch, old tokens still verifying, and the old key's retirement.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use protus::domain::token::jwt::{self, Expectations, TokenError};
use protus::domain::token::keys::{Jwks, VerifyingKeys};
use protus::vocab::ids::CompanyId;
use protus::vocab::time::{Clock, Timestamp};
use serde_json::{Value, json};

use crate::child::PROTUS;
use crate::oauth_support::partner;
use crate::oauth_tokens::*;
use crate::support::TestCentral;

/// The kids `/.well-known/jwks.json` publishes now.
async fn published_kids(central: &TestCentral) -> BTreeSet<String> {
    let jwks = central.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    jwks.body["keys"]
        .as_array()
        .expect("a keys array")
        .iter()
        .map(|key| key["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

fn kids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|kid| (*kid).to_owned()).collect()
}

/// Verifies `token` the way a sidecar does: against the published JWKS, at central's clock.
async fn verify_against_jwks(central: &TestCentral, token: &str, audience: &str) -> Result<(), TokenError> {
    let jwks: Jwks = serde_json::from_value(central.get("/.well-known/jwks.json", None).await.body).expect("a JWKS");
    let keys = VerifyingKeys::from_jwks(&jwks.keys).expect("every published key loads");
    let audience = CompanyId::parse(audience).expect("a company id");
    let expect = Expectations { issuer: &central.base, audience: &audience, now: central.clock.now() };
    jwt::verify(&keys, token, &expect).map(drop)
}

/// Runs `protus central rotate-key --data-dir D [extra…]`; returns (exit code, stdout + stderr).
async fn rotate_with_binary(dir: &Path, extra: &[&str]) -> (i32, String) {
    let (dir, extra) = (dir.to_owned(), extra.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || {
        let output = Command::new(PROTUS)
            .args(["central", "rotate-key", "--data-dir"])
            .arg(&dir)
            .args(&extra)
            .env_remove("PROTUS_KEY_PREPUBLISH_S")
            .output()
            .expect("protus rotate-key runs");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .expect("the rotate-key task ends")
}

/// Whole seconds from `now` to `then`.
fn seconds_until(now: Timestamp, then: Timestamp) -> i64 {
    (then.unix_ms() - now.unix_ms()) / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_and_metadata_let_any_jwt_library_verify_the_tokens() {
    // Proves the JWKS publishes OKP/Ed25519 public keys only, the token header names one of them, jsonwebtoken verifies a token from it, and RFC 8414 metadata matches the base URL.
    let central = TestCentral::start().await;
    let jwks = central.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, 200);
    assert!(jwks.content_type().starts_with("application/json"), "{}", jwks.content_type());
    assert_eq!(jwks.headers["cache-control"], "public, max-age=60");
    let keys = jwks.body["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 1, "one key at first start: {}", jwks.body);
    let key = &keys[0];
    let members: BTreeSet<&str> = key.as_object().expect("a JWK object").keys().map(String::as_str).collect();
    assert_eq!(members, BTreeSet::from(["alg", "crv", "kid", "kty", "use", "x"]), "public members only: {key}");
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["use"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("sig"), Some("EdDSA"))
    );
    let x = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        key["x"].as_str().expect("x").as_bytes(),
    )
    .expect("x is base64url");
    assert_eq!(x.len(), 32);

    let metadata = central.get("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(metadata.status, 200);
    let meta = &metadata.body;
    let base = central.base.as_str();
    assert_eq!(meta["issuer"], base);
    for (name, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(meta[name], format!("{base}{path}"), "{name}");
    }
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(meta["response_types_supported"], json!(["code"]));
    assert_eq!(meta["grant_types_supported"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(meta["token_endpoint_auth_methods_supported"], json!(["client_secret_basic", "client_secret_post"]));
    assert_eq!(meta["scopes_supported"], json!(["check", "hold", "charge"]));
    let fetched = reqwest::get(meta["jwks_uri"].as_str().expect("jwks_uri")).await.expect("jwks_uri answers");
    assert_eq!(fetched.json::<Value>().await.expect("JSON"), jwks.body);

    let issued = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let token = issued.access();
    let kid = key["kid"].as_str().expect("kid");
    assert_eq!(header_of(&token), json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}));
    let claims = claims_of(&token);
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some(base), Some(issued.client_id.as_str())));

    // A third-party library, given only the published JWK.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).expect("jsonwebtoken reads the JWK");
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("an Ed25519 decoding key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[issued.client_id.as_str()]);
    validation.set_issuer(&[base]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
    validation.validate_nbf = true;
    let decoded = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("jsonwebtoken verifies");
    assert_eq!(decoded.claims, claims);
    assert_eq!(decoded.header.kid.as_deref(), Some(kid));
    let mut other = validation.clone();
    other.set_audience(&["co_someoneelse"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &other).is_err(), "the audience is enforced");

    // The sidecar's way: a key set built from the JWKS.
    assert_eq!(verify_against_jwks(&central, &token, &issued.client_id).await, Ok(()));
    let (b_id, _, _) = partner(&central, "Other").await;
    assert_eq!(verify_against_jwks(&central, &token, &b_id).await, Err(TokenError::WrongAudience));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_running_central_prepublishes_switches_and_later_retires_the_old_key() {
    // Proves rotate-key through the admin socket: both keys published at once, the old key signs until the 300 s delay ends, old tokens keep verifying, and the old key leaves the JWKS 24 h + 60 s after the switch.
    let central = TestCentral::start().await;
    let issued = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let client = issued.client();
    let first = issued.access();
    let old_kid = kid_of(&first);
    assert_eq!(published_kids(&central).await, kids(&[&old_kid]));

    // Keys are ordered by creation time: never create two in the same millisecond.
    central.clock.advance_s(1);
    let rotated_at = central.clock.now();
    let (code, output) = rotate_with_binary(central.dir.path(), &[]).await;
    assert_eq!(code, 0, "rotate-key against a running central: {output}");
    let stored = stored_keys(&central).await;
    assert_eq!(stored.len(), 2);
    let (old, new) = (&stored[0], &stored[1]);
    assert_eq!(old.kid, old_kid);
    assert!(output.contains(&new.kid), "the new kid is printed: {output}");
    // The running central used its own clock and delay, not the binary's.
    assert_eq!(new.signs_from, rotated_at.plus_s(300));
    assert!(output.contains(&new.signs_from.to_rfc3339()), "{output}");
    assert_eq!(old.retired_at, Some(new.signs_from));
    assert_eq!(old.published_until, Some(new.signs_from.plus_s(24 * 3600 + 60)));
    assert_eq!(published_kids(&central).await, kids(&[&old_kid, &new.kid]), "the new key is published at once");

    // Pre-publication: new tokens still carry the old kid until the delay has passed.
    let (during, refresh) = refreshed(&central, client, &issued.refresh()).await;
    assert_eq!(kid_of(&during), old_kid);
    central.clock.advance_s(299);
    let (last_old, refresh) = refreshed(&central, client, &refresh).await;
    assert_eq!(kid_of(&last_old), old_kid, "1 s before the switch");
    central.clock.advance_s(1);
    let (switched, refresh) = refreshed(&central, client, &refresh).await;
    assert_eq!(kid_of(&switched), new.kid, "at the switch");
    for (token, what) in
        [(&first, "issued before the rotation"), (&last_old, "old key, last second"), (&switched, "new")]
    {
        assert_accepted(&central, token, what).await;
        assert_eq!(verify_against_jwks(&central, token, &issued.client_id).await, Ok(()), "{what}");
    }

    // The old key stays published until its last possible token has expired.
    let until = old.published_until.expect("published_until");
    central.clock.advance_s(seconds_until(central.clock.now(), until) - 1);
    assert_eq!(published_kids(&central).await, kids(&[&old_kid, &new.kid]), "1 s before published_until");
    assert_refused(&central, &last_old, "the old key's last token, long expired").await;
    central.clock.advance_s(1);
    assert_eq!(published_kids(&central).await, kids(&[&new.kid]), "at published_until");
    let (later, _) = refreshed(&central, client, &refresh).await;
    assert_eq!(kid_of(&later), new.kid);
    assert_accepted(&central, &later, "a new-key token after retirement").await;
    assert_eq!(verify_against_jwks(&central, &later, &issued.client_id).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_no_longer_published_verifies_nothing() {
    // Proves central stops accepting a retired key's signature once that key has left the JWKS, as a sidecar verifying against the JWKS does.
    let central = TestCentral::start().await;
    let issued = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    central.clock.advance_s(1);
    let answer = protus::central::admin::request_rotate_key(central.dir.path())
        .await
        .expect("the admin socket answers")
        .expect("central runs")
        .expect("the rotation succeeds");
    let stored = stored_keys(&central).await;
    let (old, new) = (&stored[0], &stored[1]);
    assert_eq!(answer["kid"], new.kid);
    let until = old.published_until.expect("published_until");
    central.clock.advance_s(seconds_until(central.clock.now(), until));
    assert_eq!(published_kids(&central).await, kids(&[&new.kid]));

    // Tokens with fresh claims for a live grant, one signed by each key (the old one as if leaked).
    let now_s = central.clock.now().unix_s();
    let mut claims = claims_of(&issued.access());
    claims["iat"] = json!(now_s);
    claims["nbf"] = json!(now_s);
    claims["exp"] = json!(now_s + 3600);
    let by_new = sign_raw(&secret_of(new), &protus_header(&new.kid), &claims);
    claims["jti"] = json!(b64(&protus::vocab::rng::random_bytes::<16>()));
    let by_old = sign_raw(&secret_of(old), &protus_header(&old.kid), &claims);
    assert_accepted(&central, &by_new, "signed by the current key").await;
    assert_eq!(
        verify_against_jwks(&central, &by_old, &issued.client_id).await,
        Err(TokenError::UnknownKey),
        "a sidecar refuses it"
    );
    assert_refused(&central, &by_old, "signed by a key that is no longer published").await;
    assert_eq!(introspect(&central, issued.client(), &by_old).await, json!({"active": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_stopped_central_writes_the_new_key_to_its_database() {
    // Proves rotate-key on a stopped central opens the file itself, and after a restart both keys are published and the new one signs after the delay.
    let mut central = TestCentral::start().await;
    let issued = issued(&central, "Messages", "ann@x.io", &["check", "charge"]).await;
    let old_kid = kid_of(&issued.access());
    central.stop().await;
    let (code, output) = rotate_with_binary(central.dir.path(), &["--key-prepublish-s", "300"]).await;
    assert_eq!(code, 0, "rotate-key on a stopped central: {output}");
    central.restart().await;
    let stored = stored_keys(&central).await;
    assert_eq!(stored.len(), 2);
    let new_kid = stored[1].kid.clone();
    assert!(output.contains(&new_kid), "{output}");
    assert_eq!(published_kids(&central).await, kids(&[&old_kid, &new_kid]));

    // The binary used the system clock; the test clock started at the system time, so the new
    // key signs a little over 300 s of test time from now.
    let (before, refresh) = refreshed(&central, issued.client(), &issued.refresh()).await;
    assert_eq!(kid_of(&before), old_kid);
    assert_accepted(&central, &before, "the old key after the restart").await;
    let wait = seconds_until(central.clock.now(), stored[1].signs_from);
    assert!((290..=360).contains(&wait), "the new key signs about 300 s from now, not {wait} s");
    central.clock.advance_s(wait + 1);
    let (after, _) = refreshed(&central, issued.client(), &refresh).await;
    assert_eq!(kid_of(&after), new_kid);
    assert_accepted(&central, &after, "the new key after the delay").await;
    assert_eq!(verify_against_jwks(&central, &after, &issued.client_id).await, Ok(()));
    assert_eq!(verify_against_jwks(&central, &before, &issued.client_id).await, Ok(()));
}
