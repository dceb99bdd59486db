//! Ledger commit throughput on a real file with real fsync: one transaction per operation versus
//! the group-commit writer fed by 64 concurrent submitters, for a full charge and for its ledger
//! posting alone (STYLE.md: performance is measured here, never asserted by a timed test).
//! Results and the machine they came from: BENCHMARKS.md.

#![allow(non_upper_case_globals)] // STYLE.md: bounds read as names, units last

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use protus::domain::ledger::plan_charge;
use protus::storage::central::billing::{self, ChargeInput};
use protus::storage::central::ledger;
use protus::storage::central::open::open_central;
use protus::storage::central::records::{CompanyRecord, CustomerRecord, TopUpRecord, TopUpStatus};
use protus::storage::central::{accounts, companies, customers, top_ups};
use protus::storage::{Store, StoreOptions};
use protus::vocab::ids::{AccountId, ChargeId, CompanyId, CustomerId, TopUpId};
use protus::vocab::money::{Amount, Currency};
use protus::vocab::names::{DisplayName, Email, Username};
use protus::vocab::secret::Secret;
use protus::vocab::time::{Clock, SystemClock, Timestamp};

/// Threads submitting charges at once in the concurrent benchmarks.
const submitters_len: usize = 64;
/// Charges each of the 64 submitters makes per measured iteration: 64 × 8 = 512 charges take
/// 0.5–1 s on the one-per-transaction path of the machine in BENCHMARKS.md.
const operations_per_submitter_len: usize = 8;
/// Charges in one measured iteration, the same for every benchmark so iterations compare.
const charges_per_iteration_len: usize = submitters_len * operations_per_submitter_len;
/// Each wallet is topped up with this much once, far more than the bench can spend at 0.01.
const wallet_funding_units: &str = "1000000";
/// Synced 4 KiB writes timed before and after the benchmarks, to show the disk's state.
const sync_probe_rounds: usize = 200;
/// What each measured charge takes from a wallet.
const charge_units: &str = "0.01";

/// A store with one company and funded accounts, ready to be charged.
struct Ledger {
    store: Store,
    company: CompanyId,
    accounts: Vec<Funded>,
    charge: Amount,
    /// Keeps the data dir alive as long as the store; removed on drop.
    _dir: tempfile::TempDir,
}

/// Opens central's store in a fresh temp dir and sets up `accounts_len` funded accounts.
fn ledger(options: &StoreOptions, accounts_len: usize) -> Ledger {
    let dir = tempfile::tempdir().expect("the temp dir is writable");
    let store = open_central(dir.path(), options).expect("a fresh data dir opens");
    let currency = Currency::parse("RUB").expect("RUB is a known currency");
    let funding = Amount::parse_request(wallet_funding_units, currency).expect("the funding is a valid amount");
    let charge = Amount::parse_request(charge_units, currency).expect("the charge is a valid amount");
    let clock = SystemClock;
    let company = company_record(clock.now());
    let company_id = company.id.clone();
    store
        .write_blocking(move |tx| companies::register(tx, company))
        .expect("setup commit")
        .expect("a fresh store has no company of that name");
    let accounts = (0..accounts_len).map(|i| funded_account(&store, &company_id, i, funding, clock.now())).collect();
    Ledger { store, company: company_id, accounts, charge, _dir: dir }
}

fn company_record(now: Timestamp) -> CompanyRecord {
    CompanyRecord {
        id: CompanyId::generate(),
        name: DisplayName::parse_company("Bench Company").expect("a valid company name"),
        email: Email::parse("billing@bench.example.com").expect("a valid email"),
        password_hash: "not-a-hash: the bench never signs in".to_owned(),
        client_secret: Secret::generate("cs_").digest(),
        client_secret_previous: Vec::new(),
        webhook_secret: Secret::generate_webhook().expose().to_owned(),
        webhook_secret_previous: Vec::new(),
        webhook_url: None,
        redirect_uris: Vec::new(),
        created_at: now,
    }
}

/// A funded customer and their account with the bench company.
#[derive(Debug, Clone)]
struct Funded {
    account: AccountId,
    customer: CustomerId,
}

