//! Counters and gauges of one sidecar, rendered as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::storage::sidecar::money::LocalLease;
use crate::vocab::money::Amount;

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

/// How a money-moving billing call ended at the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyOutcome {
    Accepted,
    InsufficientFunds,
    CentralUnavailable,
    Refused,
}

impl MoneyOutcome {
    const ALL: [MoneyOutcome; 4] = [
        MoneyOutcome::Accepted,
        MoneyOutcome::InsufficientFunds,
        MoneyOutcome::CentralUnavailable,
        MoneyOutcome::Refused,
    ];

    fn label(self) -> &'static str {
        match self {
            MoneyOutcome::Accepted => "accepted",
            MoneyOutcome::InsufficientFunds => "insufficient_funds",
            MoneyOutcome::CentralUnavailable => "central_unavailable",
            MoneyOutcome::Refused => "refused",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    money: [AtomicU64; MoneyOutcome::ALL.len()],
    /// Lease calls made to central on the request path (open or renew).
    pub lease_calls: AtomicU64,
    pub usage_batches: AtomicU64,
    pub usage_acked: AtomicU64,
    pub usage_rejected: AtomicU64,
    /// Usage records waiting for central's ack, as of the flusher's last look.
    pub outbox_depth: AtomicU64,
    /// For the newest revocation applied (token revoked, grant revoked or suspended): ms
    /// between central recording it and the sidecar applying it.
    pub revocation_lag_ms: AtomicI64,
    /// (leases, Σ ceilings, Σ unused) as of the keeper's last look.
    leases: Mutex<(u64, Amount, Amount)>,
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

    pub fn money(&self, outcome: MoneyOutcome) {
        self.money[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn note_leases(&self, leases: &[LocalLease]) {
        let add = |a: Amount, b: Amount| a.checked_add(b).unwrap_or(a);
        let ceiling = leases.iter().fold(Amount::ZERO, |total, l| add(total, l.ceiling));
        let unused = leases.iter().fold(Amount::ZERO, |total, l| add(total, l.unused()));
        *self.leases.lock().unwrap_or_else(PoisonError::into_inner) = (leases.len() as u64, ceiling, unused);
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
        out.push_str("# HELP protus_sidecar_money_decisions_total Holds, captures, releases and charges by outcome.\n");
        out.push_str("# TYPE protus_sidecar_money_decisions_total counter\n");
        for outcome in MoneyOutcome::ALL {
            let count = self.money[outcome as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "protus_sidecar_money_decisions_total{{outcome=\"{}\"}} {count}", outcome.label());
        }
        let (leases, ceiling, unused) = *self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, help, value) in [
            ("lease_ceiling", "Sum of the ceilings of the leases held.", ceiling),
            ("lease_unused", "Sum of what the leases held have left for new holds and charges.", unused),
        ] {
            let _ = writeln!(
                out,
                "# HELP protus_sidecar_{name} {help}\n# TYPE protus_sidecar_{name} gauge\nprotus_sidecar_{name} {}",
                value.to_stored()
            );
        }
        let last_sync = self.last_sync_unix_ms.load(Ordering::Relaxed);
        let sync_lag = if last_sync == 0 { -1 } else { now_ms.saturating_sub(last_sync).max(0) };
        let gauges: [(&str, &str, &str, i128); 15] = [
            ("leases", "gauge", "Leases held.", leases.into()),
            (
                "lease_calls_total",
                "counter",
                "Lease calls to central on the request path.",
                self.lease_calls.load(Ordering::Relaxed).into(),
            ),
            (
                "usage_outbox_depth",
                "gauge",
                "Usage records waiting for central.",
                self.outbox_depth.load(Ordering::Relaxed).into(),
            ),
            (
                "usage_batches_total",
                "counter",
                "Usage batches central acknowledged.",
                self.usage_batches.load(Ordering::Relaxed).into(),
            ),
            (
                "usage_records_acked_total",
                "counter",
                "Usage records central acknowledged.",
                self.usage_acked.load(Ordering::Relaxed).into(),
            ),
            (
                "usage_records_rejected_total",
                "counter",
                "Usage records central quarantined.",
                self.usage_rejected.load(Ordering::Relaxed).into(),
            ),
            (
                "revocation_lag_ms",
                "gauge",
                "Central's record to local apply, for the newest revocation.",
                self.revocation_lag_ms.load(Ordering::Relaxed).into(),
            ),
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
