//! The ledger against a plain in-memory model: random sequences of top-ups, holds, releases,
//! captures and charges over 2 customers × 2 companies go to the real store and to the model,
//! and the two are compared after every step, across reopening the database too.
//!
//! The store helpers at the top (`World`, `top_up_tx`, …) are shared with `concurrency.rs`.

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::Index;
use protus::domain::ledger::{LedgerError, WalletBalances};
use protus::storage::central::billing::{self, BillingError, ChargeInput, HoldInput};
use protus::storage::central::open::open_central;
use protus::storage::central::records::{
    CompanyRecord, CustomerRecord, HoldRecord, HoldStatus, OperationKind, TopUpRecord, TopUpStatus,
};
use protus::storage::central::top_ups::CompleteError;
use protus::storage::central::{TxResult, accounts, companies, customers, ledger, top_ups, verify};
use protus::storage::{Reader, Store, StoreError, StoreOptions, Tx};
use protus::vocab::ids::{AccountId, CompanyId, CustomerId, HoldId, TopUpId};
use protus::vocab::money::{Amount, Currency};
use protus::vocab::names::{DisplayName, Email, Username};
use protus::vocab::secret::Secret;
use protus::vocab::time::Timestamp;

// ---------------------------------------------------------------------------------------------
// Store helpers (shared with `concurrency.rs`)
// ---------------------------------------------------------------------------------------------

/// A fixed start for the test clock: operations take `now` as a parameter.
pub(crate) const BASE_MS: i64 = 1_700_000_000_000;

/// A request amount in roubles, e.g. `rub("10.50")`.
pub(crate) fn rub(text: &str) -> Amount {
    Amount::parse_request(text, Currency::parse("RUB").expect("RUB is a known currency")).expect("a valid test amount")
}

pub(crate) fn open_store(dir: &Path) -> Store {
    open_central(dir, &StoreOptions::default()).expect("central's store opens")
}

/// Customers, companies and the account of every (customer, company) pair.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub(crate) customers: Vec<CustomerId>,
    pub(crate) companies: Vec<CompanyId>,
    /// Indexed by `customer * companies.len() + company`.
    pub(crate) accounts: Vec<AccountId>,
}

impl World {
    pub(crate) fn account(&self, customer: usize, company: usize) -> &AccountId {
        &self.accounts[customer * self.companies.len() + company]
    }
}

/// Registers `customers` customers and `companies` companies and opens every account, in one
/// transaction.
pub(crate) fn populate_tx(
    tx: &mut Tx<'_>,
    customers: usize,
    companies: usize,
    now: Timestamp,
) -> TxResult<World, String> {
    let mut world = World { customers: Vec::new(), companies: Vec::new(), accounts: Vec::new() };
    for n in 0..customers {
        let record = CustomerRecord {
            id: CustomerId::generate(),
            email: Email::parse(&format!("customer{n}@example.com")).expect("valid email"),
            username: Username::parse(&format!("customer{n}")).expect("valid username"),
            password_hash: None,
            created_at: now,
        };
        match customers::register(tx, record)? {
            Ok(customer) => world.customers.push(customer.id),
            Err(refusal) => return Ok(Err(refusal.to_string())),
        }
    }
    for n in 0..companies {
        let record = CompanyRecord {
            id: CompanyId::generate(),
            name: DisplayName::parse_company(&format!("Company {n}")).expect("valid name"),
            email: Email::parse(&format!("company{n}@example.com")).expect("valid email"),
            password_hash: "not a real hash".into(),
            client_secret: Secret::generate("cs_").digest(),
            client_secret_previous: Vec::new(),
            webhook_secret: Secret::generate_webhook().expose().to_owned(),
            webhook_secret_previous: Vec::new(),
            webhook_url: None,
            redirect_uris: Vec::new(),
            created_at: now,
        };
        match companies::register(tx, record)? {
            Ok(company) => world.companies.push(company.id),
            Err(refusal) => return Ok(Err(refusal.to_string())),
        }
    }
    for customer in &world.customers {
        for company in &world.companies {
            let (account, created) = accounts::ensure(tx, company, customer, now)?;
            if !created {
                return Ok(Err(format!("account {} existed before it was created", account.id)));
            }
            world.accounts.push(account.id);
        }
    }
    Ok(Ok(world))
}

