//! Companies over HTTP: registration and secrets, profile, secret rotation, services, accounts, invoices.

use protus::vocab::time::Clock;
use serde_json::json;

use crate::support::TestCentral;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_registers_and_sees_its_secrets_once() {
    // Proves registration returns client id = company id and both secrets once, and the profile never shows them again.
    let central = TestCentral::start().await;
    let (registered, token) = central.company("Messages", "ops@messages.io").await;
    let id = registered["id"].as_str().expect("id");
    assert!(id.starts_with("co_"));
    assert_eq!(registered["client_id"], registered["id"]);
    assert!(registered["client_secret"].as_str().expect("client secret").starts_with("cs_"));
    assert!(registered["webhook_secret"].as_str().expect("webhook secret").starts_with("whsec_"));
    let profile = central.get("/api/v1/company", Some(&token)).await;
    assert_eq!(profile.status, 200);
    assert_eq!(
        profile.body,
        json!({"id": id, "client_id": id, "name": "Messages", "email": "ops@messages.io", "webhook_url": null, "redirect_uris": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_registration_refuses_duplicates_and_bad_fields() {
    // Proves 409 for a duplicate email or (case-insensitive) name and 422 for bad fields.
    let central = TestCentral::start().await;
    central.company("Messages", "ops@messages.io").await;
    let same_name = central
        .post("/api/v1/companies", None, json!({"name": "  messages ", "email": "b@x.io", "password": "company pass"}))
        .await;
    same_name.assert_problem(409, "conflict");
    assert!(same_name.body["detail"].as_str().expect("detail").contains("name"));
    let same_email = central
        .post(
            "/api/v1/companies",
            None,
            json!({"name": "Other", "email": "OPS@messages.io", "password": "company pass"}),
        )
        .await;
    same_email.assert_problem(409, "conflict");
    assert!(same_email.body["detail"].as_str().expect("detail").contains("email"));
    let bad = central.post("/api/v1/companies", None, json!({"name": "", "email": "x", "password": "1"})).await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.body["errors"].as_array().expect("errors").len(), 3);
    // The customer and company namespaces are separate: a company email can also be a person's.
    central.customer("ops@messages.io").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_takes_absolute_urls_and_clears_the_webhook_with_null() {
    // Proves PATCH /company validates URLs, keeps unspecified fields, and treats null as "clear".
    let central = TestCentral::start().await;
    let (_, token) = central.company("Messages", "ops@messages.io").await;
    let updated = central
        .patch(
            "/api/v1/company",
            Some(&token),
            json!({"webhook_url": "https://messages.io/hooks/protus", "redirect_uris": ["https://messages.io/cb", "http://localhost:8000/cb"]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["redirect_uris"], json!(["https://messages.io/cb", "http://localhost:8000/cb"]));
    let bad = central
        .patch("/api/v1/company", Some(&token), json!({"webhook_url": "/api/webhook/", "redirect_uris": ["ftp://x"]}))
        .await;
    bad.assert_problem(422, "validation_failed");
    let fields: Vec<&str> =
        bad.body["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("f")).collect();
    assert_eq!(fields, ["webhook_url", "redirect_uris[0]"]);
    let kept = central.patch("/api/v1/company", Some(&token), json!({"webhook_url": null})).await;
    assert_eq!(kept.body["webhook_url"], serde_json::Value::Null);
    assert_eq!(kept.body["redirect_uris"].as_array().expect("uris").len(), 2);
    central
        .patch("/api/v1/company", Some(&token), json!({"name": "Renamed"}))
        .await
        .assert_problem(400, "invalid_request");
    let too_many: Vec<String> = (0..21).map(|i| format!("https://m.io/{i}")).collect();
    central
        .patch("/api/v1/company", Some(&token), json!({"redirect_uris": too_many}))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_secret_shows_the_new_one_once_with_a_24h_overlap() {
    // Proves rotation answers a new secret and the time the old one stops working.
    let central = TestCentral::start().await;
    let (registered, token) = central.company("Messages", "ops@messages.io").await;
    let rotated = central.post("/api/v1/company/secrets/rotate", Some(&token), json!({"kind": "client_secret"})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_ne!(rotated.body["secret"], registered["client_secret"]);
    assert!(rotated.body["secret"].as_str().expect("secret").starts_with("cs_"));
    let until =
        protus::vocab::time::Timestamp::parse_rfc3339(rotated.body["previous_valid_until"].as_str().expect("until"))
            .expect("rfc3339");
    assert_eq!(until, central.clock.now().plus_s(24 * 3600));
    let webhook = central.post("/api/v1/company/secrets/rotate", Some(&token), json!({"kind": "webhook_secret"})).await;
    assert!(webhook.body["secret"].as_str().expect("secret").starts_with("whsec_"));
    central
        .post("/api/v1/company/secrets/rotate", Some(&token), json!({"kind": "password"}))
        .await
        .assert_problem(422, "validation_failed");

    // Both client secrets authenticate during the overlap; only the new one after it.
    use protus::storage::central::companies::authenticate_client;
    use protus::vocab::secret::Secret;
    let id = registered["id"].as_str().expect("id").to_owned();
    let old = Secret::new(registered["client_secret"].as_str().expect("old").to_owned());
    let new = Secret::new(rotated.body["secret"].as_str().expect("new").to_owned());
    let store = central.store();
    let check = |secret: Secret, at| {
        let id = id.clone();
        store.read(move |r| authenticate_client(r, &id, &secret, at).map(|c| c.is_some()))
    };
    let now = central.clock.now();
    assert!(check(old.clone(), now).await.expect("read"));
    assert!(check(new.clone(), now).await.expect("read"));
    assert!(!check(Secret::new("cs_wrong".into()), now).await.expect("read"));
    // A second rotation inside the overlap does not cut the first old secret short.
    central.clock.advance_s(3600);
    let third = central.post("/api/v1/company/secrets/rotate", Some(&token), json!({"kind": "client_secret"})).await;
    let third = Secret::new(third.body["secret"].as_str().expect("third").to_owned());
    let now = central.clock.now();
    for secret in [&old, &new, &third] {
        assert!(check(secret.clone(), now).await.expect("read"));
    }
    let later = now.plus_s(23 * 3600 + 1);
    assert!(!check(old, later).await.expect("read"), "the first secret ends 24 h after its rotation");
    assert!(check(new.clone(), later).await.expect("read"), "the second keeps its own 24 h");
    assert!(check(third.clone(), later).await.expect("read"));
    let much_later = now.plus_s(24 * 3600 + 1);
    assert!(!check(new, much_later).await.expect("read"));
    assert!(check(third, much_later).await.expect("read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_created_listed_renamed_repriced_and_deactivated() {
    // Proves the services lifecycle, unique names per company, and that another company sees 404.
    let central = TestCentral::start().await;
    let (_, token) = central.company("Messages", "ops@messages.io").await;
    let (_, other) = central.company("Other", "ops@other.io").await;
    let add =
        central.post("/api/v1/company/services", Some(&token), json!({"name": "Add a customer", "price": "2"})).await;
    assert_eq!(add.status, 201, "{}", add.body);
    assert_eq!((add.body["price"].as_str(), add.body["active"].as_bool()), (Some("2.00"), Some(true)));
    let launch = central
        .post("/api/v1/company/services", Some(&token), json!({"name": "Launch a campaign", "price": "10.00"}))
        .await;
    let id = launch.body["id"].as_str().expect("id").to_owned();
    central
        .post("/api/v1/company/services", Some(&token), json!({"name": "ADD A CUSTOMER", "price": "1.00"}))
        .await
        .assert_problem(409, "conflict");
    // Another company may use the same name.
    assert_eq!(
        central
            .post("/api/v1/company/services", Some(&other), json!({"name": "Add a customer", "price": "1.00"}))
            .await
            .status,
        201
    );
    for price in [json!("0"), json!("-1"), json!("1.001"), json!(10), json!("1000000000.01")] {
        central
            .post("/api/v1/company/services", Some(&token), json!({"name": "X", "price": price}))
            .await
            .assert_problem(422, "validation_failed");
    }
    let list = central.get("/api/v1/company/services", Some(&token)).await;
    let names: Vec<&str> =
        list.body["items"].as_array().expect("items").iter().map(|s| s["name"].as_str().expect("n")).collect();
    assert_eq!(names, ["Launch a campaign", "Add a customer"]);
    let path = format!("/api/v1/company/services/{id}");
    let changed = central.patch(&path, Some(&token), json!({"name": "Launch", "price": "12.5", "active": false})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body, json!({"id": id, "name": "Launch", "price": "12.50", "active": false}));
    central.patch(&path, Some(&token), json!({"name": "Add a customer"})).await.assert_problem(409, "conflict");
    central.patch(&path, Some(&other), json!({"active": true})).await.assert_problem(404, "not_found");
    central
        .patch("/api/v1/company/services/svc_nope", Some(&token), json!({"active": true}))
        .await
        .assert_problem(404, "not_found");
    central.patch(&path, Some(&token), json!({"price": 5})).await.assert_problem(422, "validation_failed");
    // The failed changes left the service as it was.
    let after = central.get("/api/v1/company/services", Some(&token)).await;
    assert_eq!(after.body["items"][0], json!({"id": id, "name": "Launch", "price": "12.50", "active": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_lists_start_empty_and_customers_cannot_read_them() {
    // Proves the accounts and invoices lists answer the list shape and refuse customer sessions.
    let central = TestCentral::start().await;
    let (_, token) = central.company("Messages", "ops@messages.io").await;
    let (_, customer) = central.customer("ann@x.io").await;
    for path in ["/api/v1/company/accounts", "/api/v1/company/charges", "/api/v1/company/services"] {
        assert_eq!(central.get(path, Some(&token)).await.body, json!({"items": [], "next_cursor": null}));
        central.get(path, Some(&customer)).await.assert_problem(403, "forbidden");
        central.get(path, None).await.assert_problem(401, "unauthorized");
    }
    central.get("/api/v1/company/charges?service_id=nope", Some(&token)).await.assert_problem(422, "validation_failed");
    central.get("/api/v1/me", Some(&token)).await.assert_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_invoices_show_paid_totals_and_filter_by_service() {
    // Proves the company's accounts list carries paid totals and its invoices filter by service,
    // with charges booked through the store the way billing will book them.
    use protus::storage::central::accounts;
    use protus::storage::central::billing::{self, ChargeInput};
    use protus::vocab::ids::{CompanyId, CustomerId, ServiceId};
    use protus::vocab::money::{Amount, Currency};

    let central = TestCentral::start().await;
    let (company, token) = central.company("Messages", "ops@messages.io").await;
    let (customer_id, customer_token) = central.customer("ann@x.io").await;
    central.top_up(&customer_token, "100.00", "fund").await;
    let service =
        central.post("/api/v1/company/services", Some(&token), json!({"name": "Launch", "price": "10.00"})).await;
    let service_id = ServiceId::parse(service.body["id"].as_str().expect("id")).expect("service id");
    let company_id = CompanyId::parse(company["id"].as_str().expect("id")).expect("company id");
    let customer_id = CustomerId::parse(&customer_id).expect("customer id");
    let now = central.clock.now();
    let rub = Currency::parse("RUB").expect("known");
    let store = central.store();
    let (account, created) = {
        let (company_id, customer_id) = (company_id.clone(), customer_id.clone());
        store.write(move |tx| accounts::ensure(tx, &company_id, &customer_id, now)).await.expect("account")
    };
    assert!(created);
    for (amount, service) in [("10.00", Some(service_id.clone())), ("3.50", None)] {
        let input = ChargeInput {
            company_id: company_id.clone(),
            account_id: account.id.clone(),
            amount: Amount::parse_request(amount, rub).expect("amount"),
            service_name: service.as_ref().map(|_| "Launch".to_owned()),
            service_id: service,
            description: None,
            payload: Some(json!({"campaign": 7})),
            idempotency_key: None,
        };
        store.write(move |tx| billing::charge(tx, input, now)).await.expect("store").expect("funds suffice");
    }
    let accounts = central.get("/api/v1/company/accounts", Some(&token)).await;
    assert_eq!(accounts.body["items"][0]["paid_total"], "13.50");
    assert_eq!(accounts.body["items"][0]["customer_email"], "ann@x.io");
    assert_eq!(accounts.body["items"][0]["company_name"], "Messages");
    let mine = central.get("/api/v1/me/accounts", Some(&customer_token)).await;
    assert_eq!(mine.body["items"][0]["paid_total"], "13.50");
    let all = central.get("/api/v1/company/charges", Some(&token)).await;
    let items = all.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["payload"], json!({"campaign": 7}));
    assert!(items[0]["invoice_number"].as_str().expect("invoice").starts_with("INV-"));
    assert_ne!(items[0]["invoice_number"], items[1]["invoice_number"]);
    let filtered = central.get(&format!("/api/v1/company/charges?service_id={service_id}"), Some(&token)).await;
    let items = filtered.body["items"].as_array().expect("items");
    assert_eq!((items.len(), items[0]["amount"].as_str()), (1, Some("10.00")));
    let statement = central.get("/api/v1/me/operations", Some(&customer_token)).await;
    assert_eq!(statement.body["items"][0]["kind"], "charge");
    assert_eq!(statement.body["items"][0]["company_name"], "Messages");
    assert_eq!(statement.body["items"][0]["balance_after"], "86.50");
    assert_eq!(central.wallet(&customer_token).await["available"], "86.50");
    // Another company sees none of it.
    let (_, other) = central.company("Other", "ops@other.io").await;
    assert_eq!(central.get("/api/v1/company/charges", Some(&other)).await.body["items"], json!([]));
    assert_eq!(central.get("/api/v1/company/accounts", Some(&other)).await.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_on_private_addresses_are_refused_unless_allowed() {
    // Proves the SSRF guard at PATCH time: loopback and private targets are 422 without --allow-private-webhooks.
    let central = TestCentral::start_with(|config| config.allow_private_webhooks = false).await;
    let (_, token) = central.company("Messages", "ops@messages.io").await;
    for url in [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://192.168.0.10/hook",
        "http://localhost/hook",
    ] {
        let refused = central.patch("/api/v1/company", Some(&token), json!({"webhook_url": url})).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], "webhook_url", "{url}");
    }
    let kept = central.get("/api/v1/company", Some(&token)).await;
    assert!(kept.body["webhook_url"].is_null());
}
