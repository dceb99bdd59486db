//! Security pass (issue 8): a sidecar cannot report usage against another company's accounts
//! or leases, nor against another sidecar's lease of its own company. Such records are acked
//! as rejected and quarantined (DESIGN §7), visible to the reporting sidecar's company only;
//! no money moves, and the other company's lease keeps every unit.

use protus::vocab::ids::{ChargeId, LeaseId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::billing::post_keyed;
use crate::security_isolation::{Two, two};
use crate::support::TestCentral;
use crate::sync_leases::{enrol, sync_call};

fn record(seq: u64, lease: &str, account: &str, charge: &str, amount: &str, key: &str) -> Value {
    json!({
        "seq": seq, "lease_id": lease, "account_id": account, "charge_id": charge, "hold_id": null,
        "amount": amount, "invoice_number": format!("INV-{seq}"), "service_id": null, "service_name": null,
        "description": "usage", "payload": null, "idempotency_key": key, "accepted_at": "2026-01-01T00:00:00Z"
    })
}

fn new_charge() -> String {
    ChargeId::generate().to_string()
}

async fn report(central: &TestCentral, sidecar: &(String, String), records: &[Value]) -> Value {
    let batch = json!({"records": records});
    let answer = sync_call(central, Method::POST, "/sync/v1/usage", sidecar, Some(batch)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn open_lease(central: &TestCentral, sidecar: &(String, String), account: &str, amount: &str) -> String {
    let body = json!({"request_id": format!("open-{account}"), "account_id": account, "amount": amount});
    let opened = sync_call(central, Method::POST, "/sync/v1/leases", sidecar, Some(body)).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    opened.body["lease_id"].as_str().expect("a lease").to_owned()
}

async fn close_lease(central: &TestCentral, sidecar: &(String, String), lease: &str, through_seq: u64) -> Value {
    let body = json!({"request_id": format!("close-{lease}"), "through_seq": through_seq});
    let closed = sync_call(central, Method::POST, &format!("/sync/v1/leases/{lease}/close"), sidecar, Some(body)).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    closed.body
}

/// The quarantine a company sees: (sidecar id, seq, reason, detail) of each record, oldest first.
async fn quarantine(central: &TestCentral, session: &str) -> Vec<(String, u64, String, String)> {
    let list = central.get("/api/v1/company/usage/quarantine?limit=200", Some(session)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let mut items: Vec<(String, u64, String, String)> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let text = |f: &str| i[f].as_str().unwrap_or_default().to_owned();
            (text("sidecar_id"), i["seq"].as_u64().unwrap_or_default(), text("reason"), text("detail"))
        })
        .collect();
    items.reverse();
    items
}

/// The company's charges: (id, status, amount, account), newest first.
async fn charges(central: &TestCentral, session: &str) -> Vec<(String, String, String, String)> {
    let list = central.get("/api/v1/company/charges?limit=200", Some(session)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let text = |c: &Value, f: &str| c[f].as_str().unwrap_or_default().to_owned();
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| (text(c, "id"), text(c, "status"), text(c, "amount"), text(c, "account_id")))
        .collect()
}

async fn paid_totals(central: &TestCentral, session: &str) -> Vec<(String, String)> {
    let list = central.get("/api/v1/company/accounts", Some(session)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let text = |c: &Value, f: &str| c[f].as_str().unwrap_or_default().to_owned();
    let mut totals: Vec<(String, String)> =
        list.body["items"].as_array().expect("items").iter().map(|a| (text(a, "id"), text(a, "paid_total"))).collect();
    totals.sort();
    totals
}

async fn assert_verified(central: &TestCentral) {
    let report = central.store().read(protus::storage::central::verify::verify).await.expect("verify runs");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    let dir = central.dir.path().to_owned();
    let (code, output) = tokio::task::spawn_blocking(move || crate::child::verify(&dir)).await.expect("verify");
    assert_eq!(code, 0, "`protus central verify` is clean: {output}");
}

/// `detail` with `id` taken out, to compare the wording of two refusals.
fn wording(detail: &str, id: &str) -> String {
    detail.replace(id, "<id>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_cannot_charge_another_companys_accounts_or_leases() {
    // Proves B's sidecar, with its own credentials and correct seqs, gets every record against A's accounts, A's lease or A's charge ids quarantined, A's money, lease, charges and quarantine untouched, while its own valid record still settles.
    let t: Two = two().await;
    let central = &t.central;
    let (sa, sb) = (enrol(central, t.a.client()).await, enrol(central, t.b.client()).await);
    let charge_a = post_keyed(
        central,
        "/api/v1/billing/charges",
        &t.a_ann.access,
        "shared-key",
        json!({"amount": "2", "description": "at central"}),
    )
    .await;
    assert_eq!(charge_a.status, 201, "{}", charge_a.body);
    let charge_a = charge_a.body["id"].as_str().expect("a charge").to_owned();
    let lease_a = open_lease(central, &sa, &t.a_ann.account, "30").await;
    let lease_b = open_lease(central, &sb, &t.b_bob.account, "20").await;
    // A's sidecar reports a charge of its own first.
    let sidecar_charge_a = new_charge();
    let a_ack = report(central, &sa, &[record(1, &lease_a, &t.a_ann.account, &sidecar_charge_a, "4", "a-1")]).await;
    assert_eq!(a_ack, json!({"applied_through": 1, "rejected": [], "reversed": []}));
    let (ann_before, a_charges, a_totals) =
        (central.wallet(&t.ann).await, charges(central, &t.a.session).await, paid_totals(central, &t.a.session).await);
    assert_eq!((ann_before["available"].as_str(), ann_before["leased"].as_str()), (Some("68.00"), Some("26.00")));

    let unknown_lease = LeaseId::generate().to_string();
    let (a_acct, b_ann, b_bob) = (t.a_ann.account.as_str(), t.b_ann.account.as_str(), t.b_bob.account.as_str());
    let batch = [
        record(1, &lease_a, a_acct, &new_charge(), "7", "b-1"),
        record(2, &lease_a, b_ann, &new_charge(), "7", "b-2"),
        record(3, &lease_a, b_bob, &new_charge(), "7", "b-3"),
        record(4, &lease_b, a_acct, &new_charge(), "7", "b-4"),
        record(5, &lease_b, b_ann, &new_charge(), "7", "b-5"),
        record(6, &lease_b, b_bob, &charge_a, "7", "b-6"),
        record(7, &lease_b, b_bob, &sidecar_charge_a, "7", "b-7"),
        record(8, &unknown_lease, b_bob, &new_charge(), "7", "b-8"),
        // A's idempotency key is A's: under B it is a new charge, settled, not a duplicate.
        record(9, &lease_b, b_bob, &new_charge(), "3", "shared-key"),
    ];
    let ack = report(central, &sb, &batch).await;
    assert_eq!(
        ack,
        json!({"applied_through": 9, "rejected": [
            {"seq": 1, "reason": "unknown_account"}, {"seq": 2, "reason": "unknown_lease"},
            {"seq": 3, "reason": "unknown_lease"}, {"seq": 4, "reason": "unknown_account"},
            {"seq": 5, "reason": "lease_account_mismatch"}, {"seq": 6, "reason": "duplicate_charge_id"},
            {"seq": 7, "reason": "duplicate_charge_id"}, {"seq": 8, "reason": "unknown_lease"}
        ], "reversed": []})
    );
    // A resend changes nothing; it tells again which records were quarantined.
    let quarantined: Vec<Value> = (1..=8).map(|seq| json!({"seq": seq, "reason": "quarantined"})).collect();
    assert_eq!(
        report(central, &sb, &batch).await,
        json!({"applied_through": 9, "rejected": quarantined, "reversed": []})
    );

    // A: the same wallet, charges, paid totals and (empty) quarantine as before.
    assert_eq!(central.wallet(&t.ann).await, ann_before);
    assert_eq!(charges(central, &t.a.session).await, a_charges);
    assert_eq!(paid_totals(central, &t.a.session).await, a_totals);
    assert!(quarantine(central, &t.a.session).await.is_empty(), "A sees B's quarantine");
    // B: one settled charge from its own lease, and its quarantine, with no hint whether A's lease exists.
    let b_charges = charges(central, &t.b.session).await;
    assert_eq!(b_charges.len(), 1, "{b_charges:?}");
    assert_eq!((b_charges[0].1.as_str(), b_charges[0].2.as_str(), b_charges[0].3.as_str()), ("settled", "3.00", b_bob));
    let bob = central.wallet(&t.bob).await;
    assert_eq!((bob["available"].as_str(), bob["leased"].as_str()), (Some("80.00"), Some("17.00")), "{bob}");
    let kept = quarantine(central, &t.b.session).await;
    assert_eq!(kept.iter().map(|q| q.1).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(kept.iter().all(|q| q.0 == sb.0), "{kept:?}");
    assert_eq!(wording(&kept[1].3, &lease_a), wording(&kept[7].3, &unknown_lease), "A's lease looks like no lease");
    // A's lease kept every unit B tried to spend: it returns whole at close.
    let closed = close_lease(central, &sa, &lease_a, 1).await;
    assert_eq!((closed["status"].as_str(), closed["returned"].as_str()), (Some("closed"), Some("26.00")), "{closed}");
    assert_eq!(central.wallet(&t.ann).await["available"], "94.00");
    assert_verified(central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_cannot_charge_the_lease_of_another_sidecar_of_its_company() {
    // Proves a lease is reserved for one sidecar: a second sidecar of the same company reporting against it is quarantined as unknown_lease (shown to that company only), and the lease keeps its funds.
    let t: Two = two().await;
    let central = &t.central;
    let (first, second) = (enrol(central, t.a.client()).await, enrol(central, t.a.client()).await);
    let lease = open_lease(central, &first, &t.a_ann.account, "30").await;
    let ann_before = central.wallet(&t.ann).await;
    let ack = report(central, &second, &[record(1, &lease, &t.a_ann.account, &new_charge(), "10", "k")]).await;
    assert_eq!(ack, json!({"applied_through": 1, "rejected": [{"seq": 1, "reason": "unknown_lease"}], "reversed": []}));
    assert_eq!(central.wallet(&t.ann).await, ann_before);
    assert!(charges(central, &t.a.session).await.is_empty());
    let kept = quarantine(central, &t.a.session).await;
    assert_eq!(
        kept.iter().map(|q| (q.0.as_str(), q.1, q.2.as_str())).collect::<Vec<_>>(),
        [(second.0.as_str(), 1, "unknown_lease")]
    );
    assert!(quarantine(central, &t.b.session).await.is_empty(), "B sees A's quarantine");
    // The lease's own sidecar still spends it, with its own seq 1.
    let own = report(central, &first, &[record(1, &lease, &t.a_ann.account, &new_charge(), "10", "k")]).await;
    assert_eq!(own, json!({"applied_through": 1, "rejected": [], "reversed": []}));
    let closed = close_lease(central, &first, &lease, 1).await;
    assert_eq!(closed["returned"], "20.00", "{closed}");
    assert_eq!(paid_totals(central, &t.a.session).await, [(t.a_ann.account.clone(), "10.00".to_owned())]);
    assert_verified(central).await;
}