/// Creates a top-up through the `test` provider and completes it, as its callback would.
pub(crate) fn top_up_tx(
    tx: &mut Tx<'_>,
    customer: &CustomerId,
    amount: Amount,
    now: Timestamp,
) -> TxResult<TopUpRecord, CompleteError> {
    let record = TopUpRecord {
        id: TopUpId::generate(),
        customer_id: customer.clone(),
        amount,
        status: TopUpStatus::Pending,
        provider: "test".into(),
        created_at: now,
        completed_at: None,
    };
    top_ups::create(tx, &record)?;
    top_ups::complete(tx, &record.id, "test", amount, true, now)
}

/// A charge of `amount` booked by `company` on `account`, with nothing else attached.
pub(crate) fn charge_input(company: &CompanyId, account: &AccountId, amount: Amount) -> ChargeInput {
    ChargeInput {
        company_id: company.clone(),
        account_id: account.clone(),
        amount,
        service_id: None,
        service_name: None,
        description: None,
        payload: None,
        idempotency_key: None,
    }
}

/// Every violation `verify` finds in the whole database.
pub(crate) fn violations(reader: &Reader) -> Result<Vec<String>, StoreError> {
    verify::verify(reader).map(|report| report.violations)
}

// ---------------------------------------------------------------------------------------------
// Operations and the model
// ---------------------------------------------------------------------------------------------

/// An amount as a test writes it: whole cents for the model, a request text for the store.
#[derive(Debug, Clone)]
struct Money {
    cents: i64,
    text: String,
}

impl Money {
    /// `trimmed` writes `7.50` as `7.5` and `7.00` as `7`, both valid request amounts.
    fn new(cents: i64, trimmed: bool) -> Self {
        let full = format!("{}.{:02}", cents / 100, cents % 100);
        let text = if trimmed { full.trim_end_matches('0').trim_end_matches('.').to_owned() } else { full };
        Money { cents, text }
    }
}

#[derive(Debug, Clone)]
enum Op {
    TopUp {
        customer: usize,
        amount: Money,
    },
    /// `as_other_company`: the company that does not own the account asks.
    Hold {
        account: usize,
        amount: Ask,
        capturable: bool,
        ttl_s: i64,
        as_other_company: bool,
    },
    Release {
        hold: HoldPick,
        as_other_company: bool,
    },
    Capture {
        hold: HoldPick,
        amount: CaptureAmount,
        as_other_company: bool,
    },
    Charge {
        account: usize,
        amount: Ask,
        as_other_company: bool,
    },
    /// Moves the clock, so holds can expire.
    Wait {
        seconds: i64,
    },
    /// Moves the clock so the next operation runs `offset_s` from the picked hold's expiry
    /// (never backwards), to probe the boundary.
    WaitForExpiry {
        hold: HoldPick,
        offset_s: i64,
    },
    /// Closes the store and opens it again from the same directory.
    Reopen,
}

/// How much a hold or charge asks for: mostly a given amount, sometimes exactly the wallet's
/// `available` or one cent more, to probe the boundary.
#[derive(Debug, Clone)]
enum Ask {
    Exactly(Money),
    All,
    AllAndACent,
}

impl Ask {
    /// The amount asked of a wallet with `available` cents (a whole unit when it is empty).
    fn of(&self, available: i64) -> Money {
        match self {
            Ask::Exactly(money) => money.clone(),
            Ask::All if available > 0 => Money::new(available, true),
            Ask::All => Money::new(100, false),
            Ask::AllAndACent => Money::new(available + 1, false),
        }
    }
}

/// Which of the holds accepted so far a release or capture names; with none, an unknown id.
#[derive(Debug, Clone)]
enum HoldPick {
    /// The newest, most likely still open.
    Latest,
    Any(Index),
}

impl HoldPick {
    /// The position picked among `count` holds.
    fn position(&self, count: usize) -> Option<usize> {
        match self {
            _ if count == 0 => None,
            HoldPick::Latest => Some(count - 1),
            HoldPick::Any(index) => Some(index.index(count)),
        }
    }
}

/// How much of a hold a capture asks for, so that valid captures are common.
#[derive(Debug, Clone)]
enum CaptureAmount {
    Whole,
    /// Half the hold, rounded down to the cent (at least one cent).
    Half,
    Exactly(Money),
}

