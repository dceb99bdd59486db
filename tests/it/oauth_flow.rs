//! The authorization-code flow end to end over HTTP: consent with narrowed scopes and a cap,
//! PKCE exchange, the permission check, refresh rotation and reuse detection.

use serde_json::json;

use crate::oauth_support::*;
use crate::support::TestCentral;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_signs_in_consents_narrowly_and_the_company_gets_working_tokens() {
    // Proves the code flow: narrowed scope and cap are stored, the code exchanges once with PKCE, tokens work with the effective scope.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    let (_, customer_token) = central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check", "charge"], "150").await;
    let (status, tokens) = exchange(&central, (&client_id, &secret), &code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        (tokens["token_type"].as_str(), tokens["scope"].as_str(), tokens["expires_in"].as_i64()),
        (Some("Bearer"), Some("check charge"), Some(3600))
    );
    let access = tokens["access_token"].as_str().expect("access token");
    assert!(tokens["refresh_token"].as_str().expect("refresh").starts_with("prt_"));

    let allowed = central.get("/api/v1/authorize?scope=charge", Some(access)).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert!(allowed.body["account_id"].as_str().expect("account").starts_with("acct_"));
    assert_eq!(allowed.body["scope"], "check charge");
    let refused = central.get("/api/v1/authorize?scope=hold", Some(access)).await;
    refused.assert_problem(403, "insufficient_scope");
    assert_eq!(refused.headers["www-authenticate"], "Bearer error=\"insufficient_scope\", scope=\"hold\"");

    let grants = central.get("/api/v1/me/grants", Some(&customer_token)).await;
    let grant = &grants.body["items"][0];
    assert_eq!(
        (grant["scope"].as_str(), grant["spending_cap"].as_str(), grant["status"].as_str()),
        (Some("check charge"), Some("150.00"), Some("active"))
    );
    assert_eq!(grant["company_name"], "Messages");
    let accounts = central.get("/api/v1/me/accounts", Some(&customer_token)).await;
    assert_eq!(accounts.body["items"][0]["id"], allowed.body["account_id"]);

    // A second use of the code fails and revokes what the first issued.
    let (status, again) = exchange(&central, (&client_id, &secret), &code).await;
    assert_eq!((status.as_u16(), again["error"].as_str()), (400, Some("invalid_grant")));
    central.get("/api/v1/authorize?scope=check", Some(access)).await.assert_problem(401, "invalid_token");
    let (status, refreshed) = token_request(
        &central,
        (&client_id, &secret),
        &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().expect("rt"))],
    )
    .await;
    assert_eq!((status.as_u16(), refreshed["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    // Proves rotation on every use and that presenting a spent refresh token revokes the whole grant.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    let (_, customer_token) = central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check", "hold", "charge"], "").await;
    let (_, first) = exchange(&central, (&client_id, &secret), &code).await;
    let old = first["refresh_token"].as_str().expect("rt").to_owned();
    let (status, second) =
        token_request(&central, (&client_id, &secret), &[("grant_type", "refresh_token"), ("refresh_token", &old)])
            .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["scope"], "check hold charge");
    let narrowed = token_request(
        &central,
        (&client_id, &secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", second["refresh_token"].as_str().expect("rt")),
            ("scope", "check"),
        ],
    )
    .await;
    assert_eq!((narrowed.0.as_u16(), narrowed.1["scope"].as_str()), (200, Some("check")));
    let live = narrowed.1["access_token"].as_str().expect("at").to_owned();
    assert_eq!(central.get("/api/v1/authorize", Some(&live)).await.status, 200);
    // Reuse of the first (spent) refresh token: refused, and the grant is revoked.
    let (status, reused) =
        token_request(&central, (&client_id, &secret), &[("grant_type", "refresh_token"), ("refresh_token", &old)])
            .await;
    assert_eq!((status.as_u16(), reused["error"].as_str()), (400, Some("invalid_grant")));
    central.get("/api/v1/authorize", Some(&live)).await.assert_problem(401, "invalid_token");
    let grants = central.get("/api/v1/me/grants", Some(&customer_token)).await;
    assert_eq!(grants.body["items"][0]["status"], "revoked");
    let latest = narrowed.1["refresh_token"].as_str().expect("rt");
    let (status, _) =
        token_request(&central, (&client_id, &secret), &[("grant_type", "refresh_token"), ("refresh_token", latest)])
            .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowing_or_revoking_a_grant_takes_effect_for_issued_tokens_at_once() {
    // Proves effective scope = token scope ∩ grant scope, and that revocation stops tokens already issued.
    let central = TestCentral::start().await;
    let (client_id, secret, _) = partner(&central, "Messages").await;
    let (_, customer_token) = central.customer("ann@x.io").await;
    let code = consent(&central, &client_id, "ann@x.io", &["check", "hold", "charge"], "").await;
    let (_, tokens) = exchange(&central, (&client_id, &secret), &code).await;
    let access = tokens["access_token"].as_str().expect("at");
    let grant_id = central.get("/api/v1/me/grants", Some(&customer_token)).await.body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/me/grants/{grant_id}");
    let narrowed = central.patch(&path, Some(&customer_token), json!({"scope": "check", "spending_cap": "20"})).await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(
        (narrowed.body["scope"].as_str(), narrowed.body["spending_cap"].as_str()),
        (Some("check"), Some("20.00"))
    );
    central.get("/api/v1/authorize?scope=charge", Some(access)).await.assert_problem(403, "insufficient_scope");
    assert_eq!(central.get("/api/v1/authorize?scope=check", Some(access)).await.body["scope"], "check");
    central
        .patch(&path, Some(&customer_token), json!({"scope": "check charge"}))
        .await
        .assert_problem(422, "validation_failed");
    central.patch(&path, Some(&customer_token), json!({"scope": ""})).await.assert_problem(422, "validation_failed");
    let uncapped = central.patch(&path, Some(&customer_token), json!({"spending_cap": null})).await;
    assert!(uncapped.body["spending_cap"].is_null());
    let revoked = central.call(reqwest::Method::DELETE, &path, Some(&customer_token), None, &[]).await;
    assert_eq!((revoked.status.as_u16(), revoked.body["status"].as_str()), (200, Some("revoked")));
    assert!(revoked.body["revoked_at"].is_string());
    central.get("/api/v1/authorize?scope=check", Some(access)).await.assert_problem(401, "invalid_token");
    central.patch(&path, Some(&customer_token), json!({"scope": "check"})).await.assert_problem(409, "conflict");
    // Consenting again creates a new grant.
    let code = consent(&central, &client_id, "ann@x.io", &["check"], "").await;
    let (status, _) = exchange(&central, (&client_id, &secret), &code).await;
    assert_eq!(status, 200);
    let grants = central.get("/api/v1/me/grants", Some(&customer_token)).await;
    let items = grants.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_ne!(items[0]["id"], items[1]["id"]);
    // Another customer cannot touch this grant.
    let (_, other) = central.customer("bob@x.io").await;
    central
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/grants/{}", items[0]["id"].as_str().expect("id")),
            Some(&other),
            None,
            &[],
        )
        .await
        .assert_problem(404, "not_found");
}
