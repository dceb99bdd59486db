//! Fault injection (issue 8): central, a real process, is SIGKILLed and restarted on the same port
//! again and again while a sidecar process takes charges, holds and captures; every charge the
//! sidecar acknowledged settles at central exactly once, nothing is overspent, `verify` is clean
//! and the sidecar's usage outbox drains.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::child::{ChildCentral, verify};
use crate::sidecar_billing::{World, money, ready};
use crate::sidecar_support::metric;

/// SIGKILLs of central during the load.
const KILLS: usize = 4;
/// The wallet the load spends from. The workers pause `PACE` between requests, so the load spends
/// at most about 10.00 a second: the wallet outlasts the first restart, and may run out later
/// (refusals with 402 then test that nothing is overspent).
const WALLET: &str = "30.00";
const PACE: Duration = Duration::from_millis(100);

/// What a worker saw acknowledged: (idempotency key, request body, the 201 answer).
type Acked = Arc<Mutex<Vec<(String, Value, Value)>>>;

/// Acknowledged charges per phase of the test (before the first kill, after each kill).
static PHASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PER_PHASE: Mutex<[usize; KILLS + 1]> = Mutex::new([0; KILLS + 1]);

fn note(acked: &Acked, entry: (String, Value, Value)) {
    PER_PHASE.lock().expect("lock")[PHASE.load(Ordering::SeqCst)] += 1;
    acked.lock().expect("lock").push(entry);
}

/// POSTs with `key` until the sidecar answers something other than 503 `central_unavailable`
/// (central is down or restarting; the 503 is not stored, so the same key may be sent again).
/// Gives up on a 503 only once `stop` is set. Any answer but 201, 402 and that 503 fails the test.
async fn post_retrying(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    key: &str,
    body: &Value,
    stop: &AtomicBool,
) -> Option<(u16, Value)> {
    loop {
        let mut request = http.post(url).header("idempotency-key", key).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("the sidecar stays up: {e}"));
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match (status, answer["code"].as_str()) {
            (201, _) | (402, Some("insufficient_funds")) => return Some((status, answer)),
            (503, Some("central_unavailable")) if stop.load(Ordering::SeqCst) => return None,
            (503, Some("central_unavailable")) => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => panic!("unexpected answer {status} to {url} with key {key}: {answer}"),
        }
    }
}