impl CaptureAmount {
    /// The amount asked of a hold of `held` cents (`None`: no such hold).
    fn of(&self, held: Option<i64>) -> Money {
        match (self, held) {
            (CaptureAmount::Exactly(money), _) => money.clone(),
            (CaptureAmount::Whole, Some(held)) => Money::new(held, true),
            (CaptureAmount::Half, Some(held)) => Money::new((held / 2).max(1), false),
            (_, None) => Money::new(100, false),
        }
    }
}

const CUSTOMERS: usize = 2;
const COMPANIES: usize = 2;
const ACCOUNTS: usize = CUSTOMERS * COMPANIES;

fn customer_of(account: usize) -> usize {
    account / COMPANIES
}

fn company_of(account: usize) -> usize {
    account % COMPANIES
}

/// The company that asks about `account`: its own, or the other one.
fn asking_company(account: usize, as_other_company: bool) -> usize {
    let own = company_of(account);
    if as_other_company { (own + 1) % COMPANIES } else { own }
}

/// How an operation ended; the store's answer and the model's decision must be equal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Accepted,
    InsufficientFunds { available: Amount, needed: Amount },
    AccountNotFound,
    HoldNotFound,
    HoldNotOpen(HoldStatus),
    HoldExpired,
    NotCapturable,
    CaptureExceedsHold,
}

impl From<BillingError> for Outcome {
    fn from(refusal: BillingError) -> Self {
        match refusal {
            BillingError::Funds(LedgerError::InsufficientFunds { available, needed }) => {
                Outcome::InsufficientFunds { available, needed }
            }
            BillingError::AccountNotFound => Outcome::AccountNotFound,
            BillingError::HoldNotFound => Outcome::HoldNotFound,
            BillingError::HoldNotOpen(status) => Outcome::HoldNotOpen(status),
            BillingError::HoldExpired => Outcome::HoldExpired,
            BillingError::NotCapturable => Outcome::NotCapturable,
            BillingError::CaptureExceedsHold => Outcome::CaptureExceedsHold,
            // The model drives only the ledger operations; caps and services are checked by
            // the billing routes around them and never reached here.
            other @ (BillingError::SpendingCapExceeded { .. }
            | BillingError::ServiceNotFound
            | BillingError::ServiceInactive) => {
                panic!("the ledger model never asks for {other:?}")
            }
        }
    }
}

/// A store amount as whole cents; fails on anything finer than a cent.
fn cents_of(amount: Amount) -> Result<i64, TestCaseError> {
    let text = amount.to_stored();
    let (units, fraction) = text.split_once('.').unwrap_or((&text, ""));
    prop_assert!(fraction.len() <= 2, "{} has more than two decimals", text);
    format!("{units}{fraction:0<2}").parse().map_err(|e| TestCaseError::fail(format!("{text} is not in cents: {e}")))
}

/// Whole cents as a stored amount (zero included).
fn amount_of(cents: i64) -> Amount {
    assert!(cents >= 0, "the model drove a balance negative: {cents}");
    Amount::parse_stored(&format!("{}.{:02}", cents / 100, cents % 100)).expect("cents format as an amount")
}

#[derive(Debug, Clone, Default)]
struct ModelWallet {
    available: i64,
    held: i64,
    topped_up: i64,
    spent: i64,
}

#[derive(Debug, Clone)]
struct ModelHold {
    account: usize,
    amount: i64,
    captured: i64,
    capturable: bool,
    status: HoldStatus,
    expires_at_ms: i64,
}

/// What a hold looks like from outside, in both the store and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HoldView {
    status: HoldStatus,
    amount: Amount,
    captured: Amount,
    capturable: bool,
}

impl From<&HoldRecord> for HoldView {
    fn from(hold: &HoldRecord) -> Self {
        HoldView { status: hold.status, amount: hold.amount, captured: hold.captured, capturable: hold.capturable }
    }
}

/// Everything compared after each step.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    wallets: Vec<WalletBalances>,
    paid_totals: Vec<Amount>,
    holds: Vec<HoldView>,
}

/// The ledger's rules restated on plain integer cents, sharing no logic with `src/`.
#[derive(Debug, Clone)]
struct Model {
    wallets: Vec<ModelWallet>,
    paid: Vec<i64>,
    holds: Vec<ModelHold>,
}

