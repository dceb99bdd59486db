//! Many requests at once through the group-commit writer: every one is decided against the
//! state left by the ones before it, refusals change nothing, and every answer is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use protus::domain::ledger::LedgerError;
use protus::storage::central::billing::{self, BillingError};
use protus::storage::central::records::ChargeRecord;
use protus::storage::central::{accounts, ledger};
use protus::storage::{Store, StoreError};
use protus::vocab::ids::{AccountId, CustomerId};
use protus::vocab::money::Amount;
use protus::vocab::time::Timestamp;
use tokio::sync::Barrier;

use crate::ledger_model::{BASE_MS, World, charge_input, open_store, populate_tx, rub, top_up_tx, violations};

/// One customer with one account at one company, its wallet topped up with `funds`.
async fn funded_world(store: &Store, funds: &str, now: Timestamp) -> World {
    let world = store.write(move |tx| populate_tx(tx, 1, 1, now)).await.expect("setup commits").expect("accepted");
    let (customer, amount) = (world.customers[0].clone(), rub(funds));
    store.write(move |tx| top_up_tx(tx, &customer, amount, now)).await.expect("top-up commits").expect("accepted");
    world
}

/// The wallet's available and spent total, the account's paid total, and verify's findings.
async fn state(store: &Store, customer: &CustomerId, account: &AccountId) -> (Amount, Amount, Amount, Vec<String>) {
    let (customer, account) = (customer.clone(), account.clone());
    store
        .read(move |r| {
            let wallet = ledger::wallet(r, &customer)?;
            let paid = accounts::get(r, &account)?.map(|a| a.paid_total);
            let paid = paid.ok_or_else(|| StoreError::Engine(format!("account {account} lost")))?;
            Ok((wallet.available, wallet.spent_total, paid, violations(r)?))
        })
        .await
        .expect("read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_debits_against_fifty_apply_exactly_fifty() {
    // Proves 200 concurrent 1.00 charges against a 50.00 wallet leave exactly 50 applied and 150 refused, durably.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let now = Timestamp::from_unix_ms(BASE_MS);
    let world = funded_world(&store, "50.00", now).await;
    let (customer, company, account) = (world.customers[0].clone(), world.companies[0].clone(), world.account(0, 0));

    // Every task submits at the same moment, so the writer sees a crowd, not a queue.
    let start = Arc::new(Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (store, start, input) = (store.clone(), start.clone(), charge_input(&company, account, rub("1.00")));
            tokio::spawn(async move {
                start.wait().await;
                store.write(move |tx| billing::charge(tx, input, now)).await
            })
        })
        .collect();
    let mut applied: Vec<ChargeRecord> = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task ran").expect("commit succeeded") {
            Ok(charge) => applied.push(charge),
            Err(refusal) => {
                // The writer runs requests one after another, so every refusal sees the wallet empty.
                let expected = LedgerError::InsufficientFunds { available: Amount::ZERO, needed: rub("1.00") };
                assert_eq!(refusal, BillingError::Funds(expected));
                refused += 1;
            }
        }
    }
    assert_eq!((applied.len(), refused), (50, 150));
    let mut invoices: Vec<_> = applied.iter().map(|c| c.invoice_number.clone()).collect();
    invoices.sort();
    invoices.dedup();
    assert_eq!(invoices.len(), 50, "every applied charge has its own invoice");

    let expected = (Amount::ZERO, rub("50"), rub("50"), Vec::<String>::new());
    assert_eq!(state(&store, &customer, account).await, expected);
    store.close();

    let store = open_store(dir.path());
    assert_eq!(state(&store, &customer, account).await, expected, "after reopening");
    let ids: Vec<_> = applied.iter().map(|c| c.id.clone()).collect();
    let found = store
        .read(move |r| ids.iter().map(|id| billing::get_charge(r, &company, id)).collect::<Result<Vec<_>, _>>())
        .await
        .expect("read");
    assert!(found.iter().all(Option::is_some), "every acknowledged charge is present after reopening");
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_inside_a_group_commit_leave_the_other_requests_applied() {
    // Proves requests refused inside a shared commit change nothing while the others in it are applied and durable.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let now = Timestamp::from_unix_ms(BASE_MS);
    let world = funded_world(&store, "10.00", now).await;
    let (customer, company, account) = (world.customers[0].clone(), world.companies[0].clone(), world.account(0, 0));

    // Hold the writer inside a request until every other request is queued behind it, so the
    // writer drains them all into its next batch.
    let (entered_tx, entered) = tokio::sync::oneshot::channel();
    let (open_gate, gate) = std::sync::mpsc::channel::<()>();
    let gate_task = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write(move |_tx| {
                    let _ = entered_tx.send(());
                    let _ = gate.recv_timeout(Duration::from_secs(30));
                    Ok(())
                })
                .await
        }
    });
    entered.await.expect("the writer runs the gate request");

    // 10 charges of 1.00 that fit, 10 of 100.00 that never fit, 10 on an account that does not
    // exist. Each observes whether an earlier, still uncommitted request of its batch moved money.
    let shared_commit = Arc::new(AtomicUsize::new(0));
    let queued = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let input = match n % 3 {
                0 => charge_input(&company, account, rub("1.00")),
                1 => charge_input(&company, account, rub("100.00")),
                _ => charge_input(&company, &AccountId::generate(), rub("1.00")),
            };
            let (store, reader, customer) = (store.clone(), store.clone(), customer.clone());
            let (shared_commit, queued) = (shared_commit.clone(), queued.clone());
            tokio::spawn(async move {
                queued.fetch_add(1, Ordering::SeqCst);
                let answer = store
                    .write(move |tx| {
                        let in_batch = ledger::wallet_in_tx(tx, &customer)?;
                        let committed = reader.read_blocking(|r| ledger::wallet(r, &customer))?;
                        if in_batch != committed {
                            shared_commit.fetch_add(1, Ordering::SeqCst);
                        }
                        billing::charge(tx, input, now)
                    })
                    .await
                    .expect("commit succeeded");
                // Nothing is answered before its commit: an applied charge is already readable.
                if let Ok(charge) = &answer {
                    let (company, id) = (charge.company_id.clone(), charge.id.clone());
                    let stored = store.read(move |r| billing::get_charge(r, &company, &id)).await.expect("read");
                    assert!(stored.is_some(), "charge {} answered before it was committed", charge.id);
                }
                answer
            })
        })
        .collect();
    while queued.load(Ordering::SeqCst) < tasks.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // `queued` counts just before each submission; give the last ones time to land in the queue.
    tokio::time::sleep(Duration::from_millis(200)).await;
    open_gate.send(()).expect("the gate request is waiting");
    gate_task.await.expect("task ran").expect("gate commits");

    let (mut applied, mut insufficient, mut unknown) = (0, 0, 0);
    for task in tasks {
        match task.await.expect("task ran") {
            Ok(charge) => {
                assert_eq!(charge.amount, rub("1.00"));
                applied += 1;
            }
            Err(BillingError::Funds(LedgerError::InsufficientFunds { needed, .. })) if needed == rub("100.00") => {
                insufficient += 1;
            }
            Err(BillingError::AccountNotFound) => unknown += 1,
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    assert_eq!((applied, insufficient, unknown), (10, 10, 10));
    assert!(shared_commit.load(Ordering::SeqCst) > 0, "the requests were not grouped into one commit");

    let expected = (Amount::ZERO, rub("10"), rub("10"), Vec::<String>::new());
    assert_eq!(state(&store, &customer, account).await, expected);
    store.close();
    let store = open_store(dir.path());
    assert_eq!(state(&store, &customer, account).await, expected, "after reopening");
    store.close();
}
