//! The machine's monotonic clock, for lease and hold deadlines at the sidecar (DESIGN §7): it
//! never jumps with the wall clock, and since it counts from boot its readings stay comparable
//! across a restart of the process. It is `CLOCK_BOOTTIME`, which also counts time the machine
//! spent suspended (`CLOCK_MONOTONIC` stops then, and a lease central already expired would look
//! alive after a long suspend). A reading is only meaningful within one boot, so stored
//! deadlines carry the boot id and are treated as past after a reboot.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Milliseconds on the monotonic clock of the current boot.
pub trait MonoClock: Send + Sync + fmt::Debug {
    fn now_ms(&self) -> u64;
}

pub type MonoHandle = Arc<dyn MonoClock>;

/// `CLOCK_BOOTTIME`: monotonic, including suspended time.
#[derive(Debug, Default)]
pub struct SystemMono;

impl MonoClock for SystemMono {
    fn now_ms(&self) -> u64 {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
        let millis = u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000_000;
        seconds.saturating_mul(1000).saturating_add(millis)
    }
}

/// A monotonic clock that moves only when told, for tests.
#[derive(Debug, Default)]
pub struct ManualMono {
    now_ms: AtomicU64,
}

impl ManualMono {
    pub fn starting_at(ms: u64) -> Arc<Self> {
        Arc::new(ManualMono { now_ms: AtomicU64::new(ms) })
    }

    pub fn advance_s(&self, seconds: u64) {
        self.now_ms.fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl MonoClock for ManualMono {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// This boot's id (Linux `boot_id`); when it cannot be read, a fresh random id, so readings
/// stored by an earlier process count as from another boot (deadlines past: the safe side).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .ok()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("random-{}", hex::encode(crate::vocab::rng::random_bytes::<16>())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_never_goes_back_and_the_boot_id_is_stable() {
        // Proves consecutive readings are non-decreasing and the boot id reads the same twice.
        let first = SystemMono.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = SystemMono.now_ms();
        assert!(second >= first + 4, "{first} then {second}");
        assert_eq!(boot_id(), boot_id());
    }
}