impl Model {
    fn new() -> Self {
        Model { wallets: vec![ModelWallet::default(); CUSTOMERS], paid: vec![0; ACCOUNTS], holds: Vec::new() }
    }

    fn insufficient(available: i64, needed: i64) -> Outcome {
        Outcome::InsufficientFunds { available: amount_of(available), needed: amount_of(needed) }
    }

    /// The open hold `pick` names. Refusals in the order found, open, unexpired, then (for
    /// captures) capturable, covering.
    fn open_hold(&self, pick: &HoldPick, as_other_company: bool, now_ms: i64) -> Result<usize, Outcome> {
        let Some(at) = pick.position(self.holds.len()).filter(|_| !as_other_company) else {
            return Err(Outcome::HoldNotFound);
        };
        let hold = &self.holds[at];
        if hold.status != HoldStatus::Held {
            return Err(Outcome::HoldNotOpen(hold.status));
        }
        if now_ms >= hold.expires_at_ms {
            return Err(Outcome::HoldExpired);
        }
        Ok(at)
    }

    fn apply(&mut self, op: &Op, now_ms: i64) -> Outcome {
        match op {
            Op::TopUp { customer, amount } => {
                let wallet = &mut self.wallets[*customer];
                wallet.available += amount.cents;
                wallet.topped_up += amount.cents;
                Outcome::Accepted
            }
            Op::Hold { account, amount, capturable, ttl_s, as_other_company } => {
                if *as_other_company {
                    return Outcome::AccountNotFound;
                }
                let wallet = &mut self.wallets[customer_of(*account)];
                let amount = amount.of(wallet.available);
                if wallet.available < amount.cents {
                    return Self::insufficient(wallet.available, amount.cents);
                }
                wallet.available -= amount.cents;
                wallet.held += amount.cents;
                self.holds.push(ModelHold {
                    account: *account,
                    amount: amount.cents,
                    captured: 0,
                    capturable: *capturable,
                    status: HoldStatus::Held,
                    expires_at_ms: now_ms + ttl_s * 1000,
                });
                Outcome::Accepted
            }
            Op::Release { hold, as_other_company } => {
                let at = match self.open_hold(hold, *as_other_company, now_ms) {
                    Ok(at) => at,
                    Err(refusal) => return refusal,
                };
                let hold = &mut self.holds[at];
                hold.status = HoldStatus::Released;
                let wallet = &mut self.wallets[customer_of(hold.account)];
                wallet.held -= hold.amount;
                wallet.available += hold.amount;
                Outcome::Accepted
            }
            Op::Capture { hold, amount, as_other_company } => {
                let at = match self.open_hold(hold, *as_other_company, now_ms) {
                    Ok(at) => at,
                    Err(refusal) => return refusal,
                };
                let hold = &mut self.holds[at];
                let amount = amount.of(Some(hold.amount));
                if !hold.capturable {
                    return Outcome::NotCapturable;
                }
                if amount.cents > hold.amount {
                    return Outcome::CaptureExceedsHold;
                }
                hold.status = HoldStatus::Captured;
                hold.captured = amount.cents;
                let wallet = &mut self.wallets[customer_of(hold.account)];
                wallet.held -= hold.amount;
                wallet.available += hold.amount - amount.cents;
                wallet.spent += amount.cents;
                self.paid[hold.account] += amount.cents;
                Outcome::Accepted
            }
            Op::Charge { account, amount, as_other_company } => {
                if *as_other_company {
                    return Outcome::AccountNotFound;
                }
                let wallet = &mut self.wallets[customer_of(*account)];
                let amount = amount.of(wallet.available);
                if wallet.available < amount.cents {
                    return Self::insufficient(wallet.available, amount.cents);
                }
                wallet.available -= amount.cents;
                wallet.spent += amount.cents;
                self.paid[*account] += amount.cents;
                Outcome::Accepted
            }
            Op::Wait { .. } | Op::WaitForExpiry { .. } | Op::Reopen => Outcome::Accepted,
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            wallets: self
                .wallets
                .iter()
                .map(|w| WalletBalances {
                    available: amount_of(w.available),
                    held: amount_of(w.held),
                    leased: Amount::ZERO,
                    debt: Amount::ZERO,
                    topped_up_total: amount_of(w.topped_up),
                    spent_total: amount_of(w.spent),
                })
                .collect(),
            paid_totals: self.paid.iter().map(|&cents| amount_of(cents)).collect(),
            holds: self
                .holds
                .iter()
                .map(|h| HoldView {
                    status: h.status,
                    amount: amount_of(h.amount),
                    captured: amount_of(h.captured),
                    capturable: h.capturable,
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the real store
// ---------------------------------------------------------------------------------------------

/// A hold the store accepted, as the store answered it.
#[derive(Debug, Clone)]
struct AcceptedHold {
    id: HoldId,
    account: usize,
    cents: i64,
    expires_at: Timestamp,
}

/// The store's side of the test: the world and the holds the store accepted.
#[derive(Debug)]
struct Driver {
    world: World,
    holds: Vec<AcceptedHold>,
}

fn storage_failure(error: StoreError) -> TestCaseError {
    TestCaseError::fail(format!("storage failed: {error}"))
}

/// The wallet's committed `available`, in cents.
fn available_cents(store: &Store, customer: &CustomerId) -> Result<i64, TestCaseError> {
    cents_of(store.read_blocking(|r| ledger::wallet(r, customer)).map_err(storage_failure)?.available)
}

impl Driver {
    /// The hold `pick` names, or an unknown id when there is none yet.
    fn target(&self, pick: &HoldPick) -> (HoldId, usize, Option<i64>) {
        match pick.position(self.holds.len()) {
            Some(at) => (self.holds[at].id.clone(), self.holds[at].account, Some(self.holds[at].cents)),
            None => (HoldId::generate(), 0, None),
        }
    }

    /// Runs one money operation through the writer and reports how it ended.
    fn apply(&mut self, store: &Store, op: &Op, now: Timestamp) -> Result<Outcome, TestCaseError> {
        let world = &self.world;
        let outcome = match op {
            Op::TopUp { customer, amount } => {
                let (customer, amount) = (world.customers[*customer].clone(), rub(&amount.text));
                let top_up = store
                    .write_blocking(move |tx| top_up_tx(tx, &customer, amount, now))
                    .map_err(storage_failure)?
                    .map_err(|refusal| TestCaseError::fail(format!("top-up refused: {refusal}")))?;
                prop_assert_eq!(top_up.status, TopUpStatus::Succeeded);
                Outcome::Accepted
            }
            Op::Hold { account, amount, capturable, ttl_s, as_other_company } => {
                let company = world.companies[asking_company(*account, *as_other_company)].clone();
                let account_id = world.accounts[*account].clone();
                let amount = amount.of(available_cents(store, &world.customers[customer_of(*account)])?);
                let (amount, capturable, expires_at) = (rub(&amount.text), *capturable, now.plus_s(*ttl_s));
                let answer = store
                    .write_blocking(move |tx| {
                        billing::hold(
                            tx,
                            HoldInput {
                                company_id: company.clone(),
                                account_id: account_id.clone(),
                                amount,
                                capturable,
                                description: None,
                                expires_at,
                            },
                            now,
                        )
                    })
                    .map_err(storage_failure)?;
                match answer {
                    Ok(hold) => {
                        prop_assert_eq!((hold.amount, hold.status), (amount, HoldStatus::Held));
                        let cents = cents_of(hold.amount)?;
                        let (id, expires_at) = (hold.id, hold.expires_at);
                        self.holds.push(AcceptedHold { id, account: *account, cents, expires_at });
                        Outcome::Accepted
                    }
                    Err(refusal) => refusal.into(),
                }
            }
            Op::Release { hold, as_other_company } => {
                let (hold_id, account, _) = self.target(hold);
                let company = world.companies[asking_company(account, *as_other_company)].clone();
                let answer = store
                    .write_blocking(move |tx| billing::release(tx, &company, &hold_id, now))
                    .map_err(storage_failure)?;
                match answer {
                    Ok(hold) => {
                        prop_assert_eq!(hold.status, HoldStatus::Released);
                        Outcome::Accepted
                    }
                    Err(refusal) => refusal.into(),
                }
            }
            Op::Capture { hold, amount, as_other_company } => {
                let (hold_id, account, held) = self.target(hold);
                let amount = amount.of(held);
                let company = &world.companies[asking_company(account, *as_other_company)];
                let input = charge_input(company, &world.accounts[account], rub(&amount.text));
                let answer = store
                    .write_blocking(move |tx| billing::capture(tx, &hold_id, input, now))
                    .map_err(storage_failure)?;
                match answer {
                    Ok(charge) => {
                        prop_assert_eq!(charge.amount, rub(&amount.text));
                        prop_assert_eq!(&charge.account_id, &world.accounts[account]);
                        Outcome::Accepted
                    }
                    Err(refusal) => refusal.into(),
                }
            }
            Op::Charge { account, amount, as_other_company } => {
                let company = &world.companies[asking_company(*account, *as_other_company)];
                let amount = amount.of(available_cents(store, &world.customers[customer_of(*account)])?);
                let input = charge_input(company, &world.accounts[*account], rub(&amount.text));
                let answer =
                    store.write_blocking(move |tx| billing::charge(tx, input, now)).map_err(storage_failure)?;
                match answer {
                    Ok(charge) => {
                        prop_assert_eq!(charge.amount, rub(&amount.text));
                        Outcome::Accepted
                    }
                    Err(refusal) => refusal.into(),
                }
            }
            Op::Wait { .. } | Op::WaitForExpiry { .. } | Op::Reopen => Outcome::Accepted,
        };
        Ok(outcome)
    }

    /// The store's state in the model's terms, and what `verify` thinks of the whole file.
    fn snapshot(&self, store: &Store) -> Result<(Snapshot, Vec<String>), StoreError> {
        store.read_blocking(|r| {
            let wallets = self.world.customers.iter().map(|c| ledger::wallet(r, c)).collect::<Result<_, _>>()?;
            let mut paid_totals = Vec::with_capacity(self.world.accounts.len());
            for id in &self.world.accounts {
                let account = accounts::get(r, id)?.ok_or_else(|| StoreError::Engine(format!("account {id} lost")))?;
                paid_totals.push(account.paid_total);
            }
            let mut holds = Vec::with_capacity(self.holds.len());
            for AcceptedHold { id, account, .. } in &self.holds {
                let company = &self.world.companies[company_of(*account)];
                let hold =
                    billing::get_hold(r, company, id)?.ok_or_else(|| StoreError::Engine(format!("hold {id} lost")))?;
                holds.push(HoldView::from(&hold));
            }
            Ok((Snapshot { wallets, paid_totals, holds }, violations(r)?))
        })
    }
}

/// Applies `ops` (then one last reopen) to a fresh store and to the model, comparing the
/// answers and the whole state after every step.
fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open_store(dir.path());
    let mut now = Timestamp::from_unix_ms(BASE_MS);
    let world = store
        .write_blocking(move |tx| populate_tx(tx, CUSTOMERS, COMPANIES, now))
        .expect("setup commits")
        .expect("setup is accepted");
    let mut driver = Driver { world, holds: Vec::new() };
    let mut model = Model::new();
    for (step, op) in ops.iter().chain(std::iter::once(&Op::Reopen)).enumerate() {
        now = match op {
            Op::Wait { seconds } => now.plus_s(1 + seconds),
            Op::WaitForExpiry { hold, offset_s } => {
                let target =
                    hold.position(driver.holds.len()).map(|at| driver.holds[at].expires_at.plus_s(offset_s - 1));
                target.filter(|t| t.unix_ms() > now.unix_ms()).unwrap_or(now).plus_s(1)
            }
            _ => now.plus_s(1),
        };
        if let Op::Reopen = op {
            store.close();
            store = open_store(dir.path());
        }
        let expected = model.apply(op, now.unix_ms());
        let answered = driver.apply(&store, op, now)?;
        prop_assert_eq!(&answered, &expected, "step {} ({:?}): store and model disagree on the answer", step, op);
        let (state, violations) = driver.snapshot(&store).map_err(storage_failure)?;
        prop_assert_eq!(state, model.snapshot(), "step {} ({:?}): store and model disagree on the state", step, op);
        prop_assert!(violations.is_empty(), "step {} ({:?}): verify found {:?}", step, op, violations);
    }
    store.close();
    Ok(())
}

/// Whole units half the time (so balances hit exactly zero and captures take whole holds),
/// cents otherwise.
fn money(max_units: i64) -> impl Strategy<Value = Money> {
    let cents = prop_oneof![(1..=max_units).prop_map(|units| units * 100), 1..=max_units * 100];
    (cents, any::<bool>()).prop_map(|(cents, trimmed)| Money::new(cents, trimmed))
}

fn ask(max_units: i64) -> impl Strategy<Value = Ask> {
    prop_oneof![4 => money(max_units).prop_map(Ask::Exactly), 1 => Just(Ask::All), 1 => Just(Ask::AllAndACent)]
}

fn hold_pick() -> impl Strategy<Value = HoldPick> {
    prop_oneof![Just(HoldPick::Latest), any::<Index>().prop_map(HoldPick::Any)]
}

fn capture_amount() -> impl Strategy<Value = CaptureAmount> {
    prop_oneof![Just(CaptureAmount::Whole), Just(CaptureAmount::Half), money(30).prop_map(CaptureAmount::Exactly)]
}

fn op() -> impl Strategy<Value = Op> {
    let other = || proptest::bool::weighted(0.1);
    prop_oneof![
        4 => (0..CUSTOMERS, money(200)).prop_map(|(customer, amount)| Op::TopUp { customer, amount }),
        5 => (0..ACCOUNTS, ask(30), proptest::bool::weighted(0.75), 30..=900i64, other()).prop_map(
            |(account, amount, capturable, ttl_s, as_other_company)| Op::Hold {
                account,
                amount,
                capturable,
                ttl_s,
                as_other_company
            }
        ),
        2 => (hold_pick(), other()).prop_map(|(hold, as_other_company)| Op::Release { hold, as_other_company }),
        4 => (hold_pick(), capture_amount(), other())
            .prop_map(|(hold, amount, as_other_company)| Op::Capture { hold, amount, as_other_company }),
        3 => (0..ACCOUNTS, ask(30), other())
            .prop_map(|(account, amount, as_other_company)| Op::Charge { account, amount, as_other_company }),
        1 => (1..=600i64).prop_map(|seconds| Op::Wait { seconds }),
        1 => (hold_pick(), -1..=1i64).prop_map(|(hold, offset_s)| Op::WaitForExpiry { hold, offset_s }),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    // Each case commits up to ~40 real fsyncs; 32 cases keep the test well under a minute in
    // debug. Failures are printed (minimal sequence included), not persisted to a file.
    #![proptest_config(ProptestConfig {
        cases: 32,
        max_shrink_iters: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_store_agrees_with_an_in_memory_model_after_every_step(ops in proptest::collection::vec(op(), 1..=50)) {
        // Proves random ledger operations get the model's answers and leave the model's state, verify-clean, before and after reopening.
        run(&ops)?;
    }
}

#[test]
fn every_acknowledged_operation_survives_reopening() {
    // Proves closing and reopening the database keeps every acknowledged top-up, hold, capture, release and charge.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let now = Timestamp::from_unix_ms(BASE_MS);
    let expires_at = now.plus_s(900);
    let world = store.write_blocking(move |tx| populate_tx(tx, 2, 2, now)).expect("commits").expect("accepted");
    let [c0, c1] = [world.customers[0].clone(), world.customers[1].clone()];
    let [co0, co1] = [world.companies[0].clone(), world.companies[1].clone()];
    let [a00, a01, a10, a11] = [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(cus, co)| world.account(cus, co).clone());

    let top_up = |customer: &CustomerId, amount: &str| {
        let (customer, amount) = (customer.clone(), rub(amount));
        store.write_blocking(move |tx| top_up_tx(tx, &customer, amount, now)).expect("commits").expect("accepted")
    };
    let top_ups = [top_up(&c0, "100"), top_up(&c1, "20.50")];
    let hold = |company: &CompanyId, account: &AccountId, amount: &str, capturable: bool| {
        let (company, account, amount) = (company.clone(), account.clone(), rub(amount));
        store
            .write_blocking(move |tx| {
                billing::hold(
                    tx,
                    HoldInput {
                        company_id: company.clone(),
                        account_id: account.clone(),
                        amount,
                        capturable,
                        description: None,
                        expires_at,
                    },
                    now,
                )
            })
            .expect("commits")
            .expect("accepted")
    };
    let captured = hold(&co0, &a00, "30", true);
    let released = hold(&co1, &a01, "15.25", false);
    let still_open = hold(&co1, &a01, "5", true);
    let charge = |input: ChargeInput| store.write_blocking(move |tx| billing::charge(tx, input, now)).expect("commits");
    let capture_input = charge_input(&co0, &a00, rub("12.34"));
    let hold_id = captured.id.clone();
    let capture = store
        .write_blocking(move |tx| billing::capture(tx, &hold_id, capture_input, now))
        .expect("commits")
        .expect("accepted");
    let (company, hold_id) = (co1.clone(), released.id.clone());
    store.write_blocking(move |tx| billing::release(tx, &company, &hold_id, now)).expect("commits").expect("accepted");
    let direct = charge(charge_input(&co0, &a10, rub("20.50"))).expect("accepted");
    let refused = charge(charge_input(&co1, &a11, rub("0.01")));
    assert_eq!(
        refused.map(|c| c.id),
        Err(BillingError::Funds(LedgerError::InsufficientFunds { available: Amount::ZERO, needed: rub("0.01") }))
    );

    let driver = Driver {
        world: world.clone(),
        holds: vec![
            AcceptedHold { id: captured.id.clone(), account: 0, cents: 3000, expires_at },
            AcceptedHold { id: released.id.clone(), account: 1, cents: 1525, expires_at },
            AcceptedHold { id: still_open.id.clone(), account: 1, cents: 500, expires_at },
        ],
    };
    let (before, before_violations) = driver.snapshot(&store).expect("read");
    assert_eq!(before_violations, Vec::<String>::new());
    store.close();
    let store = open_store(dir.path());
    let (after, after_violations) = driver.snapshot(&store).expect("read");
    assert_eq!(after_violations, Vec::<String>::new());
    assert_eq!(after, before);

    let wallet = |available: &str, held: &str, topped_up: &str, spent: &str| WalletBalances {
        available: Amount::parse_stored(available).expect("amount"),
        held: Amount::parse_stored(held).expect("amount"),
        leased: Amount::ZERO,
        debt: Amount::ZERO,
        topped_up_total: Amount::parse_stored(topped_up).expect("amount"),
        spent_total: Amount::parse_stored(spent).expect("amount"),
    };
    // c0: 100 − 30 − 15.25 − 5 held, then 17.66 back from the capture and 15.25 from the release.
    assert_eq!(after.wallets, vec![wallet("82.66", "5", "100", "12.34"), wallet("0", "0", "20.5", "20.5")]);
    assert_eq!(after.paid_totals, vec![rub("12.34"), Amount::ZERO, rub("20.50"), Amount::ZERO]);
    let statuses: Vec<_> = after.holds.iter().map(|h| (h.status, h.captured)).collect();
    assert_eq!(
        statuses,
        vec![
            (HoldStatus::Captured, rub("12.34")),
            (HoldStatus::Released, Amount::ZERO),
            (HoldStatus::Held, Amount::ZERO)
        ]
    );

    store
        .read_blocking(|r| {
            for top_up in &top_ups {
                let stored = top_ups::get(r, &top_up.id)?.expect("top-up present after reopening");
                assert_eq!((stored.status, stored.amount), (TopUpStatus::Succeeded, top_up.amount));
            }
            for (company, charge) in [(&co0, &capture), (&co0, &direct)] {
                let stored = billing::get_charge(r, company, &charge.id)?.expect("charge present after reopening");
                assert_eq!((stored.amount, &stored.invoice_number), (charge.amount, &charge.invoice_number));
            }
            for (customer, expected) in [
                (&c0, [OperationKind::Charge, OperationKind::TopUp]),
                (&c1, [OperationKind::Charge, OperationKind::TopUp]),
            ] {
                let statement = customers::operations(r, customer, None, 10)?.expect("no cursor, a page");
                let lines: Vec<_> = statement.items.iter().map(|l| l.kind).collect();
                assert_eq!(lines, expected, "statement of {customer}");
            }
            let report = verify::verify(r)?;
            // Two top-ups, three holds, a capture (captured part + released rest), a release, a charge.
            assert_eq!((report.transfers, report.charges), (9, 2));
            Ok(())
        })
        .expect("read");
    store.close();
}
