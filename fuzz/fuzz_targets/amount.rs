//! Amount parsing (DESIGN §2): any text either is refused or parses to an amount whose
//! canonical wire form parses back to the same amount; a JSON body never panics the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protus::vocab::money::{Amount, Currency};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for code in ["RUB", "USD", "EUR", "JPY"] {
        let currency = Currency::parse(code).expect("a known currency");
        if let Ok(amount) = Amount::parse_request(text, currency) {
            assert!(!amount.is_zero(), "a zero amount was accepted: {text:?}");
            let wire = amount.to_wire(currency);
            assert_eq!(Amount::parse_request(&wire, currency), Ok(amount), "{text:?} → {wire:?}");
        }
    }
    if let Ok(amount) = Amount::parse_stored(text) {
        assert_eq!(Amount::parse_stored(&amount.to_stored()), Ok(amount), "{text:?}");
    }
});
