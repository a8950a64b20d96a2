//! `relax compare`: the estimators side by side at equal cost. For each problem and each
//! budget of `m` evaluations of `f` per gradient estimate (2, 3, 4), the per-coordinate
//! variance of every estimator that can spend exactly `m`: a multi-sample estimator is built
//! with `m` samples (RLOO with `K = m`), and an estimator of fixed cost `c` dividing `m` is
//! averaged over `m / c` independent estimates (DisARM at 4 is the mean of two pairs).
//! Relaxed evaluations `f(x)` count as evaluations (REBAR: 1 + 2 = 3), network evaluations
//! of a learned control variate do not.
//!
//! The problems (all `f(b) = sum_i (b_i - t_i)^2`, exact gradient in closed form):
//! - `toy`: one bit, `t = 0.499`, at `theta = sigmoid(l) = 0.5` (the paper's section 6.1);
//! - `wide`: 200 bits, `t_i` spaced over `[0, 1]`, logits spaced over `[-2, 2]` (the bench's
//!   stand-in for a VAE layer);
//! - `categorical`: one 4-way categorical (one-hot `b`), `t = (0.1, 0.6, 0.3, 0.9)`, logits
//!   `(0.4, -0.2, 0.1, -0.6)`.
//!
//! Every estimator first runs `--warmup` estimates at the problem's logits (training a
//! learned control variate, settling REINFORCE's moving-average baseline); learned parts are
//! then frozen and measured. Every case also reports the largest |z| of
//! its mean against the exact gradient (unbiased estimators stay small; Concrete-like ones
//! would not), and the estimator's own count of evaluations is checked against the budget.

pub mod cases;
pub mod cli;

pub use cli::{run, CompareArgs};

use crate::estimators::BernoulliEstimator;
use crate::objective::Quadratic;
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use serde::Serialize;

/// The problems, in table order.
pub const PROBLEMS: [&str; 3] = ["toy", "wide", "categorical"];
/// The budgets of evaluations of `f` per estimate.
pub const BUDGETS: [u32; 3] = [2, 3, 4];

/// Builds one estimator of a case, drawing any network initialisation from the generator.
pub type Build<const N: usize> =
    Box<dyn Fn(&mut Xoshiro128PlusPlus) -> Result<Box<dyn BernoulliEstimator<N>>>>;

/// One estimator at one budget.
pub struct Case<const N: usize> {
    /// Registry name of the estimator (its label, colour and unbiasedness).
    pub name: &'static str,
    /// How it spends the budget (`K = 3`, `mean of 2`).
    pub form: String,
    /// Evaluations of `f` (hard and relaxed) per call of the estimator.
    pub cost: u32,
    /// Calls averaged into one estimate (`budget / cost`).
    pub reps: u32,
    /// Its builder.
    pub build: Build<N>,
}

/// Settings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CompareConfig {
    /// Estimates per case.
    pub samples: u64,
    /// Training estimates of a learned control variate before it is frozen.
    pub warmup: u64,
    /// Seed of every random stream.
    pub seed: u64,
}

/// One measured case.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `toy`, `wide` or `categorical`.
    pub problem: &'static str,
    /// Evaluations of `f` per estimate.
    pub budget: u32,
    /// Registry name.
    pub estimator: &'static str,
    /// Display name.
    pub label: &'static str,
    /// How it spends the budget.
    pub form: String,
    /// Whether the registry lists it as unbiased.
    pub unbiased: bool,
    /// Mean over coordinates of the variance of one estimate.
    pub variance: f64,
    /// That variance relative to REINFORCE's (moving-average baseline) at the same budget.
    pub vs_reinforce: f64,
    /// Largest |mean - exact| / standard error over coordinates.
    pub max_abs_z: f64,
}

