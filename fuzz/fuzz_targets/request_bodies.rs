//! Every JSON request body of the billing and sync APIs, and the OAuth form bodies: decoding
//! and the shared checks never panic, whatever the bytes. The first byte picks the body type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protus::http::billing_input::{capture_ask, charge_ask, hold_ask};
use protus::vocab::money::Currency;
use protus::wire::billing::{CaptureHold, CreateCharge, CreateHold};
use protus::wire::leases::{CloseLease, OpenLease, RenewLease, UsageBatch};
use protus::wire::money::CreateTopUp;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let rub = Currency::parse("RUB").expect("a known currency");
    match pick % 9 {
        0 => {
            if let Ok(hold) = serde_json::from_slice::<CreateHold>(body) {
                let _ = hold_ask(hold, rub);
            }
        }
        1 => {
            if let Ok(capture) = serde_json::from_slice::<CaptureHold>(body) {
                let _ = capture_ask(capture, rub);
            }
        }
        2 => {
            if let Ok(charge) = serde_json::from_slice::<CreateCharge>(body) {
                let _ = charge_ask(charge, rub);
            }
        }
        3 => {
            if let Ok(top_up) = serde_json::from_slice::<CreateTopUp>(body) {
                let _ = top_up.amount.parse(rub);
            }
        }
        4 => drop(serde_json::from_slice::<OpenLease>(body)),
        5 => drop(serde_json::from_slice::<RenewLease>(body)),
        6 => drop(serde_json::from_slice::<CloseLease>(body)),
        7 => drop(serde_json::from_slice::<UsageBatch>(body)),
        _ => {
            // The OAuth endpoints take form bodies (RFC 6749).
            let fields: Vec<(String, String)> =
                form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            drop(fields);
        }
    }
});
