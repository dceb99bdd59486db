//! Counters and gauges of one sidecar, rendered as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// How a permission check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    InsufficientScope,
    InvalidToken,
    Unauthorized,
    InvalidRequest,
    NotReady,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Allowed,
        Outcome::InsufficientScope,
        Outcome::InvalidToken,
        Outcome::Unauthorized,
        Outcome::InvalidRequest,
        Outcome::NotReady,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::InvalidToken => "invalid_token",
            Outcome::Unauthorized => "unauthorized",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::NotReady => "not_ready",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    decisions: [AtomicU64; Outcome::ALL.len()],
    /// The feed cursor the stored state is current to.
    pub cursor: AtomicU64,
    /// Unix ms of the last answer from central (snapshot or feed page); 0 before the first.
    pub last_sync_unix_ms: AtomicI64,
    /// For the newest event applied: ms between central recording it and the sidecar applying it.
    pub last_event_lag_ms: AtomicI64,
    pub events_applied: AtomicU64,
    pub snapshots_applied: AtomicU64,
    pub sync_failures: AtomicU64,
}

impl Metrics {
    pub fn decided(&self, outcome: Outcome) {
        self.decisions[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition (version 0.0.4).
    pub fn render(&self, now_ms: i64, cache_hits: u64, cache_misses: u64, ready: bool) -> String {
        let mut out = String::new();
        out.push_str("# HELP protus_sidecar_permission_decisions_total Permission checks by outcome.\n");
        out.push_str("# TYPE protus_sidecar_permission_decisions_total counter\n");
        for outcome in Outcome::ALL {
            let count = self.decisions[outcome as usize].load(Ordering::Relaxed);
            let _ =
                writeln!(out, "protus_sidecar_permission_decisions_total{{outcome=\"{}\"}} {count}", outcome.label());
        }
        let last_sync = self.last_sync_unix_ms.load(Ordering::Relaxed);
        let sync_lag = if last_sync == 0 { -1 } else { now_ms.saturating_sub(last_sync).max(0) };
        let gauges: [(&str, &str, &str, i128); 8] = [
            ("token_cache_hits_total", "counter", "Token checks answered from the cache.", cache_hits.into()),
            ("token_cache_misses_total", "counter", "Token checks that verified a signature.", cache_misses.into()),
            (
                "feed_cursor",
                "gauge",
                "The feed cursor the local state is current to.",
                self.cursor.load(Ordering::Relaxed).into(),
            ),
            (
                "sync_lag_ms",
                "gauge",
                "Milliseconds since the last answer from central (-1: none yet).",
                sync_lag.into(),
            ),
            (
                "feed_event_lag_ms",
                "gauge",
                "Central's record to local apply, for the newest event.",
                self.last_event_lag_ms.load(Ordering::Relaxed).into(),
            ),
            (
                "feed_events_applied_total",
                "counter",
                "Feed events applied.",
                self.events_applied.load(Ordering::Relaxed).into(),
            ),
            (
                "snapshots_applied_total",
                "counter",
                "Snapshots applied.",
                self.snapshots_applied.load(Ordering::Relaxed).into(),
            ),
            (
                "sync_failures_total",
                "counter",
                "Failed calls to central.",
                self.sync_failures.load(Ordering::Relaxed).into(),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP protus_sidecar_{name} {help}\n# TYPE protus_sidecar_{name} {kind}\nprotus_sidecar_{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP protus_sidecar_ready 1 once ready to answer.\n# TYPE protus_sidecar_ready gauge\nprotus_sidecar_ready {}",
            u8::from(ready)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_is_rendered_with_its_count() {
        // Proves each decision outcome appears as a labelled counter with the number recorded.
        let metrics = Metrics::default();
        metrics.decided(Outcome::Allowed);
        metrics.decided(Outcome::Allowed);
        metrics.decided(Outcome::InvalidToken);
        let text = metrics.render(1_000, 3, 4, true);
        assert!(text.contains("protus_sidecar_permission_decisions_total{outcome=\"allowed\"} 2"), "{text}");
        assert!(text.contains("protus_sidecar_permission_decisions_total{outcome=\"invalid_token\"} 1"), "{text}");
        assert!(text.contains("protus_sidecar_permission_decisions_total{outcome=\"insufficient_scope\"} 0"), "{text}");
        assert!(text.contains("protus_sidecar_token_cache_hits_total 3"), "{text}");
        assert!(text.contains("protus_sidecar_sync_lag_ms -1"), "{text}");
        assert!(text.contains("protus_sidecar_ready 1"), "{text}");
    }
}