/// Direct charges of 0.10, each key retried until it is answered.
async fn charge_worker(base: String, token: String, worker: usize, stop: Arc<AtomicBool>, acked: Acked) {
    let (http, url) = (reqwest::Client::new(), format!("{base}/api/v1/billing/charges"));
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (key, body) = (format!("c-{worker}-{n}"), json!({"amount": "0.10", "description": "load"}));
        match post_retrying(&http, &url, Some(&token), &key, &body, &stop).await {
            Some((201, charge)) => note(&acked, (key, body, charge)),
            Some(_) => {} // 402: the wallet is spent
            None => return,
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Holds of 0.30 captured for 0.20: the capture is a charge inside the hold's lease.
async fn hold_worker(base: String, token: String, worker: usize, stop: Arc<AtomicBool>, acked: Acked) {
    let http = reqwest::Client::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let url = format!("{base}/api/v1/billing/holds");
        tokio::time::sleep(PACE).await;
        let body = json!({"amount": "0.30", "description": "load"});
        let hold = match post_retrying(&http, &url, Some(&token), &format!("h-{worker}-{n}"), &body, &stop).await {
            Some((201, hold)) => hold,
            Some(_) => continue,
            None => return,
        };
        // A placed hold is always captured: its money sits in a lease and needs no central.
        let url = format!("{base}/api/v1/billing/holds/{}/capture", hold["id"].as_str().expect("hold id"));
        let (key, body) = (format!("hc-{worker}-{n}"), json!({"amount": "0.20"}));
        let never = AtomicBool::new(false);
        let (status, charge) = post_retrying(&http, &url, None, &key, &body, &never).await.expect("never gives up");
        assert_eq!(status, 201, "a capture inside its hold: {charge}");
        note(&acked, (key, body, charge));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_central_sigkilled_and_restarted_under_sidecar_load_settles_every_charge_once() {
    // Proves that with central SIGKILLed and restarted on its port four times under a load of idempotent charges, holds and captures through a sidecar, every acknowledged charge settles once, totals and the statement match, nothing is overspent, verify is clean and the outbox drains.
    let mut world = World::new(WALLET, &["check", "hold", "charge"]).await;
    // The world was made through an in-process central; from here on central is a process on
    // the same address and data dir (the issuer is http://<address>, so the tokens stay good).
    world.central.stop().await;
    let address = world.central.base.trim_start_matches("http://").to_owned();
    let data_dir = world.central.dir.path().to_owned();
    let mut central = ChildCentral::start_on(&data_dir, &address, &[]);
    let sidecar_dir = tempfile::tempdir().expect("temp dir");
    let sidecar = world.sidecar(sidecar_dir.path(), &["--lease-chunk", "5.00"]);
    ready(&sidecar).await;

    let (stop, acked): (Arc<AtomicBool>, Acked) = (Arc::default(), Arc::default());
    let mut workers = Vec::new();
    for worker in 0..6 {
        let (base, token, stop, acked) = (sidecar.base.clone(), world.token.clone(), stop.clone(), acked.clone());
        workers.push(tokio::spawn(charge_worker(base, token, worker, stop, acked)));
    }
    for worker in 0..2 {
        let (base, token, stop, acked) = (sidecar.base.clone(), world.token.clone(), stop.clone(), acked.clone());
        workers.push(tokio::spawn(hold_worker(base, token, worker, stop, acked)));
    }
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(700)).await;
        central.kill();
        PHASE.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        central = ChildCentral::start_on(&data_dir, &address, &[]);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    let per_phase = *PER_PHASE.lock().expect("lock");
    assert!(per_phase[1..].iter().sum::<usize>() > 0, "no charge acknowledged after a SIGKILL: {per_phase:?}");

    // Every acknowledged charge settles at central, once, as acknowledged; nothing else does.
    let started = Instant::now();
    let ids = acked.iter().map(|(_, _, c)| c["id"].as_str().unwrap_or_default());
    let settled_all = world.all_settled_within(ids, Duration::from_secs(30)).await;
    let settled = world.central_charges().await;
    assert!(settled_all, "{} acknowledged, {} settled after {:?}", acked.len(), settled.len(), started.elapsed());
    let acked_ids: BTreeSet<&str> = acked.iter().map(|(_, _, c)| c["id"].as_str().expect("id")).collect();
    assert_eq!(acked_ids.len(), acked.len(), "one charge acknowledged under two keys");
    assert_eq!(settled.keys().map(String::as_str).collect::<BTreeSet<_>>(), acked_ids, "settled ≠ acknowledged");
    for (_, _, charge) in &acked {
        let at_central = &settled[charge["id"].as_str().expect("id")];
        assert_eq!(
            (&at_central["amount"], &at_central["invoice_number"], at_central["status"].as_str()),
            (&charge["amount"], &charge["invoice_number"], Some("settled")),
            "{charge} vs {at_central}"
        );
    }
    let mut invoices = BTreeMap::new();
    for charge in settled.values() {
        *invoices.entry(charge["invoice_number"].as_str().unwrap_or_default().to_owned()).or_insert(0) += 1;
    }
    assert!(invoices.values().all(|n| *n == 1), "an invoice settled twice: {invoices:?}");

    // Central's wallet, account and statement agree with what the sidecar acknowledged.
    let total: Decimal = acked.iter().map(|(_, _, c)| money(&c["amount"])).sum();
    let wallet = world.wallet().await;
    assert_eq!(money(&wallet["debt"]), Decimal::ZERO, "overspent: {wallet}");
    let topped_up: Decimal = WALLET.parse().expect("amount");
    assert!(total <= topped_up, "{total} acknowledged from a {topped_up} wallet");
    assert_eq!(
        money(&wallet["available"]) + money(&wallet["leased"]) + money(&wallet["held"]) + total,
        topped_up,
        "{wallet}"
    );
    let accounts = world.central.get("/api/v1/me/accounts", Some(&world.customer_session)).await;
    assert_eq!(money(&accounts.body["items"][0]["paid_total"]), total, "{}", accounts.body);
    let mut statement = BTreeMap::new();
    let mut cursor = String::new();
    loop {
        let page =
            world.central.get(&format!("/api/v1/me/operations?limit=200{cursor}"), Some(&world.customer_session)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for operation in page.body["items"].as_array().expect("items") {
            if operation["kind"] == "charge" {
                let id = operation["charge_id"].as_str().expect("charge id").to_owned();
                assert!(statement.insert(id, money(&operation["amount"]).abs()).is_none(), "on the statement twice");
            }
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(statement.keys().map(String::as_str).collect::<BTreeSet<_>>(), acked_ids, "the statement");
    assert_eq!(statement.values().sum::<Decimal>(), total);

    // The sidecar's outbox is drained, nothing was quarantined, and every key replays its answer.
    let (_, _, metrics) = sidecar.get("/metrics", None).await;
    assert_eq!(metric(&metrics, "protus_sidecar_usage_outbox_depth"), 0, "{metrics}");
    assert_eq!(metric(&metrics, "protus_sidecar_usage_records_rejected_total"), 0, "{metrics}");
    assert_eq!(metric(&metrics, "protus_sidecar_usage_records_acked_total"), acked.len() as i64, "{metrics}");
    for (key, body, charge) in acked.iter().filter(|(key, _, _)| key.starts_with("c-")) {
        let replayed = sidecar.post("/api/v1/billing/charges", Some(&world.token), Some(key), body.clone()).await;
        assert_eq!(replayed.0, 201, "{key}: {}", replayed.1);
        assert_eq!(replayed.1["id"], charge["id"], "{key} replays its charge");
    }
    let (code, report) = verify(&data_dir);
    assert_eq!(code, 0, "{report}");
    eprintln!(
        "{} charges ({total}) acknowledged across {KILLS} SIGKILLs of central, {per_phase:?} per phase; wallet {wallet}",
        acked.len(),
    );
    assert!(sidecar.terminate().success());
    assert!(central.terminate().success());
}
