//! The one source of randomness: the operating system's CSPRNG.

/// `N` bytes from the OS random number generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS RNG failing means the machine cannot make secrets at all; nothing sensible remains.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator is unavailable");
    bytes
}
