//! A bounded cache of verified access tokens, so a token seen before skips its signature check.
//!
//! The cache saves the Ed25519 verification and the claims parsing, nothing more. It **never
//! replaces the caller's revocation and grant-state check** (DESIGN §4: "a cache hit still
//! consults the revocation set and the grant's current state"): a hit returns claims, and the
//! caller must still look up the token's `jti` and `grant` exactly as after a cold verification.
//! On every hit the cache itself re-checks what depends on the moment and on the verifier: the
//! signing key is still in the given set, `exp`/`nbf` (with skew), `iss` and `aud`, so a token
//! cached for company A still fails for company B and an expired entry is never served.
//!
//! Entries are keyed by a keyed (SipHash, random per cache) 64-bit hash of the token and keep a
//! second, independently keyed 64-bit hash of it instead of the token: a hit needs both to match,
//! so another token's claims would need a 128-bit collision of a PRF whose keys never leave the
//! process (the token itself, ~450 bytes, is not kept — it was most of an entry's memory). Only tokens that verified are inserted, and each lives until its `exp` plus the
//! skew. When full, expired entries go first (one sweep over the cache, run only when some entry
//! has expired and at most every `SWEEP_INTERVAL_S`), then the oldest insertion.
//!
//! A process that restarts can warm the cache without keeping tokens at rest: it records the
//! SHA-256 of each token it verified with the claims (`with_recording` + `take_fresh`), and at
//! start hands them back (`warm`). A token whose digest is warm skips the signature check once
//! (the key, time, issuer and audience are re-checked as on a hit) and then lives in the cache.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::domain::token::claims::AccessClaims;
use crate::domain::token::jwt::{self, Expectations, TokenError};
use crate::domain::token::keys::VerifyingKeys;
use crate::vocab::limits::{token_cache_len_max, token_clock_skew_s, token_len_max};

/// Shortest time between two sweeps, so a full cache whose entries expire one by one pays for
/// one walk over it per interval, not one per insertion.
const SWEEP_INTERVAL_S: i64 = 10;

/// Verified tokens, shared by every request of one process (`&self`, behind one mutex whose
/// critical sections are a map probe and a byte comparison).
pub struct TokenCache {
    hasher: RandomState,
    /// The second, independent hash that confirms a hit.
    confirm: RandomState,
    capacity: usize,
    inner: Mutex<Inner>,
    /// Lookups answered from the cache and lookups that verified the signature, for metrics.
    hits: AtomicU64,
    misses: AtomicU64,
    /// SHA-256 of tokens verified by an earlier run → their claims (at most `capacity`).
    warm: Mutex<HashMap<[u8; 32], Arc<AccessClaims>>>,
    /// Tokens verified since the last `take_fresh`, when recording (at most `capacity`).
    fresh: Option<Mutex<Vec<Verified>>>,
}

/// A token verified by this process: its SHA-256 digest and its claims.
pub type Verified = ([u8; 32], Arc<AccessClaims>);

/// The SHA-256 of a token: what is kept at rest instead of the token.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

struct Inner {
    entries: HashMap<u64, Entry>,
    /// Insertion order as (hash, sequence number); an item whose entry was replaced or swept is
    /// stale and skipped. Compacted so it never holds more than twice the capacity.
    order: VecDeque<(u64, u64)>,
    next_seq: u64,
    /// No entry expires before this second, so a sweep earlier would free nothing.
    earliest_expiry_s: i64,
    /// No sweep before this second (`SWEEP_INTERVAL_S` after the last).
    next_sweep_s: i64,
}

struct Entry {
    confirm: u64,
    claims: Arc<AccessClaims>,
    seq: u64,
}

impl Entry {
    /// The first second at which the entry's token no longer verifies.
    fn expires_at_s(&self) -> i64 {
        self.claims.exp.saturating_add(token_clock_skew_s)
    }
}

impl TokenCache {
    /// A cache of `token_cache_len_max` tokens.
    pub fn new() -> TokenCache {
        TokenCache::with_capacity(token_cache_len_max)
    }

    /// A cache of `capacity` tokens; panics unless `1 <= capacity <= token_cache_len_max`.
    pub fn with_capacity(capacity: usize) -> TokenCache {
        assert!((1..=token_cache_len_max).contains(&capacity), "token cache capacity {capacity} is out of range");
        let inner = Inner {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            earliest_expiry_s: i64::MAX,
            next_sweep_s: i64::MIN,
        };
        TokenCache {
            hasher: RandomState::new(),
            confirm: RandomState::new(),
            capacity,
            inner: Mutex::new(inner),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            warm: Mutex::new(HashMap::new()),
            fresh: None,
        }
    }

    /// A cache that also keeps what it newly verifies for [`TokenCache::take_fresh`].
    pub fn with_recording() -> TokenCache {
        TokenCache { fresh: Some(Mutex::new(Vec::new())), ..TokenCache::new() }
    }

    /// Hands back a token verified by an earlier run (by digest); kept until it is seen again.
    pub fn warm(&self, digest: [u8; 32], claims: AccessClaims) {
        let mut warm = self.warm.lock().unwrap_or_else(PoisonError::into_inner);
        if warm.len() < self.capacity {
            warm.insert(digest, Arc::new(claims));
        }
    }

