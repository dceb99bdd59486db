//! Capped exponential backoff for the sidecar's calls to central after a failure.

use std::time::Duration;

use crate::vocab::limits::{sync_backoff_ms_max, sync_backoff_ms_min};

/// Capped exponential backoff: `sync_backoff_ms_min`, doubling, at most `sync_backoff_ms_max`.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u64 << self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(sync_backoff_ms_min.saturating_mul(factor).min(sync_backoff_ms_max))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        // Proves reconnect delays grow exponentially from the minimum, never pass the cap, and reset.
        let mut backoff = Backoff::default();
        let first: Vec<u64> = (0..4).map(|_| backoff.next_delay().as_millis() as u64).collect();
        assert_eq!(
            first,
            [sync_backoff_ms_min, 2 * sync_backoff_ms_min, 4 * sync_backoff_ms_min, 8 * sync_backoff_ms_min]
        );
        for _ in 0..100 {
            assert!(backoff.next_delay().as_millis() as u64 <= sync_backoff_ms_max);
        }
        backoff.reset();
        assert_eq!(backoff.next_delay().as_millis() as u64, sync_backoff_ms_min);
    }
}
