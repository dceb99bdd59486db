//! Access-token verification (issue 3, "Performance"): on one signed token, in one run, the raw
//! `ed25519_dalek::VerifyingKey::verify_strict`, PROTUS's full verification without a cache
//! (cold), a cache hit (warm), and the `jsonwebtoken` crate's EdDSA validation. Goals: cold ≤
//! 1.15× raw, cold faster than `jsonwebtoken`, warm ≥ 30× faster than cold. The ratios are
//! printed twice at the end: from criterion's runs (one contender after another), and from short
//! interleaved rounds, which a busy neighbour on a small machine disturbs far less. Results and
//! the machine they came from: BENCHMARKS.md (STYLE.md: performance is measured, never asserted).

#![allow(non_upper_case_globals)] // STYLE.md: bounds read as names, units last

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use protus::domain::token::cache::TokenCache;
use protus::domain::token::claims::{AccessClaims, Issuance};
use protus::domain::token::jwt::{self, Expectations};
use protus::domain::token::keys::{SigningKeyPair, VerifyingKeys};
use protus::domain::token::scope::ScopeSet;
use protus::vocab::ids::{AccountId, CompanyId, GrantId};
use protus::vocab::time::{Clock, SystemClock};

const issuer: &str = "http://127.0.0.1:8080";
/// Lifetime of the benchmarked token: far longer than the run, which checks against the clock.
const token_ttl_s: i64 = 3600;
/// Rounds of the interleaved cross-check, and calls of each contender per round (about 12 ms
/// for a signature check): short rounds, so a neighbour's burst of work hits contenders alike.
const interleaved_rounds_len: usize = 301;
const interleaved_calls_len: u32 = 250;

/// Everything the four contenders need, built once and checked before anything is measured.
struct Setup {
    token: String,
    claims: AccessClaims,
    company: CompanyId,
    keys: VerifyingKeys,
    cache: TokenCache,
    /// The token's signing input (`header.payload`) and decoded signature, for the raw check.
    signing_input: Vec<u8>,
    signature: Signature,
    verifying_key: VerifyingKey,
    decoding_key: DecodingKey,
    validation: Validation,
}

impl Setup {
    fn new() -> Setup {
        let pair = SigningKeyPair::generate();
        let keys = VerifyingKeys::from_key_pairs([&pair]).expect("one key is within the bound");
        let company = CompanyId::generate();
        let what = Issuance {
            issuer,
            account: AccountId::generate(),
            company: company.clone(),
            scope: ScopeSet::ALL,
            grant: GrantId::generate(),
        };
        let claims = AccessClaims::issued(what, SystemClock.now(), token_ttl_s);
        let token = jwt::issue(&pair, &claims);
        let (signing_input, signature) = token.rsplit_once('.').expect("a compact JWS has three segments");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("the signature segment is base64url");
        let signature = Signature::from_slice(&signature).expect("an Ed25519 signature is 64 bytes");

        // jsonwebtoken gets the key the way any client would: from the published JWK.
        let jwk_json = serde_json::to_value(pair.public_jwk()).expect("a JWK serializes");
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk_json).expect("jsonwebtoken reads our JWK");
        let decoding_key = DecodingKey::from_jwk(&jwk).expect("an OKP/Ed25519 JWK is a decoding key");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[company.as_str()]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = 60;

        let setup = Setup {
            signing_input: signing_input.as_bytes().to_vec(),
            signature,
            verifying_key: pair.verifying_key(),
            token,
            claims,
            company,
            keys,
            cache: TokenCache::new(),
            decoding_key,
            validation,
        };
        setup.check_every_contender_accepts_the_token();
        setup
    }

    fn expect(&self) -> Expectations<'_> {
        Expectations { issuer, audience: &self.company, now: SystemClock.now() }
    }

    fn raw(&self) -> bool {
        self.verifying_key.verify_strict(black_box(&self.signing_input), black_box(&self.signature)).is_ok()
    }

    fn cold(&self, expect: &Expectations<'_>) -> bool {
        jwt::verify(&self.keys, black_box(&self.token), expect).is_ok()
    }

    fn warm(&self, expect: &Expectations<'_>) -> bool {
        self.cache.verify(&self.keys, black_box(&self.token), expect).is_ok()
    }

    fn jsonwebtoken(&self) -> bool {
        jsonwebtoken::decode::<AccessClaims>(black_box(&self.token), &self.decoding_key, &self.validation).is_ok()
    }

    /// A benchmark of a contender that refused the token would measure an error path.
    fn check_every_contender_accepts_the_token(&self) {
        let expect = self.expect();
        assert!(self.raw(), "verify_strict refused the token");
        assert_eq!(jwt::verify(&self.keys, &self.token, &expect).as_ref(), Ok(&self.claims), "cold refused");
        assert_eq!(self.cache.verify(&self.keys, &self.token, &expect).as_deref(), Ok(&self.claims));
        assert_eq!(self.cache.len(), 1, "the warm benchmark hits the one cached token");
        let decoded = jsonwebtoken::decode::<AccessClaims>(&self.token, &self.decoding_key, &self.validation)
            .expect("jsonwebtoken accepts the token");
        assert_eq!(decoded.claims, self.claims);
        assert_eq!(decoded.header.typ.as_deref(), Some("at+jwt"));
        let other = CompanyId::generate();
        let mut for_other = self.validation.clone();
        for_other.set_audience(&[other.as_str()]);
        assert!(
            jsonwebtoken::decode::<AccessClaims>(&self.token, &self.decoding_key, &for_other).is_err(),
            "jsonwebtoken really checks the audience"
        );
    }
}

