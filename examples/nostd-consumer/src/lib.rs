//! A `no_std` library that uses the core as a user would: closures as objectives, RELAX and
//! REBAR from the presets, and the RNG traits from `relax_core::rand_core` (no version of
//! `rand_core` to match by hand). No allocator, no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::estimator::Estimator;
use relax_core::optim::{Adam, AdamConfig};
use relax_core::rand_core::SeedableRng;
use relax_core::{objective, presets, Error};

/// The paper's toy: minimise `E[(b - target)^2]` over one bit with RELAX; returns
/// `theta = sigmoid(logit)` after `steps` steps (it goes to 0 for `target < 0.5`).
pub fn toy_relax(target: f32, steps: u32, seed: u64) -> Result<f32, Error> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut f = |b: &[f32; 1]| (b[0] - target) * (b[0] - target);
    let mut relax = presets::toy_relax(&mut rng)?;
    let mut logit = [0.0f32];
    let mut adam = Adam::<1>::new(AdamConfig::new(0.01))?;
    for _ in 0..steps {
        let e = relax.estimate(&logit, &mut f, &mut rng)?;
        adam.step(&mut logit, &e.grad)?;
    }
    Ok(relax_core::math::sigmoid(logit[0]))
}

/// Bits in [`fit_bits`].
pub const D: usize = 4;

/// `D` bits, `f(b) = sum_i (b_i - t_i)^2`, minimised with RELAX on a network of 16 units
/// (`bernoulli_relax!` derives the network's parameter count; the sizes must be constants,
/// not generic parameters) or with REBAR, which also needs the relaxed `f(x)` and `df/dx`:
/// one closure gives both. Returns the probabilities.
pub fn fit_bits(t: [f32; D], rebar: bool, steps: u32, seed: u64) -> Result<[f32; D], Error> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut f = objective::with_grad(|x: &[f32; D]| {
        let d: [f32; D] = core::array::from_fn(|i| x[i] - t[i]);
        (d.iter().map(|v| v * v).sum(), d.map(|v| 2.0 * v))
    });
    let mut logits = [0.0f32; D];
    let mut adam = Adam::<D>::new(AdamConfig::new(0.05))?;
    if rebar {
        let mut est = presets::bernoulli_rebar(0.01)?;
        for _ in 0..steps {
            let e = est.estimate(&logits, &mut f, &mut rng)?;
            adam.step(&mut logits, &e.grad)?;
        }
    } else {
        let mut est: relax_core::bernoulli_relax!(D, 16) =
            presets::bernoulli_relax(0.01, &mut rng)?;
        for _ in 0..steps {
            let e = est.estimate(&logits, &mut f, &mut rng)?;
            adam.step(&mut logits, &e.grad)?;
        }
    }
    Ok(logits.map(relax_core::math::sigmoid))
}

#[cfg(test)]
mod tests {
    #[test]
    fn relax_solves_the_toy() {
        let theta = super::toy_relax(0.499, 10_000, 0).unwrap();
        assert!(theta < 0.1, "theta = {theta}");
    }

    #[test]
    fn relax_and_rebar_fit_the_bits() {
        for rebar in [false, true] {
            let p = super::fit_bits([0.1, 0.9, 0.2, 0.8], rebar, 3000, 1).unwrap();
            let want = [false, true, false, true];
            for i in 0..super::D {
                assert_eq!(p[i] > 0.5, want[i], "rebar {rebar}: {p:?}");
            }
        }
    }
}
