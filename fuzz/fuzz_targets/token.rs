//! Access-token parsing and verification (DESIGN §4): any bytes are refused or verify; nothing
//! panics, a token that verifies names the expected audience and issuer, and the cache answers
//! exactly what a cold verification answers.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use protus::domain::token::cache::TokenCache;
use protus::domain::token::jwt::{self, Expectations};
use protus::domain::token::keys::{SigningKeyPair, VerifyingKeys};
use protus::vocab::ids::CompanyId;
use protus::vocab::time::Timestamp;

const ISSUER: &str = "http://127.0.0.1:8080";

struct Fixture {
    keys: VerifyingKeys,
    company: CompanyId,
    cache: TokenCache,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let pair = SigningKeyPair::generate();
    Fixture {
        keys: VerifyingKeys::from_key_pairs([&pair]).expect("one key"),
        company: CompanyId::generate(),
        cache: TokenCache::with_capacity(1024),
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let f = &*FIXTURE;
    let expect = Expectations { issuer: ISSUER, audience: &f.company, now: Timestamp::from_unix_ms(1_700_000_000_000) };
    let cold = jwt::verify(&f.keys, token, &expect);
    if let Ok(claims) = &cold {
        assert_eq!((claims.iss.as_str(), &claims.aud), (ISSUER, &f.company));
    }
    let cached = f.cache.verify(&f.keys, token, &expect).map(|c| (*c).clone());
    assert_eq!(cached.is_ok(), cold.is_ok(), "the cache and a cold check disagree on {token:?}");
});
