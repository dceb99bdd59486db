//! What a sidecar tells the partner after central answered (DESIGN §5, §7): a charge whose key
//! central had already settled shows `reversed`, not `settled`; a balance check for a grant
//! that central leases nothing for still answers central's figure.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sidecar_billing::{World, eventually, money, ready};
use crate::sidecar_support::ChildSidecar;

async fn status_at_sidecar(sidecar: &ChildSidecar, id: &str) -> Value {
    let (status, _, body) = sidecar.get(&format!("/api/v1/billing/charges/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).expect("json")["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charge_central_reverses_shows_reversed_at_the_sidecar() {
    // Proves a sidecar charge under a key central already settled is shown `reversed` once its usage is acked (no money moved for it), while a plain one shows `settled`.
    let world = World::new("100.00", &["check", "hold", "charge"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let sidecar = world.sidecar(dir.path(), &[]);
    ready(&sidecar).await;
    let token = Some(world.token.as_str());
    let body = json!({"amount": "5.00", "description": "one route"});
    let direct = world
        .central
        .call(reqwest::Method::POST, "/api/v1/billing/charges", token, Some(body.clone()), &[("idempotency-key", "K")])
        .await;
    assert_eq!(direct.status, 201, "{}", direct.body);
    let (status, duplicate) = sidecar.post("/api/v1/billing/charges", token, Some("K"), body.clone()).await;
    assert_eq!((status, duplicate["status"].as_str()), (201, Some("accepted")), "{duplicate}");
    let (status, plain) = sidecar.post("/api/v1/billing/charges", token, Some("K2"), body).await;
    assert_eq!(status, 201, "{plain}");
    let (duplicate_id, plain_id) = (duplicate["id"].as_str().expect("id"), plain["id"].as_str().expect("id"));
    assert!(
        world.all_settled_within([duplicate_id, plain_id].into_iter(), Duration::from_secs(10)).await,
        "the sidecar's usage never reached central"
    );
    let at_central = world.central_charges().await;
    assert_eq!(
        (at_central[duplicate_id]["status"].as_str(), at_central[plain_id]["status"].as_str()),
        (Some("reversed"), Some("settled"))
    );
    assert!(
        eventually(Duration::from_secs(5), || async { status_at_sidecar(&sidecar, plain_id).await == "settled" }).await,
        "the plain charge never showed settled"
    );
    assert_eq!(status_at_sidecar(&sidecar, duplicate_id).await, "reversed");
    let wallet = world.wallet().await;
    let unspent = money(&wallet["available"]) + money(&wallet["leased"]);
    assert_eq!(unspent, rust_decimal::Decimal::new(9000, 2), "only two charges of 5.00 moved money: {wallet}");
    assert!(sidecar.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_check_only_grant_gets_its_balance_without_reserving_anything() {
    // Proves `check` through the sidecar for a grant allowing only `check` answers the wallet's available funds, and central reserved nothing for it.
    let world = World::new("100.00", &["check"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let sidecar = world.sidecar(dir.path(), &[]);
    ready(&sidecar).await;
    let (status, _, body) = sidecar.get("/api/v1/billing/balance", Some(&world.token)).await;
    assert_eq!(status, 200, "{body}");
    let balance: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(balance["available"], "100.00", "{balance}");
    let wallet = world.wallet().await;
    assert_eq!((wallet["available"].as_str(), wallet["leased"].as_str()), (Some("100.00"), Some("0.00")), "{wallet}");
    assert!(sidecar.terminate().success());
}
