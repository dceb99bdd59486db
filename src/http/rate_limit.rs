//! Token-bucket rate limits keyed by a string (an email, an address, a client id), on the
//! injectable clock so tests can move time. Bounded: idle buckets are dropped when full.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::vocab::time::Timestamp;

#[derive(Debug)]
struct Bucket {
    /// Tokens scaled by the window in ms: a request costs `window_ms`, each ms adds `burst`.
    units: u64,
    updated_ms: i64,
}

/// `burst` requests at once, refilled at `burst` per `window_s`. Integer arithmetic only.
#[derive(Debug)]
pub struct RateLimiter {
    burst: u64,
    window_ms: u64,
    keys_max: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(burst: u32, window_s: u32, keys_max: usize) -> Self {
        RateLimiter {
            burst: u64::from(burst.max(1)),
            window_ms: u64::from(window_s.max(1)) * 1000,
            keys_max,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn capacity(&self) -> u64 {
        self.burst * self.window_ms
    }

    fn refilled(&self, bucket: &Bucket, now_ms: i64) -> u64 {
        let elapsed = u64::try_from(now_ms - bucket.updated_ms).unwrap_or(0);
        bucket.units.saturating_add(elapsed.saturating_mul(self.burst)).min(self.capacity())
    }

    /// Takes one token for `key`; `Err(retry_after_s)` when none is left.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        let now_ms = now.unix_ms();
        if buckets.len() >= self.keys_max && !buckets.contains_key(key) {
            let capacity = self.capacity();
            buckets.retain(|_, b| self.refilled(b, now_ms) < capacity);
            if buckets.len() >= self.keys_max {
                // Still full of active keys: refuse newcomers rather than grow without bound.
                return Err(1);
            }
        }
        let capacity = self.capacity();
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { units: capacity, updated_ms: now_ms });
        bucket.units = self.refilled(bucket, now_ms);
        bucket.updated_ms = now_ms;
        if bucket.units >= self.window_ms {
            bucket.units -= self.window_ms;
            Ok(())
        } else {
            let wait_ms = (self.window_ms - bucket.units).div_ceil(self.burst);
            Err(wait_ms.div_ceil(1000).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_for_refill() {
        // Proves the burst, the refusal with a retry time, the refill, and that keys are independent.
        let limiter = RateLimiter::new(3, 60, 100);
        let t0 = Timestamp::from_unix_ms(1_000_000);
        for _ in 0..3 {
            assert_eq!(limiter.check("ann", t0), Ok(()));
        }
        assert_eq!(limiter.check("ann", t0), Err(20));
        assert_eq!(limiter.check("bob", t0), Ok(()));
        assert_eq!(limiter.check("ann", t0.plus_s(20)), Ok(()));
        assert!(limiter.check("ann", t0.plus_s(20)).is_err());
    }

    #[test]
    fn the_number_of_keys_is_bounded() {
        // Proves a flood of distinct keys cannot grow the map past its bound.
        let limiter = RateLimiter::new(1, 60, 10);
        let t0 = Timestamp::from_unix_ms(0);
        for i in 0..10 {
            assert_eq!(limiter.check(&format!("k{i}"), t0), Ok(()));
        }
        assert!(limiter.check("newcomer", t0).is_err());
        assert_eq!(limiter.check("newcomer", t0.plus_s(61)), Ok(()));
    }
}
