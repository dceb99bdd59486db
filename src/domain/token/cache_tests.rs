//! Tests of `cache`: hits, the re-checks on a hit, the bound, eviction order and collisions.

use super::*;
use crate::domain::token::claims::Issuance;
use crate::domain::token::jwt::issue;
use crate::domain::token::keys::SigningKeyPair;
use crate::domain::token::scope::ScopeSet;
use crate::vocab::ids::{AccountId, CompanyId, GrantId};
use crate::vocab::time::Timestamp;

const ISSUER: &str = "http://127.0.0.1:8080";
const START_MS: i64 = 1_700_000_000_000;

struct Fixture {
    pair: SigningKeyPair,
    keys: VerifyingKeys,
    company: CompanyId,
}

impl Fixture {
    fn new() -> Fixture {
        let pair = SigningKeyPair::generate();
        let keys = VerifyingKeys::from_key_pairs([&pair]).expect("one key");
        Fixture { pair, keys, company: CompanyId::generate() }
    }

    /// A fresh token for the fixture's company, issued at `START_MS` and valid for `ttl_s`.
    fn token(&self, ttl_s: i64) -> (String, AccessClaims) {
        let what = Issuance {
            issuer: ISSUER,
            account: AccountId::generate(),
            company: self.company.clone(),
            scope: ScopeSet::ALL,
            grant: GrantId::generate(),
        };
        let claims = AccessClaims::issued(what, Timestamp::from_unix_ms(START_MS), ttl_s);
        (issue(&self.pair, &claims), claims)
    }

    fn at(&self, after_s: i64) -> Expectations<'_> {
        Expectations { issuer: ISSUER, audience: &self.company, now: Timestamp::from_unix_ms(START_MS).plus_s(after_s) }
    }
}

fn is_cached(cache: &TokenCache, token: &str) -> bool {
    cache.lookup(cache.hasher.hash_one(token), token).is_some()
}

#[test]
fn a_hit_returns_the_same_claims() {
    // Proves the second verification of a token is served from the cache with identical claims.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(8);
    let (token, claims) = f.token(3600);
    let first = cache.verify(&f.keys, &token, &f.at(1)).expect("valid token");
    assert!(is_cached(&cache, &token));
    let second = cache.verify(&f.keys, &token, &f.at(2)).expect("still valid");
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(*second, claims);
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_hit_still_checks_audience_issuer_and_time() {
    // Proves a cached token of company A fails for company B, another issuer, and after expiry.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(8);
    let (token, claims) = f.token(3600);
    cache.verify(&f.keys, &token, &f.at(1)).expect("valid token");
    assert!(is_cached(&cache, &token));

    let other = CompanyId::generate();
    let for_b = Expectations { audience: &other, ..f.at(1) };
    assert_eq!(cache.verify(&f.keys, &token, &for_b), Err(TokenError::WrongAudience));
    let elsewhere = Expectations { issuer: "https://other.example", ..f.at(1) };
    assert_eq!(cache.verify(&f.keys, &token, &elsewhere), Err(TokenError::WrongIssuer));
    assert_eq!(cache.verify(&f.keys, &token, &f.at(3600 + 60)), Err(TokenError::Expired));
    assert_eq!(cache.verify(&f.keys, &token, &f.at(-61)), Err(TokenError::NotYetValid));
    assert_eq!(cache.verify(&f.keys, &token, &f.at(3600 + 59)).as_deref(), Ok(&claims));
}

#[test]
fn a_hit_fails_once_its_key_is_withdrawn() {
    // Proves a cached token stops verifying when its signing key leaves the key set.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(8);
    let (token, _) = f.token(3600);
    cache.verify(&f.keys, &token, &f.at(1)).expect("valid token");
    let rotated = VerifyingKeys::from_key_pairs([&SigningKeyPair::generate()]).expect("one key");
    assert_eq!(cache.verify(&rotated, &token, &f.at(1)), Err(TokenError::UnknownKey));
}

#[test]
fn refused_tokens_are_not_cached() {
    // Proves only tokens that verified are inserted, and an over-long input is refused first.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(8);
    let (token, _) = f.token(3600);
    let other = CompanyId::generate();
    let for_b = Expectations { audience: &other, ..f.at(1) };
    assert_eq!(cache.verify(&f.keys, &token, &for_b), Err(TokenError::WrongAudience));
    assert_eq!(cache.verify(&f.keys, "x.y.z", &f.at(1)), Err(TokenError::Malformed));
    assert_eq!(cache.verify(&f.keys, &"A".repeat(token_len_max + 1), &f.at(1)), Err(TokenError::TooLong));
    assert!(cache.is_empty());
}

#[test]
fn the_capacity_bound_holds_and_the_oldest_go_first() {
    // Proves a full cache never grows and, with nothing expired, evicts in insertion order.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(3);
    let tokens: Vec<String> = (0..5).map(|_| f.token(3600).0).collect();
    for token in &tokens {
        cache.verify(&f.keys, token, &f.at(1)).expect("valid token");
        assert!(cache.len() <= 3);
    }
    let cached: Vec<bool> = tokens.iter().map(|token| is_cached(&cache, token)).collect();
    assert_eq!(cached, [false, false, true, true, true]);
}

#[test]
fn expired_entries_are_evicted_before_the_oldest() {
    // Proves a full cache drops an expired entry rather than the oldest live one.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(3);
    let (oldest, _) = f.token(3600);
    let (short, _) = f.token(60);
    let (third, _) = f.token(3600);
    for token in [&oldest, &short, &third] {
        cache.verify(&f.keys, token, &f.at(1)).expect("valid token");
    }
    let (fourth, _) = f.token(3600);
    cache.verify(&f.keys, &fourth, &f.at(60 + 60)).expect("valid token");
    assert!(is_cached(&cache, &oldest) && is_cached(&cache, &third) && is_cached(&cache, &fourth));
    assert!(!is_cached(&cache, &short));
    assert_eq!(cache.len(), 3);
}

#[test]
fn a_hash_collision_never_returns_another_tokens_claims() {
    // Proves, by forcing two tokens onto one hash, that a hit requires the exact token bytes.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(8);
    let (token_a, claims_a) = f.token(3600);
    let (token_b, claims_b) = f.token(3600);
    const SAME_HASH: u64 = 7;
    let a = cache.verify_hashed(SAME_HASH, &f.keys, &token_a, &f.at(1)).expect("valid token");
    assert_eq!(*a, claims_a);
    assert!(cache.lookup(SAME_HASH, &token_b).is_none());
    let b = cache.verify_hashed(SAME_HASH, &f.keys, &token_b, &f.at(1)).expect("valid token");
    assert_eq!(*b, claims_b);
    let a_again = cache.verify_hashed(SAME_HASH, &f.keys, &token_a, &f.at(1)).expect("valid token");
    assert_eq!(*a_again, claims_a);
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.lock().order.len(), 3, "replaced entries leave stale order items");
}