/// The exact gradient of `E[f(b)]` for the quadratic of `f` at `logits`, Bernoulli bits:
/// `p_i (1 - p_i) (1 - 2 t_i)`.
pub fn exact_bernoulli<const N: usize>(f: &Quadratic<N>, logits: &[f32; N]) -> [f64; N] {
    core::array::from_fn(|i| {
        let p = 1.0 / (1.0 + (-(logits[i] as f64)).exp());
        p * (1.0 - p) * (1.0 - 2.0 * f.target[i] as f64)
    })
}

/// The exact gradient for one categorical (one-hot `b`): `p_j (f(e_j) - E f)`.
pub fn exact_categorical<const N: usize>(f: &Quadratic<N>, logits: &[f32; N]) -> [f64; N] {
    let m = logits
        .iter()
        .fold(f64::NEG_INFINITY, |a, &l| a.max(l as f64));
    let w: Vec<f64> = logits.iter().map(|&l| (l as f64 - m).exp()).collect();
    let z: f64 = w.iter().sum();
    let sq: f64 = f.target.iter().map(|&t| (t as f64) * (t as f64)).sum();
    let fj: Vec<f64> = (0..N)
        .map(|j| {
            let t = f.target[j] as f64;
            sq - t * t + (1.0 - t) * (1.0 - t)
        })
        .collect();
    let mean: f64 = (0..N).map(|j| w[j] / z * fj[j]).sum();
    core::array::from_fn(|j| w[j] / z * (fj[j] - mean))
}

/// Measures one case: warm-up (learned parts), then `samples` estimates, each the mean of
/// `reps` calls; returns (mean per-coordinate variance, max |z| against `exact`).
pub fn measure<const N: usize>(
    case: &Case<N>,
    f: &mut Quadratic<N>,
    logits: &[f32; N],
    exact: &[f64; N],
    cfg: &CompareConfig,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<(f64, f64)> {
    let mut est = (case.build)(rng)?;
    // Every estimator warms up (REINFORCE's moving-average baseline too); a learned control
    // variate is then frozen.
    for _ in 0..cfg.warmup {
        est.estimate(logits, f, rng)?;
    }
    est.set_training(false);
    let (mut s1, mut s2) = ([0.0f64; N], [0.0f64; N]);
    for k in 0..cfg.samples {
        if k % 1024 == 0 {
            crate::interrupt::check()?;
        }
        let mut g = [0.0f64; N];
        for _ in 0..case.reps {
            let e = est.estimate(logits, f, rng)?;
            let spent = e.f_evals + e.relaxed_evals;
            if spent != case.cost {
                return Err(format!(
                    "{} ({}): the estimator spent {spent} evaluations, the case says {}",
                    case.name, case.form, case.cost
                )
                .into());
            }
            for (a, &v) in g.iter_mut().zip(&e.grad) {
                *a += v as f64;
            }
        }
        for i in 0..N {
            let v = g[i] / case.reps as f64;
            s1[i] += v;
            s2[i] += v * v;
        }
    }
    let n = cfg.samples as f64;
    let mut var_sum = 0.0;
    let mut max_z = 0.0f64;
    for i in 0..N {
        let mean = s1[i] / n;
        let var = (s2[i] / n - mean * mean).max(0.0) * n / (n - 1.0);
        // A constant estimate (IndeCateR on one categorical) leaves only the rounding of
        // s2 / n - mean^2 (~1e-14 mean^2): that is no variance.
        let var = if var <= 1e-9 * mean * mean { 0.0 } else { var };
        var_sum += var;
        let se = (var / n).sqrt();
        // A deterministic estimate (DisARM on one bit at p = 1/2, IndeCateR on the
        // categorical) has no standard error: it counts as exact when it matches to f32
        // rounding (1e-3 relative: f(1) - f(0) at t = 0.499 loses ~1e-4 to cancellation),
        // else as infinitely far.
        let z = if se > 0.0 {
            (mean - exact[i]).abs() / se
        } else if (mean - exact[i]).abs() <= 1e-3 * exact[i].abs() + 1e-9 {
            0.0
        } else {
            f64::INFINITY
        };
        max_z = max_z.max(z);
    }
    Ok((var_sum / N as f64, max_z))
}

#[cfg(test)]
mod tests;
