//! A small seeded PRNG (SplitMix64). The simulator needs reproducible runs,
//! not cryptographic randomness, and no dependency for it.
//!
//! The core never seeds one from the clock or the OS: whoever runs it passes
//! the seed in, so a run is replayed exactly from its seed. Never use it for
//! secrets (tokens, keys): its output is predictable from a few values.

/// SplitMix64: fast, passes BigCrush, one `u64` of state.
///
/// The same seed gives the same sequence on every platform and release that
/// keeps this algorithm; cloning forks the sequence.
///
/// ```rust
/// use tritium_core::rng::Rng;
///
/// let mut a = Rng::new(42);
/// let mut b = Rng::new(42);
/// assert_eq!(a.next_u64(), b.next_u64()); // reproducible by seed
///
/// let jitter = a.f64(); // e.g. a backoff factor
/// assert!((0.0..1.0).contains(&jitter));
/// assert!(a.below(6) < 6);
/// assert_eq!(a.weighted(&[0, 5, 0]), 1); // zero weights are never chosen
/// let id = a.uuid();
/// assert_eq!((id.len(), &id[14..15]), (36, "4"));
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator at the start of the sequence of `seed` (any value,
    /// 0 included).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, n)`; `n > 0` (debug builds assert it; release builds
    /// return 0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        // Lemire's multiply-shift; the tiny bias is irrelevant here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Index chosen with the given weights: `i` with probability
    /// `weights[i] / sum`. When every weight is zero it returns the last
    /// index. `weights` must not be empty (there is no index to return).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total.max(1));
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }

    /// A random (version 4 shaped) UUID string.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// 16 random bytes (status update uuids).
    pub fn uuid_bytes(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn ranges_hold() {
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7);
            let f = r.f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(r.uuid().len(), 36);
    }
}