#[test]
fn the_order_queue_stays_bounded_under_collisions() {
    // Proves stale order items are compacted away, so the queue never exceeds twice the capacity.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(2);
    let (token_a, _) = f.token(3600);
    let (token_b, _) = f.token(3600);
    for _ in 0..10 {
        for token in [&token_a, &token_b] {
            cache.verify_hashed(1, &f.keys, token, &f.at(1)).expect("valid token");
            assert!(cache.lock().order.len() <= 4);
        }
    }
    assert_eq!(cache.len(), 1);
}

#[test]
fn threads_share_one_cache() {
    // Proves concurrent verifications of one token through &self agree and cache it once.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(8);
    let (token, claims) = f.token(3600);
    std::thread::scope(|scope| {
        let workers: Vec<_> =
            (0..4).map(|_| scope.spawn(|| cache.verify(&f.keys, &token, &f.at(1)).map(|c| (*c).clone()))).collect();
        for worker in workers {
            assert_eq!(worker.join().expect("no panic"), Ok(claims.clone()));
        }
    });
    assert_eq!(cache.len(), 1);
}

#[test]
fn debug_never_shows_tokens() {
    // Proves the cache's Debug output holds counts only.
    let f = Fixture::new();
    let cache = TokenCache::with_capacity(8);
    let (token, _) = f.token(3600);
    cache.verify(&f.keys, &token, &f.at(1)).expect("valid token");
    let shown = format!("{cache:?}");
    assert_eq!(shown, "TokenCache { len: 1, capacity: 8 }");
}

#[test]
fn a_recorded_token_warms_a_new_cache_without_its_signature_check_but_with_every_other_check() {
    // Proves what one run records (digest + claims, never the token) lets the next run skip the signature once, while key, expiry and audience still apply.
    let f = Fixture::new();
    let first = TokenCache::with_recording();
    let (token, claims) = f.token(3600);
    first.verify(&f.keys, &token, &f.at(1)).expect("valid token");
    let fresh = first.take_fresh();
    assert_eq!(fresh.len(), 1);
    assert_eq!((fresh[0].0, (*fresh[0].1).clone()), (token_digest(&token), claims.clone()));
    assert!(first.take_fresh().is_empty(), "taken once");

    let second = TokenCache::with_capacity(8);
    second.warm(fresh[0].0, claims.clone());
    assert_eq!(second.verify(&f.keys, &token, &f.at(1)).map(|c| (*c).clone()), Ok(claims.clone()));
    assert_eq!(second.hits_and_misses(), (1, 0), "answered without verifying the signature");

    let expired = TokenCache::with_capacity(8);
    expired.warm(fresh[0].0, claims.clone());
    assert!(expired.verify(&f.keys, &token, &f.at(3600 + 61)).is_err(), "a warm token past exp + skew is refused");

    let no_key = TokenCache::with_capacity(8);
    no_key.warm(fresh[0].0, claims);
    let other_keys = Fixture::new().keys;
    assert_eq!(no_key.verify(&other_keys, &token, &f.at(1)), Err(TokenError::UnknownKey));
}
