//! The one source of randomness: the operating system's CSPRNG, read directly for secrets and
//! keys, and through a small per-thread pool of its bytes for ids.

use std::cell::RefCell;

/// Bytes fetched from the OS at once for a thread's id pool: 32 time-ordered ids' worth.
const ID_POOL_BYTES: usize = 320;

/// `N` bytes from the OS random number generator, read for this call.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_from_os(&mut bytes);
    bytes
}

/// `N` bytes from the OS random number generator, taken from this thread's pool of its output.
/// For ids: the bytes are as unpredictable as `random_bytes`', but a pool refill is one system
/// call for many ids instead of one each (a writer makes two ids per hold and capture; the
/// calls were 2.5 % of the sidecar writer's time, BENCHMARKS.md). Not for secrets or keys:
/// bytes wait in memory before their use. The process never forks without `exec`, so no two
/// processes share a pool.
pub fn id_bytes<const N: usize>() -> [u8; N] {
    const { assert!(N <= ID_POOL_BYTES) };
    thread_local! {
        static POOL: RefCell<IdPool> = const { RefCell::new(IdPool { bytes: [0; ID_POOL_BYTES], used: ID_POOL_BYTES }) };
    }
    POOL.with_borrow_mut(|pool| {
        if ID_POOL_BYTES - pool.used < N {
            fill_from_os(&mut pool.bytes);
            pool.used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&pool.bytes[pool.used..pool.used + N]);
        // Handed out once: the pool forgets what it gave.
        pool.bytes[pool.used..pool.used + N].fill(0);
        pool.used += N;
        out
    })
}

/// OS random bytes not handed out yet, and how many of `bytes` are used.
struct IdPool {
    bytes: [u8; ID_POOL_BYTES],
    used: usize,
}

fn fill_from_os(bytes: &mut [u8]) {
    // The OS RNG failing means the machine cannot make secrets at all; nothing sensible remains.
    getrandom::fill(bytes).expect("the operating system's random number generator is unavailable");
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn pooled_bytes_are_never_handed_out_twice_across_refills() {
        // 10-byte draws over many refills (320 is a multiple of 10) and 16-byte ones that do
        // not divide it, which must refill before running past the pool's end.
        let tens: HashSet<[u8; 10]> = (0..1000).map(|_| id_bytes::<10>()).collect();
        assert_eq!(tens.len(), 1000, "a repeated 80-bit draw means bytes were reused");
        let sixteens: HashSet<[u8; 16]> = (0..1000).map(|_| id_bytes::<16>()).collect();
        assert_eq!(sixteens.len(), 1000);
        assert!(!sixteens.contains(&[0u8; 16]), "a zeroed (already used) slice was handed out");
    }

    #[test]
    fn each_thread_draws_its_own_bytes() {
        let draw = || (0..64).map(|_| id_bytes::<10>()).collect::<Vec<_>>();
        let other = std::thread::spawn(draw).join().expect("thread");
        let here: HashSet<_> = draw().into_iter().collect();
        assert!(other.iter().all(|bytes| !here.contains(bytes)));
    }
}
