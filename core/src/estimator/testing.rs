//! Shared helpers of the enumeration tests of the NVIL, MuProp and DisARM step functions and
//! of the control variates:
//! the reference code's test problem `f(b) = sum_i (b_i - t_i)^2` and the exact gradient by
//! enumerating all `2^D` states.

extern crate std;
use std::println;

use super::{Estimator, Objective, RelaxedObjective};
use crate::dist::{Bernoulli, Relaxed};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

pub(crate) const N_SAMPLES: usize = 100_000;
pub(crate) const TARGET: [f32; 3] = [0.2, 0.55, 0.9];

/// `f(b) = sum (b_i - t_i)^2`, relaxed the same way (gradient only, no Hessian).
#[derive(Clone, Copy)]
pub(crate) struct Quad<const D: usize> {
    pub t: [f32; D],
}

impl<const D: usize> Objective<D> for Quad<D> {
    fn value(&mut self, b: &[f32; D]) -> f32 {
        b.iter().zip(&self.t).map(|(x, t)| (x - t) * (x - t)).sum()
    }
}

impl<const D: usize> RelaxedObjective<D> for Quad<D> {
    fn relaxed(&mut self, x: &[f32; D], grad: &mut [f32; D]) -> f32 {
        for i in 0..D {
            grad[i] = 2.0 * (x[i] - self.t[i]);
        }
        self.value(x)
    }
}

/// `d/dl E[f(b)]` by enumeration, in f64.
pub(crate) fn exact_bernoulli<const D: usize, O: Objective<D>>(
    l: &[f32; D],
    f: &mut O,
) -> [f64; D] {
    let mut g = [0.0f64; D];
    for mask in 0..(1u32 << D) {
        let b: [f32; D] = core::array::from_fn(|i| ((mask >> i) & 1) as f32);
        let lp = Bernoulli::<D>::log_prob(l, &b) as f64;
        let fb = f.value(&b) as f64;
        let s = Bernoulli::<D>::score(l, &b);
        for i in 0..D {
            g[i] += lp.exp() * fb * s[i] as f64;
        }
    }
    g
}

/// Mean and variance of `n` estimates, per coordinate.
pub(crate) fn sample_stats<const D: usize, O, E: Estimator<D, O>>(
    est: &mut E,
    l: &[f32; D],
    f: &mut O,
    seed: u64,
    n: usize,
) -> ([f64; D], [f64; D]) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut s1 = [0.0f64; D];
    let mut s2 = [0.0f64; D];
    for _ in 0..n {
        let e = est.estimate(l, f, &mut rng).expect("estimate");
        for i in 0..D {
            let g = e.grad[i] as f64;
            s1[i] += g;
            s2[i] += g * g;
        }
    }
    let mean: [f64; D] = core::array::from_fn(|i| s1[i] / n as f64);
    let var = core::array::from_fn(|i| (s2[i] / n as f64 - mean[i] * mean[i]).max(0.0));
    (mean, var)
}

/// The largest |(mean - exact) / standard error| over coordinates.
pub(crate) fn max_z<const D: usize>(
    mean: &[f64; D],
    var: &[f64; D],
    n: usize,
    exact: &[f64; D],
) -> f64 {
    let mut worst = 0.0f64;
    for i in 0..D {
        let se = (var[i] / n as f64).sqrt();
        let d = mean[i] - exact[i];
        let z = if se > 0.0 {
            d / se
        } else if d.abs() < 1e-7 {
            0.0
        } else {
            f64::INFINITY
        };
        worst = worst.max(z.abs());
    }
    worst
}

/// Asserts that the mean of [`N_SAMPLES`] estimates is within 4 standard errors of `exact`.
pub(crate) fn assert_unbiased<const D: usize, O, E: Estimator<D, O>>(
    name: &str,
    est: &mut E,
    l: &[f32; D],
    f: &mut O,
    exact: &[f64; D],
    seed: u64,
) -> f64 {
    let (mean, var) = sample_stats(est, l, f, seed, N_SAMPLES);
    let z = max_z(&mean, &var, N_SAMPLES, exact);
    println!(
        "{name:<24} logits {l:?}: max |z| = {z:.2}, mean var = {:.3e}",
        var.iter().sum::<f64>() / D as f64
    );
    assert!(
        z < 4.0,
        "{name} at {l:?}: mean {mean:?} vs exact {exact:?}, max |z| = {z:.2} >= 4"
    );
    z
}

/// The three `D = 3` logit vectors of the Bernoulli enumeration tests (the same as
/// `tests.rs`): a random draw, a mix with saturated coordinates, and all saturated.
pub(crate) fn bernoulli_logits3() -> [[f32; 3]; 3] {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2024);
    let r: [f32; 3] = core::array::from_fn(|_| 4.0 * crate::math::uniform_open(&mut rng) - 2.0);
    [r, [8.0, -0.4, 1.1], [-8.0, 7.9, -8.2]]
}

/// [`assert_unbiased`] at each of [`bernoulli_logits3`] on [`Quad`] with [`TARGET`], a fresh
/// estimator from `make` for each (seeds `seed`, `seed + 1`, ...); prints and returns the
/// largest |z|.
pub(crate) fn max_z_over_logits3<E: Estimator<3, Quad<3>>>(
    name: &str,
    seed: u64,
    mut make: impl FnMut(&[f32; 3]) -> E,
) -> f64 {
    let mut worst = 0.0f64;
    for (li, l) in bernoulli_logits3().iter().enumerate() {
        let mut f = Quad { t: TARGET };
        let exact = exact_bernoulli(l, &mut f);
        let mut est = make(l);
        let z = assert_unbiased(name, &mut est, l, &mut f, &exact, seed + li as u64);
        worst = worst.max(z);
    }
    println!("max |z| {name}: {worst:.2}");
    worst
}

/// `d/dl E[f(b)]` for `D` independent categoricals of `K` classes (`N = D * K` logits) by
/// enumerating all `K^D` joint classes, in f64.
pub(crate) fn exact_product<const D: usize, const K: usize, const N: usize, O: Objective<N>>(
    l: &[f32; N],
    f: &mut O,
) -> [f64; N] {
    use crate::dist::CategoricalProduct;
    let mut g = [0.0f64; N];
    for idx in 0..K.pow(D as u32) {
        let classes: [usize; D] = core::array::from_fn(|d| (idx / K.pow(d as u32)) % K);
        let b = CategoricalProduct::<D, K, N>::one_hot(&classes);
        let lp = CategoricalProduct::<D, K, N>::log_prob(l, &b) as f64;
        let fb = f.value(&b) as f64;
        let s = CategoricalProduct::<D, K, N>::score(l, &b);
        for i in 0..N {
            g[i] += lp.exp() * fb * s[i] as f64;
        }
    }
    g
}

/// A random joint table over the `K^D` classes of `D` categoricals (`T <= 64` entries, values
/// in `[-1, 1)`), as an objective: `f(b) = table[c_0 + K c_1 + ...]`. Not additive over the
/// variables, so their interactions matter.
pub(crate) fn joint_table<const D: usize, const K: usize, const N: usize>(
    seed: u64,
) -> impl FnMut(&[f32; N]) -> f32 + Copy {
    use crate::dist::CategoricalProduct;
    assert!(K.pow(D as u32) <= 64);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let table: [f32; 64] =
        core::array::from_fn(|_| 2.0 * crate::math::uniform_open(&mut rng) - 1.0);
    move |b: &[f32; N]| {
        let c = CategoricalProduct::<D, K, N>::classes(b);
        let idx: usize = (0..D).map(|d| c[d] * K.pow(d as u32)).sum();
        table[idx]
    }
}
