//! The bag encoder's feature hashing, shared with the ONNX export (which computes the same
//! buckets inside the graph, so the constants are public).

/// SplitMix64's increment.
pub const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
/// SplitMix64's first multiplier.
pub const MUL1: u64 = 0xBF58_476D_1CE4_E5B9;
/// SplitMix64's second multiplier.
pub const MUL2: u64 = 0x94D0_49BB_1331_11EB;
/// Right shifts of the three xor-shift steps.
pub const SHIFTS: [u64; 3] = [30, 27, 31];
/// XORed into a bigram key so bigrams and unigrams hash from disjoint key spaces.
pub const BIGRAM_SALT: u64 = 0xB16B_A5ED_0000_0000;

/// SplitMix64 finalizer: a fixed, process-independent hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(MIX);
    z = (z ^ (z >> SHIFTS[0])).wrapping_mul(MUL1);
    z = (z ^ (z >> SHIFTS[1])).wrapping_mul(MUL2);
    z ^ (z >> SHIFTS[2])
}

/// Bucket of a unigram (token id) feature.
pub fn unigram_bucket(id: u32, buckets: usize) -> usize {
    (mix(u64::from(id)) % buckets as u64) as usize
}

/// Key of a bigram (consecutive ids `a`, `b`): `(a << 32 | b) ^ BIGRAM_SALT`.
pub fn bigram_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32 | u64::from(b)) ^ BIGRAM_SALT
}

/// Bucket of a bigram feature: `mix(mix(key)) % buckets`.
pub fn bigram_bucket(a: u32, b: u32, buckets: usize) -> usize {
    (mix(mix(bigram_key(a, b))) % buckets as u64) as usize
}
