//! Upgrading a data dir written by an older build: `tests/fixtures/central_v1` was written by the
//! schema-version-1 build (two companies, two customers, top-ups, charges by amount and by
//! service, a captured hold), with what its API answered then in `expected.json`.

use std::path::Path;

use protus::storage::StoreOptions;
use protus::storage::central::billing;
use protus::storage::central::open::{CENTRAL_DB_FILE, open_central};
use protus::storage::central::verify::verify;
use protus::storage::schema::{META, SCHEMA_VERSION};
use protus::vocab::ids::AccountId;
use protus::vocab::time::{Clock, Timestamp};
use redb::{ReadableDatabase, TableHandle};
use serde_json::{Value, json};

use crate::billing::post_keyed;
use crate::oauth_support::{consent, exchange};
use crate::support::TestCentral;

fn fixture() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).expect("the fixture's expectations");
    serde_json::from_str(&text).expect("JSON")
}

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/central_v1")
}

/// A copy of the version 1 data dir in a fresh temp dir.
fn copied_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture_dir().join(CENTRAL_DB_FILE), dir.path().join(CENTRAL_DB_FILE)).expect("copy");
    dir
}

/// Every item of a paged list, two at a time, so the cursors are exercised.
async fn all_pages(central: &TestCentral, path: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = if cursor.is_empty() { format!("{path}?limit=2") } else { format!("{path}?limit=2&cursor={cursor}") };
        let page = central.get(&url, Some(token)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        items.extend(page.body["items"].as_array().expect("items").iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return items,
        }
    }
}

#[test]
fn a_version_1_file_is_upgraded_in_place_and_verifies_clean() {
    // Proves opening a schema-1 file stamps the current version, drops the retired indexes, keeps
    // every account's charges in order, and leaves a ledger `verify` finds clean.
    let dir = copied_data_dir();
    let store = open_central(dir.path(), &StoreOptions::default()).expect("a version 1 file opens");
    let report = store.read_blocking(|r| Ok(verify(r))).expect("read").expect("verify");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert_eq!((report.charges, report.accounts, report.wallets), (8, 3, 2));
    let expected = fixture();
    let company_charges: Vec<Value> = ["messages_charges", "photos_charges"]
        .iter()
        .flat_map(|k| expected[k].as_array().expect("list").clone())
        .collect();
    let mut accounts: Vec<String> =
        company_charges.iter().map(|c| c["account_id"].as_str().expect("account").to_owned()).collect();
    accounts.sort();
    accounts.dedup();
    assert_eq!(accounts.len(), 3, "the fixture has three accounts with charges");
    for account in accounts {
        let id = AccountId::parse(&account).expect("an account id");
        let page = store
            .read_blocking(move |r| billing::charges_for_account(r, &id, None, 50))
            .expect("the account's charges")
            .expect("no cursor, a page");
        let found: Vec<String> = page.items.iter().map(|c| c.id.to_string()).collect();
        let wanted: Vec<String> = company_charges
            .iter()
            .filter(|c| c["account_id"] == account.as_str())
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(found, wanted, "account {account}: its charges, newest first");
    }
    store.close();
    let db = redb::Database::open(dir.path().join(CENTRAL_DB_FILE)).expect("reopen raw");
    let read = db.begin_read().expect("read");
    let version =
        read.open_table(META).expect("meta").get("schema_version").expect("get").map(|v| v.value().to_owned());
    assert_eq!(version, Some(SCHEMA_VERSION.to_string()));
    let tables: Vec<String> = read.list_tables().expect("tables").map(|t| t.name().to_owned()).collect();
    assert!(!tables.iter().any(|t| t == "operations" || t == "charges_by_account"), "{tables:?}");
    assert!(tables.iter().any(|t| t == "statement_lines") && tables.iter().any(|t| t == "account_charges"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_data_dir_answers_as_before_and_keeps_growing() {
    // Proves statements, wallets and charge lists read the same after the upgrade, and that new
    // lines, charges and the spending cap build on the upgraded threads.
    let dir = copied_data_dir();
    let data_dir = dir.path().to_owned();
    let central = TestCentral::start_with(|config| config.data_dir = data_dir).await;
    let expected = fixture();
    // The fixture's charges are inside the spending window only near the time they were made.
    let made = Timestamp::parse_rfc3339(expected["messages_charges"][0]["created_at"].as_str().expect("time"))
        .expect("an RFC 3339 time");
    central.clock.advance_s((made.unix_ms() - central.clock.now().unix_ms()) / 1000 + 3600);

    let ann = central.sign_in("customer", "ann@x.io", "correct horse").await;
    let bob = central.sign_in("customer", "bob@x.io", "correct horse").await;
    let messages = central.sign_in("company", "ops@messages.io", "company pass").await;
    assert_eq!(
        all_pages(&central, "/api/v1/me/operations", &ann).await,
        expected["ann_statement"].as_array().expect("list").clone()
    );
    assert_eq!(
        all_pages(&central, "/api/v1/me/operations", &bob).await,
        expected["bob_statement"].as_array().expect("list").clone()
    );
    assert_eq!(central.wallet(&ann).await, expected["ann_wallet"]);
    assert_eq!(
        all_pages(&central, "/api/v1/company/charges", &messages).await,
        expected["messages_charges"].as_array().expect("list").clone()
    );

    // New statement lines go on top of the upgraded ones.
    central.top_up(&ann, "5.00", "after-upgrade").await;
    let statement = all_pages(&central, "/api/v1/me/operations", &ann).await;
    assert_eq!(statement.len(), 9);
    assert_eq!((statement[0]["kind"].as_str(), statement[0]["amount"].as_str()), (Some("top_up"), Some("5.00")));
    assert_eq!(statement[1..], expected["ann_statement"].as_array().expect("list")[..]);
    // A cursor is one of the list's own entries: bob's newest line is no cursor of ann's statement.
    let bobs = expected["bob_statement"].as_array().expect("list").len();
    let page = central.get("/api/v1/me/operations?limit=1", Some(&bob)).await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1), "bob has {bobs} lines");
    let bob_cursor = page.body["next_cursor"].as_str().expect("bob has more than one line").to_owned();
    let foreign = central.get(&format!("/api/v1/me/operations?cursor={bob_cursor}"), Some(&ann)).await;
    foreign.assert_problem(422, "validation_failed");
    assert_eq!(foreign.body["errors"][0]["field"], "cursor", "{}", foreign.body);

    // The cap counts the account's upgraded charges: ann paid Messages 2.50 + 1.25 + 0.75.
    let company = central.get("/api/v1/company", Some(&messages)).await.body;
    let client_id = company["client_id"].as_str().unwrap_or_else(|| company["id"].as_str().expect("id")).to_owned();
    let rotated =
        central.post("/api/v1/company/secrets/rotate", Some(&messages), json!({"kind": "client_secret"})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let secret = rotated.body["secret"].as_str().expect("secret").to_owned();
    let code = consent(&central, &client_id, "ann@x.io", &["check", "charge"], "10.00").await;
    let (_, tokens) = exchange(&central, (&client_id, &secret), &code).await;
    let token = tokens["access_token"].as_str().expect("token");
    let charge = |key: &'static str, amount: &'static str| {
        post_keyed(&central, "/api/v1/billing/charges", token, key, json!({"amount": amount, "description": "after"}))
    };
    let fits = charge("cap-1", "5.50").await;
    assert_eq!(fits.status, 201, "{}", fits.body);
    charge("cap-2", "0.01").await.assert_problem(402, "spending_cap_exceeded");
    let report = central.store().read(verify).await.expect("verify");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert_eq!(report.charges, 9);
}
