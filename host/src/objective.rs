//! The quadratic objective of the toy and of the benchmark: `f(b) = sum_i (b_i - t_i)^2`.
//!
//! One bit with `t = 0.499` is the paper's toy (section 6.1); 200 bits with targets spread over
//! `[0, 1]` is the benchmark's stand-in for a 200-latent VAE layer. The relaxed `f(x)` is the
//! same polynomial, so REBAR's Hessian-vector product is exact (`2 w`) and REBAR never falls back
//! to its finite difference in log-temperature.

use relax_core::estimator::{Objective, RelaxedObjective};

/// `f(b) = sum_i (b_i - t_i)^2` over `N` coordinates, counting its evaluations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quadratic<const N: usize> {
    /// The targets `t_i`.
    pub target: [f32; N],
    /// Black-box evaluations `f(b)` so far.
    pub f_evals: u64,
    /// Relaxed evaluations `f(x)` with gradient so far.
    pub relaxed_evals: u64,
}

impl<const N: usize> Quadratic<N> {
    /// `f` with targets `target`.
    pub fn new(target: [f32; N]) -> Self {
        Self {
            target,
            f_evals: 0,
            relaxed_evals: 0,
        }
    }

    /// Targets evenly spaced over `[0, 1]` (`t_i = i / (N - 1)`; 0.5 when `N = 1`), as in the
    /// reference code's `demo_*.py` (`linspace(0, 1, D)`).
    pub fn spaced() -> Self {
        let target = core::array::from_fn(|i| {
            if N > 1 {
                i as f32 / (N - 1) as f32
            } else {
                0.5
            }
        });
        Self::new(target)
    }

    fn eval(&self, x: &[f32; N]) -> f32 {
        x.iter()
            .zip(&self.target)
            .map(|(x, t)| (x - t) * (x - t))
            .sum()
    }
}

impl<const N: usize> Objective<N> for Quadratic<N> {
    fn value(&mut self, b: &[f32; N]) -> f32 {
        self.f_evals += 1;
        self.eval(b)
    }
}

impl<const N: usize> RelaxedObjective<N> for Quadratic<N> {
    fn relaxed(&mut self, x: &[f32; N], grad: &mut [f32; N]) -> f32 {
        self.relaxed_evals += 1;
        for i in 0..N {
            grad[i] = 2.0 * (x[i] - self.target[i]);
        }
        self.eval(x)
    }

    fn hvp(&mut self, _x: &[f32; N], w: &[f32; N], hw: &mut [f32; N]) -> bool {
        for i in 0..N {
            hw[i] = 2.0 * w[i];
        }
        true
    }
}

/// Targets of the categorical problem (`relax compare`, `relax bench`): one 4-way
/// categorical, `f(b) = sum_j (b_j - t_j)^2` of the one-hot `b`.
pub const CATEGORICAL_TARGET: [f32; 4] = [0.1, 0.6, 0.3, 0.9];
/// Logits of the categorical problem.
pub const CATEGORICAL_LOGITS: [f32; 4] = [0.4, -0.2, 0.1, -0.6];

/// The toy's exact expected loss `L(theta) = theta (1 - t)^2 + (1 - theta) t^2`, in `f64`.
pub fn toy_exact_loss(theta: f64, target: f64) -> f64 {
    theta * (1.0 - target).powi(2) + (1.0 - theta) * target.powi(2)
}

/// The toy's exact gradient w.r.t. the logit: `dL/dl = (1 - 2t) theta (1 - theta)`.
///
/// The reference code's "exact gradient" curve uses `(1 - 2t) theta` (the gradient w.r.t.
/// theta applied to the logit, paper-notes 1.9.6); this is the correct one.
pub fn toy_exact_grad_logit(theta: f64, target: f64) -> f64 {
    (1.0 - 2.0 * target) * theta * (1.0 - theta)
}