/// Registers customer `i`, opens its account with the company and completes one top-up.
fn funded_account(store: &Store, company: &CompanyId, i: usize, funding: Amount, now: Timestamp) -> Funded {
    let customer = CustomerRecord {
        id: CustomerId::generate(),
        email: Email::parse(&format!("customer-{i}@bench.example.com")).expect("a valid email"),
        username: Username::parse(&format!("customer-{i}")).expect("a valid username"),
        password_hash: None,
        created_at: now,
    };
    let top_up = TopUpRecord {
        id: TopUpId::generate(),
        customer_id: customer.id.clone(),
        amount: funding,
        status: TopUpStatus::Pending,
        provider: "test".to_owned(),
        created_at: now,
        completed_at: None,
    };
    let company = company.clone();
    store
        .write_blocking(move |tx| {
            let customer = match customers::register(tx, customer)? {
                Ok(customer) => customer,
                Err(refusal) => return Ok(Err(refusal.to_string())),
            };
            let (account, _) = accounts::ensure(tx, &company, &customer.id, now)?;
            top_ups::create(tx, &top_up)?;
            if let Err(refusal) = top_ups::complete(tx, &top_up.id, "test", funding, true, now)? {
                return Ok(Err(refusal.to_string()));
            }
            Ok(Ok(Funded { account: account.id, customer: customer.id }))
        })
        .expect("setup commit")
        .expect("a fresh store accepts the customer and the top-up")
}

/// What one measured operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// A direct charge through billing: the double-entry transfer, the charge record, its two
    /// indexes, the account's paid total and the customer's statement line.
    Charge,
    /// The ledger's part of that charge alone: the double-entry transfer from the customer's
    /// wallet to the company's revenue, its transfer log entry and the pre-commit wallet check.
    Posting,
}

/// One ledger operation, returning after its commit is durable.
fn operate_once(ledger: &Ledger, operation: Operation, funded: &Funded, clock: &SystemClock) {
    let now = clock.now();
    match operation {
        Operation::Charge => {
            let input = charge_input(ledger, &funded.account);
            let charged = ledger.store.write_blocking(move |tx| billing::charge(tx, input, now));
            std::hint::black_box(charged.expect("the commit succeeds").expect("the wallet is funded for every charge"));
        }
        Operation::Posting => {
            let (customer, company, amount) = (funded.customer.clone(), ledger.company.clone(), ledger.charge);
            let posted = ledger.store.write_blocking(move |tx| {
                let wallet = ledger::wallet_in_tx(tx, &customer)?;
                let plan = plan_charge(&wallet, &customer, &company, amount)
                    .expect("the wallet is funded for every posting the bench makes");
                ledger::post(tx, &plan, now, "bench posting")
            });
            posted.expect("the commit succeeds");
        }
    }
}

fn charge_input(ledger: &Ledger, account: &AccountId) -> ChargeInput {
    ChargeInput {
        company_id: ledger.company.clone(),
        account_id: account.clone(),
        amount: ledger.charge,
        service_id: None,
        service_name: None,
        description: None,
        payload: None,
        idempotency_key: None,
    }
}

/// `threads` submitters each make `charges_each` charges on their own account, all starting
/// together; returns the time from the common start until the last one's last commit.
fn burst(ledger: &Ledger, operation: Operation, threads: usize, charges_each: usize) -> Duration {
    let start_line = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for funded in ledger.accounts.iter().cycle().take(threads) {
            let start_line = &start_line;
            scope.spawn(move || {
                let clock = SystemClock;
                start_line.wait();
                for _ in 0..charges_each {
                    operate_once(ledger, operation, funded, &clock);
                }
            });
        }
        start_line.wait();
        let started = Instant::now();
        // Leaving the scope joins every submitter.
        started
    })
    .elapsed()
}

/// Operations and wall time seen by one benchmark across all its iterations (warm-up included).
#[derive(Debug, Default)]
struct Tally {
    operations: u64,
    elapsed: Duration,
}

impl Tally {
    fn operations_per_s(&self) -> u128 {
        u128::from(self.operations) * 1_000_000_000 / self.elapsed.as_nanos().max(1)
    }
}

/// Runs `iters` bursts and adds them to `tally`; criterion is given the total time.
fn bursts(
    ledger: &Ledger,
    operation: Operation,
    threads: usize,
    charges_each: usize,
    iters: u64,
    tally: &mut Tally,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += burst(ledger, operation, threads, charges_each);
    }
    tally.operations += iters * (threads * charges_each) as u64;
    tally.elapsed += total;
    total
}