/// Calls and time seen by one benchmark across all its iterations (warm-up included).
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    calls: u64,
    elapsed: Duration,
}

impl Tally {
    fn ns_per_call(&self) -> u128 {
        self.elapsed.as_nanos() / u128::from(self.calls.max(1))
    }
}

/// Times `iters` calls of `call` for criterion and adds them to `tally`.
fn timed(iters: u64, tally: &mut Tally, mut call: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    for _ in 0..iters {
        black_box(call());
    }
    let elapsed = started.elapsed();
    tally.calls += iters;
    tally.elapsed += elapsed;
    elapsed
}

const names: [&str; 4] = ["verify_strict_raw", "verify_cold", "verify_warm", "jsonwebtoken_eddsa"];

fn token_verify(c: &mut Criterion) {
    let setup = Setup::new();
    let mut tallies = [Tally::default(); 4];
    let mut group = c.benchmark_group("token");
    let [raw, cold, warm, other] = &mut tallies;
    group.bench_function(names[0], |b| b.iter_custom(|iters| timed(iters, raw, || setup.raw())));
    let expect = setup.expect();
    group.bench_function(names[1], |b| b.iter_custom(|iters| timed(iters, cold, || setup.cold(&expect))));
    group.bench_function(names[2], |b| b.iter_custom(|iters| timed(iters, warm, || setup.warm(&expect))));
    group.bench_function(names[3], |b| b.iter_custom(|iters| timed(iters, other, || setup.jsonwebtoken())));
    group.finish();
    // A benchmark left out by a filter (`cargo bench --bench token -- warm`) ran nothing.
    if tallies.iter().all(|tally| tally.calls > 0) {
        report("criterion's runs: mean over all iterations", &tallies.map(|tally| vec![tally.ns_per_call()]));
        report("interleaved rounds: medians; ratios per round", &interleaved(&setup));
    }
}

/// The four contenders in turn, round after round, each round starting with the next one, so
/// drift in the machine's speed hits all of them alike. Per contender: ns per call, per round.
fn interleaved(setup: &Setup) -> [Vec<u128>; 4] {
    let expect = setup.expect();
    let contenders: [&dyn Fn() -> bool; 4] =
        [&|| setup.raw(), &|| setup.cold(&expect), &|| setup.warm(&expect), &|| setup.jsonwebtoken()];
    let mut rounds: [Vec<u128>; 4] = Default::default();
    for round in 0..interleaved_rounds_len {
        for turn in 0..contenders.len() {
            let which = (round + turn) % contenders.len();
            let started = Instant::now();
            for _ in 0..interleaved_calls_len {
                black_box(contenders[which]());
            }
            rounds[which].push(started.elapsed().as_nanos() / u128::from(interleaved_calls_len));
        }
    }
    rounds
}

fn median(values: impl Iterator<Item = u128>) -> u128 {
    quartiles(values)[1]
}

/// The first quartile, the median and the third quartile.
fn quartiles(values: impl Iterator<Item = u128>) -> [u128; 3] {
    let mut values: Vec<u128> = values.collect();
    values.sort_unstable();
    [1, 2, 3].map(|quarter| values.get(values.len() * quarter / 4).copied().unwrap_or(0))
}

/// `numerator / denominator` per round, in hundredths (integers: no floats near this crate's
/// lints), as quartiles over the rounds.
fn ratio_x100(numerators: &[u128], denominators: &[u128]) -> [u128; 3] {
    quartiles(numerators.iter().zip(denominators).map(|(n, d)| n * 100 / (*d).max(1)))
}

/// Prints ns per call and the three ratios of the goals; `samples` follows the order of `names`.
fn report(how: &str, samples: &[Vec<u128>; 4]) {
    let [raw, cold, warm, other] = samples;
    eprintln!("\ntoken verification, same run ({how}):");
    for (name, samples) in names.iter().zip(samples) {
        eprintln!("{name}: {} ns per call", median(samples.iter().copied()));
    }
    let x = |x100: u128| format!("{}.{:02}x", x100 / 100, x100 % 100);
    let shown = |[low, middle, high]: [u128; 3]| {
        if raw.len() > 1 { format!("{} (middle half of rounds {}-{})", x(middle), x(low), x(high)) } else { x(middle) }
    };
    eprintln!("verify_cold / verify_strict_raw = {}, goal <= 1.15x", shown(ratio_x100(cold, raw)));
    eprintln!("jsonwebtoken_eddsa / verify_cold = {}, goal > 1x", shown(ratio_x100(other, cold)));
    eprintln!("verify_cold / verify_warm = {}, goal >= 30x", shown(ratio_x100(cold, warm)));
}

criterion_group!(benches, token_verify);
criterion_main!(benches);