    /// The tokens verified since the last call (digest and claims), oldest first.
    pub fn take_fresh(&self) -> Vec<Verified> {
        self.fresh
            .as_ref()
            .map(|fresh| std::mem::take(&mut *fresh.lock().unwrap_or_else(PoisonError::into_inner)))
            .unwrap_or_default()
    }

    /// Like [`jwt::verify`], but a token verified before is answered from the cache after the
    /// re-checks in the module documentation. The caller still checks revocation and the grant.
    pub fn verify(
        &self,
        keys: &VerifyingKeys,
        token: &str,
        expect: &Expectations<'_>,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        if token.len() > token_len_max {
            return Err(TokenError::TooLong);
        }
        self.verify_hashed(self.hasher.hash_one(token), keys, token, expect)
    }

    /// (hits, misses) since the cache was made: lookups answered from it, and lookups that had
    /// to verify the signature (whether or not the token then verified).
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// The tokens held now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn verify_hashed(
        &self,
        hash: u64,
        keys: &VerifyingKeys,
        token: &str,
        expect: &Expectations<'_>,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        if let Some(claims) = self.lookup(hash, token) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            if !jwt::header_is_known(keys, token) {
                return Err(TokenError::UnknownKey);
            }
            jwt::check_claims(&claims, expect)?;
            return Ok(claims);
        }
        if let Some(claims) = self.take_warm(token) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            if !jwt::header_is_known(keys, token) {
                return Err(TokenError::UnknownKey);
            }
            jwt::check_claims(&claims, expect)?;
            return Ok(self.insert(hash, token, claims, expect.now.unix_s()));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let claims = Arc::new(jwt::verify(keys, token, expect)?);
        if let Some(fresh) = &self.fresh {
            let mut fresh = fresh.lock().unwrap_or_else(PoisonError::into_inner);
            if fresh.len() < self.capacity {
                fresh.push((token_digest(token), Arc::clone(&claims)));
            }
        }
        Ok(self.insert(hash, token, claims, expect.now.unix_s()))
    }

    /// The warm claims of `token`, removed from the warm set (the cache holds them from now on).
    fn take_warm(&self, token: &str) -> Option<Arc<AccessClaims>> {
        let mut warm = self.warm.lock().unwrap_or_else(PoisonError::into_inner);
        if warm.is_empty() {
            return None;
        }
        warm.remove(&token_digest(token))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent, so a panic elsewhere poisons nothing.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached claims of exactly `token`, if any.
    fn lookup(&self, hash: u64, token: &str) -> Option<Arc<AccessClaims>> {
        let confirm = self.confirm.hash_one(token);
        let inner = self.lock();
        let entry = inner.entries.get(&hash)?;
        (entry.confirm == confirm).then(|| Arc::clone(&entry.claims))
    }

    /// Caches `claims` for `token` and returns the claims now cached for it (another thread may
    /// have inserted the same token first). A colliding entry of another token is replaced.
    fn insert(&self, hash: u64, token: &str, claims: Arc<AccessClaims>, now_s: i64) -> Arc<AccessClaims> {
        let confirm = self.confirm.hash_one(token);
        let mut inner = self.lock();
        match inner.entries.get(&hash) {
            Some(entry) if entry.confirm == confirm => return Arc::clone(&entry.claims),
            Some(_) => {}
            None => inner.make_room(self.capacity, now_s),
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let entry = Entry { confirm, claims: Arc::clone(&claims), seq };
        inner.earliest_expiry_s = inner.earliest_expiry_s.min(entry.expires_at_s());
        inner.entries.insert(hash, entry);
        inner.order.push_back((hash, seq));
        if inner.order.len() > 2 * self.capacity {
            inner.compact_order();
        }
        assert!(inner.entries.len() <= self.capacity, "token cache over its capacity");
        claims
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new()
    }
}

impl Inner {
    /// Frees at least one slot when the cache is full: expired entries first, then the oldest.
    fn make_room(&mut self, capacity: usize, now_s: i64) {
        if self.entries.len() < capacity {
            return;
        }
        if now_s >= self.earliest_expiry_s && now_s >= self.next_sweep_s {
            self.entries.retain(|_, entry| now_s < entry.expires_at_s());
            self.earliest_expiry_s = self.entries.values().map(Entry::expires_at_s).min().unwrap_or(i64::MAX);
            self.next_sweep_s = now_s.saturating_add(SWEEP_INTERVAL_S);
            self.compact_order();
        }
        while self.entries.len() >= capacity {
            let (hash, seq) = self.order.pop_front().expect("a full cache has live entries in its order");
            if self.entries.get(&hash).is_some_and(|entry| entry.seq == seq) {
                self.entries.remove(&hash);
            }
        }
    }

    /// Drops order items whose entry is gone or was replaced.
    fn compact_order(&mut self) {
        let entries = &self.entries;
        self.order.retain(|(hash, seq)| entries.get(hash).is_some_and(|entry| entry.seq == *seq));
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the tokens: they are bearer credentials.
        f.debug_struct("TokenCache").field("len", &self.len()).field("capacity", &self.capacity).finish()
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
