//! The ledger against a model (DESIGN §3): arbitrary sequences of top-ups, holds, releases,
//! captures and charges over 2 customers × 2 companies go to the real store (redb in memory,
//! with the invariant checks of every commit) and to a model in whole kopecks; the wallets must
//! agree after every step and `verify` must find nothing at the end.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protus::storage::StoreOptions;
use protus::storage::central::billing::{self, BillingError, ChargeInput, HoldInput};
use protus::storage::central::open::open_central_in_memory;
use protus::storage::central::records::{CompanyRecord, CustomerRecord, TopUpRecord, TopUpStatus};
use protus::storage::central::{accounts, companies, customers, ledger, top_ups, verify};
use protus::vocab::ids::{AccountId, CompanyId, CustomerId, HoldId, TopUpId};
use protus::vocab::money::Amount;
use protus::vocab::names::{DisplayName, Email, Username};
use protus::vocab::secret::Secret;
use protus::vocab::time::Timestamp;

#[derive(Debug, Arbitrary)]
enum Op {
    TopUp { customer: u8, kopecks: u16 },
    Hold { account: u8, kopecks: u16 },
    Release { hold: u8 },
    Capture { hold: u8, kopecks: u16 },
    Charge { account: u8, kopecks: u16 },
}

#[derive(Debug, Default, Clone, Copy)]
struct Wallet {
    available: i64,
    held: i64,
}

struct Hold {
    id: HoldId,
    company: CompanyId,
    account: AccountId,
    customer: usize,
    kopecks: i64,
    open: bool,
}

fn amount(kopecks: i64) -> Amount {
    Amount::from_decimal(rust_decimal::Decimal::new(kopecks, 2)).expect("a positive amount")
}

fn kopecks(amount: Amount) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    (amount.decimal() * rust_decimal::Decimal::from(100)).to_i64().expect("small amounts")
}

