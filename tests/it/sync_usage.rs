//! Usage ingestion at central (DESIGN §7) over HTTP: exactly once per (sidecar, seq), gaps,
//! quarantine, clone detection, settlement-time dedupe and late charges.

use protus::vocab::ids::{ChargeId, LeaseId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::billing::post_keyed;
use crate::oauth_tokens::issued;
use crate::sync_leases::{
    Setup, amounts, assert_verified, claims, close, event_kinds, feed, open, setup, sync_call, wallet,
};

fn record(seq: u64, lease: &str, account: &str, amount: &str, key: &str) -> Value {
    json!({
        "seq": seq, "lease_id": lease, "account_id": account, "charge_id": ChargeId::generate().to_string(),
        "hold_id": null, "amount": amount, "invoice_number": format!("SC-{seq}"), "service_id": null,
        "service_name": "Routing", "description": "one route", "payload": {"n": seq},
        "idempotency_key": key, "accepted_at": "2026-01-01T00:00:00Z"
    })
}

async fn report(s: &Setup, records: &[Value]) -> Value {
    let answer =
        sync_call(&s.central, Method::POST, "/sync/v1/usage", &s.sidecar, Some(json!({"records": records}))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn lease(s: &Setup, request_id: &str, amount: &str) -> String {
    let opened = open(s, request_id, amount).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    opened.body["lease_id"].as_str().expect("a lease").to_owned()
}

/// The company's charges, newest first.
async fn invoices(s: &Setup) -> Vec<Value> {
    let list = s.central.get("/api/v1/company/charges", Some(&s.company_session)).await;
    list.body["items"].as_array().expect("items").clone()
}

fn count(events: &[(String, Value)], kind: &str) -> usize {
    events.iter().filter(|(k, _)| k == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_applied_exactly_once_and_books_settled_charges() {
    // Proves records are paid from the lease with the sidecar's invoice numbers, statement lines, paid_total and charge.settled, and a resend changes nothing.
    let s = setup("", "100.00").await;
    let id = lease(&s, "r1", "50").await;
    let batch = [record(1, &id, &s.account, "10", "k1"), record(2, &id, &s.account, "5.50", "k2")];
    let ack = report(&s, &batch).await;
    assert_eq!(ack, json!({"applied_through": 2, "rejected": [], "reversed": []}));
    assert_eq!(wallet(&s).await, amounts("50.00", "34.50", "0.00"));
    assert_eq!(report(&s, &batch).await, ack);
    assert_eq!(wallet(&s).await, amounts("50.00", "34.50", "0.00"));
    let charges = invoices(&s).await;
    assert_eq!(charges.len(), 2);
    assert_eq!((charges[0]["invoice_number"].as_str(), charges[0]["status"].as_str()), (Some("SC-2"), Some("settled")));
    assert_eq!(charges[0]["id"], batch[1]["charge_id"]);
    let statement = s.central.get("/api/v1/me/operations", Some(&s.customer)).await;
    let line = &statement.body["items"][0];
    assert_eq!(
        (line["invoice_number"].as_str(), line["amount"].as_str(), line["balance_after"].as_str()),
        (Some("SC-2"), Some("5.50"), Some("50.00"))
    );
    let accounts = s.central.get("/api/v1/company/accounts", Some(&s.company_session)).await;
    assert_eq!(accounts.body["items"][0]["paid_total"], "15.50");
    assert_eq!(count(&event_kinds(&s.central).await, "charge.settled"), 2);
    let closed = close(&s, &s.sidecar, &id, "c1", 2).await;
    assert_eq!((closed.body["status"].as_str(), closed.body["returned"].as_str()), (Some("closed"), Some("34.50")));
    assert_eq!(wallet(&s).await, amounts("84.50", "0.00", "0.00"));
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_stops_the_batch_until_the_missing_record_arrives() {
    // Proves a record beyond applied + 1 is not applied and the ack stays at the last applied seq.
    let s = setup("", "100.00").await;
    let id = lease(&s, "r1", "30").await;
    let (one, two, three) = (
        record(1, &id, &s.account, "1", "a"),
        record(2, &id, &s.account, "2", "b"),
        record(3, &id, &s.account, "3", "c"),
    );
    assert_eq!(report(&s, std::slice::from_ref(&one)).await["applied_through"], 1);
    assert_eq!(
        report(&s, std::slice::from_ref(&three)).await,
        json!({"applied_through": 1, "rejected": [], "reversed": []})
    );
    assert_eq!(wallet(&s).await, amounts("70.00", "29.00", "0.00"));
    assert_eq!(report(&s, &[two, three]).await["applied_through"], 3);
    assert_eq!(wallet(&s).await, amounts("70.00", "24.00", "0.00"));
    let unordered = json!({"records": [record(5, &id, &s.account, "1", "e"), record(4, &id, &s.account, "1", "d")]});
    sync_call(&s.central, Method::POST, "/sync/v1/usage", &s.sidecar, Some(unordered))
        .await
        .assert_problem(422, "validation_failed");
    // The snapshot states how many records a batch may hold; one more is refused whole.
    let snapshot = sync_call(&s.central, Method::GET, "/sync/v1/snapshot", &s.sidecar, None).await;
    let stated = snapshot.body["usage_batch_len_max"].as_u64().expect("central states its batch bound");
    assert_eq!(stated, 2_000);
    let too_many: Vec<Value> =
        (4..=4 + stated).map(|seq| record(seq, &id, &s.account, "0.01", &format!("k{seq}"))).collect();
    sync_call(&s.central, Method::POST, "/sync/v1/usage", &s.sidecar, Some(json!({"records": too_many})))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(wallet(&s).await, amounts("70.00", "24.00", "0.00"), "nothing of a refused batch applies");
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_central_cannot_apply_are_quarantined_and_do_not_block() {
    // Proves an unknown lease, a foreign account and a malformed record are acked as rejected, listed for the company, and later records apply.
    let s = setup("", "100.00").await;
    let id = lease(&s, "r1", "30").await;
    let other = issued(&s.central, "Mail", "bob@x.io", &["check"]).await;
    let foreign = claims(&other.access())["sub"].as_str().expect("sub").to_owned();
    let mut malformed = record(3, &id, &s.account, "1", "c");
    malformed["amount"] = json!(1);
    let batch = [
        record(1, &LeaseId::generate().to_string(), &s.account, "1", "a"),
        record(2, &id, &foreign, "1", "b"),
        malformed,
        record(4, &id, &s.account, "4", "d"),
    ];
    let ack = report(&s, &batch).await;
    assert_eq!(
        ack,
        json!({"applied_through": 4, "rejected": [
            {"seq": 1, "reason": "unknown_lease"}, {"seq": 2, "reason": "unknown_account"}, {"seq": 3, "reason": "invalid_record"}
        ], "reversed": []})
    );
    let resent = report(&s, &batch).await;
    assert_eq!(
        resent,
        json!({"applied_through": 4, "rejected": [
            {"seq": 1, "reason": "quarantined"}, {"seq": 2, "reason": "quarantined"}, {"seq": 3, "reason": "quarantined"}
        ], "reversed": []}),
        "a resent batch (its ack was lost) tells each record's outcome again"
    );
    assert_eq!(wallet(&s).await, amounts("70.00", "26.00", "0.00"));
    let quarantine = s.central.get("/api/v1/company/usage/quarantine", Some(&s.company_session)).await;
    assert_eq!(quarantine.status, 200, "{}", quarantine.body);
    let items = quarantine.body["items"].as_array().expect("items");
    assert_eq!(items.iter().map(|i| i["seq"].as_u64().unwrap_or_default()).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(
        (items[0]["sidecar_id"].as_str(), items[0]["reason"].as_str()),
        (Some(s.sidecar.0.as_str()), Some("invalid_record"))
    );
    assert_eq!(items[0]["record"], batch[2]);
    assert!(items[0]["at"].is_string() && quarantine.body["next_cursor"].is_null());
    let elsewhere = s.central.get("/api/v1/company/usage/quarantine", Some(&other.company_session)).await;
    assert_eq!(elsewhere.body["items"], json!([]));
    s.central.get("/api/v1/company/usage/quarantine", Some(&s.customer)).await.assert_problem(403, "forbidden");
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_beyond_a_lease_ceiling_is_quarantined_not_charged() {
    // Proves records summing past their lease's ceiling, before or after it was returned, are quarantined as exceeds_lease and never reach the wallet, while records inside it apply.
    let s = setup("", "100.00").await;
    let id = lease(&s, "r1", "30").await;
    let batch = [
        record(1, &id, &s.account, "20", "a"),
        record(2, &id, &s.account, "15", "b"),
        record(3, &id, &s.account, "10", "c"),
        record(4, &id, &s.account, "500000", "d"),
    ];
    let ack = report(&s, &batch).await;
    assert_eq!(
        ack,
        json!({"applied_through": 4, "rejected": [
            {"seq": 2, "reason": "exceeds_lease"}, {"seq": 4, "reason": "exceeds_lease"}
        ], "reversed": []})
    );
    assert_eq!(wallet(&s).await, amounts("70.00", "0.00", "0.00"));
    assert_eq!(close(&s, &s.sidecar, &id, "c1", 4).await.body["status"], "closed");
    let after_return = report(&s, &[record(5, &id, &s.account, "1", "e")]).await;
    assert_eq!(after_return["rejected"], json!([{"seq": 5, "reason": "exceeds_lease"}]));
    assert_eq!(wallet(&s).await, amounts("70.00", "0.00", "0.00"));
    let quarantine = s.central.get("/api/v1/company/usage/quarantine", Some(&s.company_session)).await;
    assert_eq!(quarantine.body["items"].as_array().map(Vec::len), Some(3), "{}", quarantine.body);
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_reused_with_another_charge_is_a_clone_and_quarantined() {
    // Proves a copied data dir's record (same seq, other charge id) is never deduplicated silently: quarantined as clone, money untouched.
    let s = setup("", "100.00").await;
    let id = lease(&s, "r1", "30").await;
    report(&s, &[record(1, &id, &s.account, "10", "a")]).await;
    let clone = record(1, &id, &s.account, "7", "z");
    let ack = report(&s, std::slice::from_ref(&clone)).await;
    assert_eq!(ack, json!({"applied_through": 1, "rejected": [{"seq": 1, "reason": "clone"}], "reversed": []}));
    report(&s, std::slice::from_ref(&clone)).await;
    assert_eq!(wallet(&s).await, amounts("70.00", "20.00", "0.00"));
    let quarantine = s.central.get("/api/v1/company/usage/quarantine", Some(&s.company_session)).await;
    let items = quarantine.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (items[0]["reason"].as_str(), items[0]["record"]["charge_id"].clone()),
        (Some("clone"), clone["charge_id"].clone())
    );
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_settled_twice_is_reversed_at_settlement() {
    // Proves a key settled at central and reported by a sidecar (and the reverse) is booked reversed once, with charge.reversed and no money moved.
    let s = setup("", "100.00").await;
    let id = lease(&s, "r1", "20").await;
    let direct =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "K", json!({"amount": "5", "description": "x"}))
            .await;
    assert_eq!(direct.status, 201);
    let duplicate = record(1, &id, &s.account, "5", "K");
    let ack = report(&s, std::slice::from_ref(&duplicate)).await;
    assert_eq!(ack, json!({"applied_through": 1, "rejected": [], "reversed": [1]}));
    assert_eq!(report(&s, std::slice::from_ref(&duplicate)).await, ack, "a resend tells the reversal again");
    assert_eq!(wallet(&s).await, amounts("75.00", "20.00", "0.00"));
    let charges = invoices(&s).await;
    assert_eq!(
        (charges[0]["id"].clone(), charges[0]["status"].as_str()),
        (duplicate["charge_id"].clone(), Some("reversed"))
    );
    report(&s, &[record(2, &id, &s.account, "3", "K2")]).await;
    let late_direct =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "K2", json!({"amount": "3", "description": "x"}))
            .await;
    assert_eq!(
        (late_direct.status.as_u16(), late_direct.body["status"].as_str()),
        (201, Some("reversed")),
        "{}",
        late_direct.body
    );
    assert_eq!(wallet(&s).await, amounts("75.00", "17.00", "0.00"));
    let events = event_kinds(&s.central).await;
    assert_eq!((count(&events, "charge.settled"), count(&events, "charge.reversed")), (2, 2));
    let accounts = s.central.get("/api/v1/company/accounts", Some(&s.company_session)).await;
    assert_eq!(accounts.body["items"][0]["paid_total"], "8.00");
    let closed = close(&s, &s.sidecar, &id, "c", 2).await;
    assert_eq!(closed.body["returned"], "17.00");
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_of_a_settled_key_is_reversed_even_past_the_spending_cap() {
    // Proves a direct charge under a key a sidecar already settled is booked reversed (201), not refused by the cap it would not spend.
    let s = setup("10.00", "100.00").await;
    let id = lease(&s, "r1", "10").await;
    assert_eq!(report(&s, &[record(1, &id, &s.account, "8", "K")]).await["applied_through"], 1);
    let duplicate =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "K", json!({"amount": "8", "description": "x"}))
            .await;
    assert_eq!(
        (duplicate.status.as_u16(), duplicate.body["status"].as_str()),
        (201, Some("reversed")),
        "{}",
        duplicate.body
    );
    let fresh =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "K3", json!({"amount": "8", "description": "x"}))
            .await;
    fresh.assert_problem(402, "spending_cap_exceeded");
    assert_verified(&s.central).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_after_its_lease_was_returned_is_applied_late_into_debt() {
    // Proves a late record is never dropped: available first, the rest as debt, with account.overdrawn, and the ledger stays consistent.
    let s = setup("", "40.00").await;
    let id = lease(&s, "r1", "30").await;
    assert_eq!(close(&s, &s.sidecar, &id, "c1", 0).await.body["status"], "closed");
    let direct =
        post_keyed(&s.central, "/api/v1/billing/charges", &s.token, "d", json!({"amount": "35", "description": "x"}))
            .await;
    assert_eq!(direct.status, 201);
    report(&s, &[record(1, &id, &s.account, "20", "late")]).await;
    assert_eq!(wallet(&s).await, amounts("0.00", "0.00", "15.00"));
    let events = event_kinds(&s.central).await;
    let overdrawn: Vec<&Value> = events.iter().filter(|(k, _)| k == "account.overdrawn").map(|(_, d)| d).collect();
    assert_eq!(overdrawn.len(), 1);
    assert_eq!(
        (overdrawn[0]["account_id"].as_str(), overdrawn[0]["debt"].as_str(), overdrawn[0]["amount"].as_str()),
        (Some(s.account.as_str()), Some("15.00"), Some("20.00"))
    );
    assert_eq!(count(&events, "charge.settled"), 2);
    let accounts = s.central.get("/api/v1/company/accounts", Some(&s.company_session)).await;
    assert_eq!(accounts.body["items"][0]["paid_total"], "55.00");
    assert_verified(&s.central).await;
    s.central.top_up(&s.customer, "20.00", "repay").await;
    assert_eq!(wallet(&s).await, amounts("5.00", "0.00", "0.00"));
    let dir = s.central.dir.path().to_owned();
    let (code, output) = tokio::task::spawn_blocking(move || crate::child::verify(&dir)).await.expect("verify");
    assert_eq!(code, 0, "`protus central verify` is clean: {output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_lease_is_returned_when_its_usage_arrives() {
    // Proves close before the usage is applied answers closing, and the remainder returns when usage reaches through_seq.
    let s = setup("", "100.00").await;
    let id = lease(&s, "r1", "50").await;
    let closing = close(&s, &s.sidecar, &id, "c1", 1).await;
    assert_eq!(closing.body, json!({"lease_id": id, "status": "closing", "returned": null}));
    assert_eq!(wallet(&s).await, amounts("50.00", "50.00", "0.00"));
    report(&s, &[record(1, &id, &s.account, "10", "a")]).await;
    assert_eq!(wallet(&s).await, amounts("90.00", "0.00", "0.00"));
    let closed = close(&s, &s.sidecar, &id, "c2", 1).await;
    assert_eq!(closed.body, json!({"lease_id": id, "status": "closed", "returned": "40.00"}));
    let announced = feed(&s, &s.sidecar, "wallet_available").await;
    assert_eq!(announced.last().map(|e| e["available"].clone()), Some(json!("90.00")));
    assert_verified(&s.central).await;
}
