//! Independent random streams from one user seed.
//!
//! Every run of an experiment draws from its own Xoshiro128++ generator (the generator the
//! core's tests and the firmware use), seeded from `(seed, stream)` through SplitMix64 so
//! that neighbouring seeds and streams give unrelated generators. Measurement draws (the
//! 1000-sample variance) come from a stream of their own, so measuring more or less often
//! never changes a training trajectory.

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// SplitMix64's finaliser: a bijective 64-bit mix.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator of stream `stream` under user seed `seed`.
pub fn rng(seed: u64, stream: u64) -> Xoshiro128PlusPlus {
    Xoshiro128PlusPlus::seed_from_u64(splitmix64(splitmix64(seed) ^ stream))
}
