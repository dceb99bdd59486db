//! Time: `Timestamp` (UTC, milliseconds) and the one injectable `Clock`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A UTC instant with millisecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_unix_ms(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn unix_ms(&self) -> i64 {
        self.0
    }

    pub fn unix_s(&self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_s(&self, seconds: i64) -> Self {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    pub fn minus_s(&self, seconds: i64) -> Self {
        Timestamp(self.0.saturating_sub(seconds.saturating_mul(1000)))
    }

    /// RFC 3339 in UTC with a `Z` suffix, as on the wire.
    pub fn to_rfc3339(&self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "invalid-time".to_owned())
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok().map(Timestamp)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Where "now" comes from. Production reads the system clock; tests move a manual one.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The shared handle every component holds.
pub type ClockHandle = Arc<dyn Clock>;

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
    }
}

/// A clock that starts at the system time and moves only when told, for tests.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn starting_now() -> Arc<Self> {
        Arc::new(ManualClock { now_ms: AtomicI64::new(SystemClock.now().unix_ms()) })
    }

    pub fn advance_s(&self, seconds: i64) {
        self.now_ms.fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_in_utc() {
        // Proves the wire time format is RFC 3339 UTC and parses back to the same instant.
        let t = Timestamp::from_unix_ms(1_700_000_000_123);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        // Proves tests can move time deterministically.
        let clock = ManualClock::starting_now();
        let start = clock.now();
        clock.advance_s(90);
        assert_eq!(clock.now(), start.plus_s(90));
    }
}