fn charge_input(company: &CompanyId, account: &AccountId, kopecks: i64) -> ChargeInput {
    ChargeInput {
        company_id: company.clone(),
        account_id: account.clone(),
        amount: amount(kopecks),
        service_id: None,
        service_name: None,
        description: None,
        payload: None,
        idempotency_key: None,
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let store = open_central_in_memory(&StoreOptions::default()).expect("an in-memory store");
    let now = Timestamp::from_unix_ms(1_700_000_000_000);
    let (cus, cos): (Vec<CustomerId>, Vec<CompanyId>) =
        ((0..2).map(|_| CustomerId::generate()).collect(), (0..2).map(|_| CompanyId::generate()).collect());
    let (setup_cus, setup_cos) = (cus.clone(), cos.clone());
    let accounts: Vec<(usize, usize, AccountId)> = store
        .write_blocking(move |tx| {
            for (n, id) in setup_cus.iter().enumerate() {
                let record = CustomerRecord {
                    id: id.clone(),
                    email: Email::parse(&format!("c{n}@example.com")).expect("email"),
                    username: Username::parse(&format!("customer{n}")).expect("username"),
                    password_hash: None,
                    created_at: now,
                };
                customers::register(tx, record)?.expect("a new customer");
            }
            for (n, id) in setup_cos.iter().enumerate() {
                let record = CompanyRecord {
                    id: id.clone(),
                    name: DisplayName::parse_company(&format!("Company {n}")).expect("name"),
                    email: Email::parse(&format!("co{n}@example.com")).expect("email"),
                    password_hash: "-".into(),
                    client_secret: Secret::generate("cs_").digest(),
                    client_secret_previous: Vec::new(),
                    webhook_secret: Secret::generate_webhook().expose().to_owned(),
                    webhook_secret_previous: Vec::new(),
                    webhook_url: None,
                    redirect_uris: Vec::new(),
                    created_at: now,
                };
                companies::register(tx, record)?.expect("a new company");
            }
            let mut out = Vec::new();
            for (c, customer) in setup_cus.iter().enumerate() {
                for (k, company) in setup_cos.iter().enumerate() {
                    out.push((c, k, accounts::ensure(tx, company, customer, now)?.0.id));
                }
            }
            Ok(out)
        })
        .expect("setup commits");
    let mut model = [Wallet::default(); 2];
    let mut holds: Vec<Hold> = Vec::new();
    for op in ops.into_iter().take(64) {
        match op {
            Op::TopUp { customer, kopecks: k } if k > 0 => {
                let (customer, k) = (usize::from(customer) % 2, i64::from(k));
                let record = TopUpRecord {
                    id: TopUpId::generate(),
                    customer_id: cus[customer].clone(),
                    amount: amount(k),
                    status: TopUpStatus::Pending,
                    provider: "test".into(),
                    created_at: now,
                    completed_at: None,
                };
                let done = store
                    .write_blocking(move |tx| {
                        top_ups::create(tx, &record)?;
                        top_ups::complete(tx, &record.id, "test", record.amount, true, now)
                    })
                    .expect("commit");
                assert!(done.is_ok(), "{done:?}");
                model[customer].available += k;
            }
            Op::Hold { account, kopecks: k } if k > 0 => {
                let (c, co, id) = accounts[usize::from(account) % accounts.len()].clone();
                let k = i64::from(k);
                let input = HoldInput {
                    company_id: cos[co].clone(),
                    account_id: id.clone(),
                    amount: amount(k),
                    capturable: true,
                    description: None,
                    expires_at: now.plus_s(3600),
                };
                match store.write_blocking(move |tx| billing::hold(tx, input, now)).expect("commit") {
                    Ok(hold) => {
                        assert!(model[c].available >= k, "a hold beyond the funds was accepted");
                        model[c].available -= k;
                        model[c].held += k;
                        holds.push(Hold {
                            id: hold.id,
                            company: cos[co].clone(),
                            account: id,
                            customer: c,
                            kopecks: k,
                            open: true,
                        });
                    }
                    Err(BillingError::Funds(_)) => assert!(model[c].available < k, "a covered hold was refused"),
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            Op::Release { hold } if !holds.is_empty() => {
                let n = usize::from(hold) % holds.len();
                let (id, company) = (holds[n].id.clone(), holds[n].company.clone());
                let released =
                    store.write_blocking(move |tx| billing::release(tx, &company, &id, now)).expect("commit");
                assert_eq!(released.is_ok(), holds[n].open, "{released:?}");
                if holds[n].open {
                    holds[n].open = false;
                    model[holds[n].customer].available += holds[n].kopecks;
                    model[holds[n].customer].held -= holds[n].kopecks;
                }
            }
            Op::Capture { hold, kopecks: k } if !holds.is_empty() && k > 0 => {
                let n = usize::from(hold) % holds.len();
                let k = i64::from(k);
                let (id, input) = (holds[n].id.clone(), charge_input(&holds[n].company, &holds[n].account, k));
                let captured = store.write_blocking(move |tx| billing::capture(tx, &id, input, now)).expect("commit");
                match captured {
                    Ok(_) => {
                        assert!(holds[n].open && k <= holds[n].kopecks, "an impossible capture was accepted");
                        holds[n].open = false;
                        let w = &mut model[holds[n].customer];
                        w.held -= holds[n].kopecks;
                        w.available += holds[n].kopecks - k;
                    }
                    Err(_) => assert!(!holds[n].open || k > holds[n].kopecks, "a valid capture was refused"),
                }
            }
            Op::Charge { account, kopecks: k } if k > 0 => {
                let (c, co, id) = accounts[usize::from(account) % accounts.len()].clone();
                let k = i64::from(k);
                let input = charge_input(&cos[co], &id, k);
                match store.write_blocking(move |tx| billing::charge(tx, input, now)).expect("commit") {
                    Ok(_) => {
                        assert!(model[c].available >= k, "a charge beyond the funds was accepted");
                        model[c].available -= k;
                    }
                    Err(BillingError::Funds(_)) => assert!(model[c].available < k, "a covered charge was refused"),
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            _ => {}
        }
        for (c, customer) in cus.iter().enumerate() {
            let customer = customer.clone();
            let wallet = store.read_blocking(move |r| ledger::wallet(r, &customer)).expect("read");
            assert_eq!((kopecks(wallet.available), kopecks(wallet.held)), (model[c].available, model[c].held));
        }
    }
    let report = store.read_blocking(verify::verify).expect("verify");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    store.close();
});
