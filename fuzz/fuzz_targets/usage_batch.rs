//! Central's decoder of a sidecar's usage batch (DESIGN §7): any records are refused as a
//! whole (422) or decoded one by one, in strictly ascending seq, each valid or carrying its
//! complaint — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protus::central::routes::usage::inputs;
use protus::vocab::money::Currency;

fuzz_target!(|data: &[u8]| {
    let Ok(records) = serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(data) else { return };
    let count = records.len();
    if let Ok(decoded) = inputs(records, Currency::parse("RUB").expect("a known currency")) {
        assert_eq!(decoded.len(), count);
        assert!(decoded.windows(2).all(|pair| pair[0].seq < pair[1].seq), "seqs must ascend");
    }
});