/// What the writer did with the charges of one instrumented burst, in the order it ran them.
#[derive(Debug, Default)]
struct WriterLog {
    /// Per charge: whether it was the first of its commit, and when its `billing::charge` ran.
    charges: Vec<(bool, Instant, Instant)>,
    /// The charge the writer ran last.
    last: Option<ChargeId>,
    /// Bytes this process handed to `write` calls and bytes it sent to the disk during the
    /// burst (`wchar`, `write_bytes` of /proc/self/io), where Linux tells.
    written: Option<(u64, u64)>,
}

/// `wchar` and `write_bytes` of /proc/self/io: what this process wrote so far.
fn bytes_written() -> Option<(u64, u64)> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    let field = |name: &str| {
        io.lines().find_map(|line| line.strip_prefix(name)).and_then(|value| value.trim().parse::<u64>().ok())
    };
    Some((field("wchar:")?, field("write_bytes:")?))
}

/// One burst where every charge, run on the writer thread, first asks a fresh read transaction
/// whether the charge run just before it is already committed: if so a commit happened between
/// them and this charge opens a new batch. Exact, but it adds a read per charge, so it is kept
/// out of the timed runs.
fn observe_writer(ledger: &Ledger, threads: usize, charges_each: usize) -> WriterLog {
    let log = Arc::new(Mutex::new(WriterLog::default()));
    let written_before = bytes_written();
    std::thread::scope(|scope| {
        for funded in ledger.accounts.iter().cycle().take(threads) {
            let (log, account) = (log.clone(), &funded.account);
            scope.spawn(move || {
                let clock = SystemClock;
                for _ in 0..charges_each {
                    let input = charge_input(ledger, account);
                    let (log, reader, company) = (log.clone(), ledger.store.clone(), ledger.company.clone());
                    let now = clock.now();
                    ledger
                        .store
                        .write_blocking(move |tx| {
                            let mut log = log.lock().expect("only the writer thread takes this lock");
                            let first = match &log.last {
                                None => true,
                                Some(previous) => {
                                    reader.read_blocking(|r| billing::get_charge(r, &company, previous))?.is_some()
                                }
                            };
                            let started = Instant::now();
                            let charged = billing::charge(tx, input, now)?;
                            let ended = Instant::now();
                            if let Ok(charge) = &charged {
                                log.last = Some(charge.id.clone());
                            }
                            log.charges.push((first, started, ended));
                            Ok(charged)
                        })
                        .expect("the commit succeeds")
                        .expect("the wallet is funded for every charge the bench makes");
                }
            });
        }
    });
    let mut log = std::mem::take(&mut *log.lock().expect("every submitter has finished"));
    log.written =
        written_before.zip(bytes_written()).map(|((w0, d0), (w1, d1))| (w1.saturating_sub(w0), d1.saturating_sub(d0)));
    log
}

/// Batch sizes, and where the writer's time went: running charges, and between batches
/// (pre-commit check, durable commit, answering, waiting for the next request).
fn describe_writer(name: &str, log: &WriterLog) {
    let mut sizes: Vec<usize> = Vec::new();
    let (mut charging, mut between_batches) = (Duration::ZERO, Duration::ZERO);
    let mut previous_end: Option<Instant> = None;
    for &(first, started, ended) in &log.charges {
        match sizes.last_mut() {
            Some(size) if !first => *size += 1,
            _ => sizes.push(1),
        }
        charging += ended - started;
        if let (true, Some(previous_end)) = (first, previous_end) {
            between_batches += started - previous_end;
        }
        previous_end = Some(ended);
    }
    let charges = log.charges.len();
    sizes.sort_unstable();
    let median = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
    let max = sizes.last().copied().unwrap_or(0);
    let gaps = u32::try_from(sizes.len().saturating_sub(1).max(1)).expect("a burst has few commits");
    eprintln!(
        "{name}: {charges} charges in {} commits (batch mean {}, median {median}, max {max}); \
         billing::charge {:.1?} each on the writer; between batches {:.2?} on average",
        sizes.len(),
        ratio(charges as u128, sizes.len() as u128),
        charging / u32::try_from(charges.max(1)).expect("a burst has few charges"),
        between_batches / gaps,
    );
    if let Some((handed, to_disk)) = log.written {
        let (commits, charges) = (sizes.len().max(1) as u64, charges.max(1) as u64);
        eprintln!(
            "{name}: written per commit {} KiB handed to write(), {} KiB to disk; per charge {} KiB, {} KiB",
            handed / commits / 1024,
            to_disk / commits / 1024,
            handed / charges / 1024,
            to_disk / charges / 1024,
        );
    }
}

