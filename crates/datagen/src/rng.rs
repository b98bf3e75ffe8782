//! Seeded randomness helpers. Everything goes through [`Gen`] so that a seed
//! fully determines the output on every machine (ChaCha8 is portable, and we
//! only draw `u32` ranges and `f64`s).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random source with the small helpers the generator needs.
pub struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    /// A generator for `seed`, with a per-stream salt so that separate output
    /// files draw from independent streams.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mixed = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Gen {
            rng: ChaCha8Rng::seed_from_u64(mixed),
        }
    }

    /// Uniform index in `0..n` (`n` must be > 0).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        self.rng.random_range(0..n) as usize
    }

    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.random_range(lo..=hi)
    }

    /// Uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Index chosen with probability proportional to `weights`.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut r = self.int(0, total.max(1) - 1);
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
}
