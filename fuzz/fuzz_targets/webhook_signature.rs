//! The Standard Webhooks verifier (DESIGN §6): arbitrary headers, bodies and secrets never panic
//! it, and what `sign` produces always verifies while a changed body never does.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protus::domain::webhook_signature::{SignedHeaders, sign, verify};
use protus::vocab::time::Timestamp;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    secret: &'a str,
    id: &'a str,
    timestamp: &'a str,
    signature: &'a str,
    body: &'a [u8],
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|input: Input<'_>| {
    let now = Timestamp::from_unix_ms(1_700_000_000_000);
    let headers = SignedHeaders { id: input.id, timestamp: input.timestamp, signature: input.signature };
    let _ = verify(input.secret, headers, input.body, now);
    let stamp = now.unix_s().to_string();
    let signed = sign(SECRET, input.id, now.unix_s(), input.body).expect("a valid secret");
    let good = SignedHeaders { id: input.id, timestamp: &stamp, signature: &signed };
    assert!(verify(SECRET, good, input.body, now).is_ok(), "a fresh signature must verify");
    let mut other = input.body.to_vec();
    other.push(b'!');
    let good = SignedHeaders { id: input.id, timestamp: &stamp, signature: &signed };
    assert!(verify(SECRET, good, &other, now).is_err(), "a changed body must not verify");
});