/// `numerator / denominator` with two decimals, in integers (no floats near this crate's lints).
fn ratio(numerator: u128, denominator: u128) -> String {
    let x100 = numerator * 100 / denominator.max(1);
    format!("{}.{:02}", x100 / 100, x100 % 100)
}

/// The ways to commit, as (benchmark name, operation, batch_len_max, submitters, operations each).
fn configurations() -> [(&'static str, Operation, usize, usize, usize); 5] {
    let group_commit = StoreOptions::default().batch_len_max;
    [
        ("one_per_transaction", Operation::Charge, 1, submitters_len, operations_per_submitter_len),
        ("group_commit_64_submitters", Operation::Charge, group_commit, submitters_len, operations_per_submitter_len),
        ("group_commit_1_submitter", Operation::Charge, group_commit, 1, charges_per_iteration_len),
        ("posting_one_per_transaction", Operation::Posting, 1, submitters_len, operations_per_submitter_len),
        (
            "posting_group_commit_64_submitters",
            Operation::Posting,
            group_commit,
            submitters_len,
            operations_per_submitter_len,
        ),
    ]
}

fn ledger_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger_commit");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(charges_per_iteration_len as u64));
    let sync_before = probe_sync(sync_probe_rounds);
    let mut results = Vec::new();
    for (name, operation, batch_len_max, threads, charges_each) in configurations() {
        let ledger = ledger(&StoreOptions { batch_len_max, ..StoreOptions::default() }, threads);
        let mut tally = Tally::default();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| bursts(&ledger, operation, threads, charges_each, iters, &mut tally));
        });
        // A benchmark left out by a filter (`cargo bench --bench storage -- one_per`) ran nothing.
        if tally.operations > 0 {
            let log = match operation {
                Operation::Charge => observe_writer(&ledger, threads, charges_each),
                Operation::Posting => WriterLog::default(),
            };
            results.push((name, tally, log));
        }
        close(ledger);
    }
    group.finish();
    report(&results, sync_before);
}

fn close(ledger: Ledger) {
    let Ledger { store, _dir: dir, .. } = ledger;
    store.close();
    drop(dir);
}

/// Median time of one 4 KiB write + `fdatasync` at the end of a file in the temp dir, over
/// `rounds`: what one durable commit costs this disk at the least, measured in the same run,
/// since the one-per-transaction path (and so the ratio) moves with it.
fn probe_sync(rounds: usize) -> Duration {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("the temp dir is writable");
    let mut file = std::fs::File::create(dir.path().join("probe")).expect("a probe file");
    let page = [7u8; 4096];
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            file.write_all(&page).expect("the probe write");
            file.sync_data().expect("the probe fdatasync");
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

fn report(results: &[(&str, Tally, WriterLog)], sync_before: Duration) {
    eprintln!("\nledger_commit, same run ({} charges per iteration):", charges_per_iteration_len);
    eprintln!(
        "disk: one 4 KiB write + fdatasync, median of {sync_probe_rounds}: {sync_before:.2?} before the benchmarks, {:.2?} after",
        probe_sync(sync_probe_rounds)
    );
    for (name, tally, log) in results {
        eprintln!(
            "{name}: {} operations/s ({} operations in {:.3?}, warm-up included)",
            tally.operations_per_s(),
            tally.operations,
            tally.elapsed
        );
        if !log.charges.is_empty() {
            describe_writer(name, log);
        }
    }
    let rate = |wanted: &str| {
        results.iter().find(|(name, ..)| *name == wanted).map_or(0, |(_, tally, _)| tally.operations_per_s())
    };
    for (fast, slow, note) in [
        ("group_commit_64_submitters", "one_per_transaction", " (issue #2 asks for >= 10x)"),
        ("group_commit_1_submitter", "one_per_transaction", ""),
        ("posting_group_commit_64_submitters", "posting_one_per_transaction", ""),
    ] {
        let (fast_rate, slow_rate) = (rate(fast), rate(slow));
        if fast_rate > 0 && slow_rate > 0 {
            eprintln!("{fast} / {slow} = {}x{note}", ratio(fast_rate, slow_rate));
        }
    }
}

criterion_group!(benches, ledger_commit);
criterion_main!(benches);
