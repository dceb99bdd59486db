//! `protus central verify`: clean on a healthy ledger (through the admin socket or the file),
//! non-zero with every violation named on a tampered one; the admin socket is owner-only; an
//! unknown schema version stops central with a clear error.

use std::os::unix::fs::PermissionsExt;

use crate::child::{ChildCentral, PROTUS, verify};
use crate::support::TestCentral;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_uses_the_admin_socket_while_central_runs() {
    // Proves verify succeeds while central holds the database lock (so it went through the socket) and the socket is 0600.
    let central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    central.top_up(&token, "12.00", "k").await;
    let socket = central.dir.path().join("admin.sock");
    let mode = std::fs::metadata(&socket).expect("socket exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir = central.dir.path().to_owned();
    let (code, output) = tokio::task::spawn_blocking(move || verify(&dir)).await.expect("verify");
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("checked 1 transfers"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_tampered_balance_and_exits_non_zero() {
    // Proves an edited balance in a wallet's record is found (the wallet equation and the
    // transfer sums both fail), and so are a wallet's balance left in `ledger_balances` and a
    // wallet record under a key that is no customer's.
    let mut central = TestCentral::start().await;
    let (customer_id, token) = central.customer("ann@x.io").await;
    central.top_up(&token, "12.00", "k").await;
    central.stop().await;
    let path = central.dir.path().join("central.redb");
    {
        let db = redb::Database::create(&path).expect("open file");
        let txn = db.begin_write().expect("txn");
        {
            let definition: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("wallets");
            let mut wallets = txn.open_table(definition).expect("table");
            let stored = redb::ReadableTable::get(&wallets, customer_id.as_str())
                .expect("get")
                .expect("a wallet record")
                .value()
                .to_vec();
            let mut record: serde_json::Value = protus::storage::codec::decode("wallets", &stored).expect("a record");
            assert_eq!(record["available"], "12", "the balance is in the wallet's record");
            record["available"] = "13".into();
            let tampered = protus::storage::codec::encode(&record);
            wallets.insert(customer_id.as_str(), tampered.as_slice()).expect("tamper");
            wallets.insert("not-a-customer", tampered.as_slice()).expect("stray record");
            let definition: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("ledger_balances");
            let mut balances = txn.open_table(definition).expect("table");
            balances.insert(format!("wallet/{customer_id}/held").as_str(), "1").expect("stray key");
        }
        txn.commit().expect("commit");
    }
    let (code, output) = verify(central.dir.path());
    assert_eq!(code, 1, "{output}");
    assert!(output.contains(&format!("wallet {customer_id}: topped_up_total 12")), "{output}");
    assert!(output.contains("stored balance 13 but transfers sum to 12"), "{output}");
    assert!(output.contains("a wallet's balance outside its wallet record"), "{output}");
    assert!(output.contains("wallet record under \"not-a-customer\", which is not a customer id"), "{output}");
}

#[test]
fn verify_refuses_a_directory_without_a_database() {
    // Proves verify on a wrong --data-dir fails instead of creating an empty database and calling it clean.
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, output) = verify(dir.path());
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("no central database"), "{output}");
    assert!(!dir.path().join("central.redb").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_refuses_to_restart_in_another_currency() {
    // Proves the currency is fixed at the first start, since every stored amount is in it.
    let mut central = TestCentral::start().await;
    central.stop().await;
    let mut config = protus::central::config::CentralConfig::for_tests(central.dir.path().to_owned());
    config.currency = protus::vocab::money::Currency::parse("JPY").expect("known");
    let error =
        protus::central::server::start(config, central.clock.clone()).await.map(|_| ()).expect_err("must refuse");
    assert!(error.to_string().contains("keeps amounts in RUB"), "{error}");
    central.restart().await;
}

#[test]
fn central_refuses_a_database_of_an_unknown_schema_version() {
    // Proves a file stamped by a future schema makes `protus central` exit with a message naming the versions.
    let dir = tempfile::tempdir().expect("temp dir");
    let _ = ChildCentral::start(dir.path()).terminate();
    {
        let db = redb::Database::create(dir.path().join("central.redb")).expect("open file");
        let txn = db.begin_write().expect("txn");
        {
            let definition: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("meta");
            let future = (protus::storage::schema::SCHEMA_VERSION + 1).to_string();
            txn.open_table(definition).expect("meta").insert("schema_version", future.as_str()).expect("stamp");
        }
        txn.commit().expect("commit");
    }
    let output = std::process::Command::new(PROTUS)
        .args(["central", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (future, current) = (protus::storage::schema::SCHEMA_VERSION + 1, protus::storage::schema::SCHEMA_VERSION);
    assert!(
        stderr.contains(&format!("schema version {future}")) && stderr.contains(&format!("reads version {current}")),
        "{stderr}"
    );
    let (code, text) = verify(dir.path());
    assert_ne!(code, 0, "{text}");
}
