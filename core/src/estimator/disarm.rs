//! DisARM (Dong, Mnih & Tucker 2020) for independent Bernoulli variables.

use super::{checked_value, Estimate, Estimator, Objective};
use crate::math::{sigmoid, uniform_open};
use crate::Error;
use rand_core::Rng;

/// DisARM: an antithetic pair `b_i = 1[u_i < theta_i]`, `b~_i = 1[1 - u_i < theta_i]` and
/// `g_i = 1/2 (f(b) - f(b~)) (-1)^{b~_i} 1[b_i != b~_i] sigmoid(|l_i|)`.
/// Unbiased; 2 evaluations of `f`; no relaxation and no learned parameters. Every `Ok`
/// estimate is finite: values whose difference overflows `f32` (e.g. `+-3e38`) give
/// [`Error::NonFiniteGradient`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DisArm<const N: usize>;

impl<const N: usize> DisArm<N> {
    /// The estimator (stateless).
    pub fn new() -> Self {
        Self
    }
}

/// The antithetic partner of `b = H(z)` for a logistic sample `z = l + e`: `b~ = H(2 l - z)`,
/// i.e. the same bits drawn with the reflected noise `-e` (the pair [`DisArm`] draws from
/// `u` and `1 - u`). For callers that draw `z` themselves (e.g. with [`super::Draw`]).
pub fn disarm_antithetic<const N: usize>(logits: &[f32; N], z: &[f32; N]) -> [f32; N] {
    core::array::from_fn(|i| {
        if 2.0 * logits[i] - z[i] > 0.0 {
            1.0
        } else {
            0.0
        }
    })
}

/// The DisARM gradient from an antithetic pair `b`, `b~` ([`disarm_antithetic`]) and their
/// values: `g_i = 1/2 (f(b) - f(b~)) (-1)^{b~_i} 1[b_i != b~_i] sigmoid(|l_i|)`. Refuses
/// non-finite input, and a gradient that overflows ([`Error::NonFiniteGradient`]).
pub fn disarm_combine<const N: usize>(
    logits: &[f32; N],
    b: &[f32; N],
    bt: &[f32; N],
    f_b: f32,
    f_bt: f32,
) -> Result<[f32; N], Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    if !(f_b.is_finite() && f_bt.is_finite()) {
        return Err(Error::NonFiniteObjective);
    }
    let half = 0.5 * (f_b - f_bt);
    let grad = core::array::from_fn(|i| {
        if b[i] != bt[i] {
            let sign = if bt[i] > 0.5 { -1.0 } else { 1.0 };
            half * sign * sigmoid(libm::fabsf(logits[i]))
        } else {
            0.0
        }
    });
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    Ok(grad)
}

impl<const N: usize, O: Objective<N> + ?Sized> Estimator<N, O> for DisArm<N> {
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let mut b = [0.0; N];
        let mut bt = [0.0; N];
        for i in 0..N {
            // u < sigmoid(l)  <=>  logit(u) < l; the antithetic 1 - u has logit -logit(u).
            let u = uniform_open(rng);
            let lu = libm::logf(u) - libm::log1pf(-u);
            b[i] = if lu < logits[i] { 1.0 } else { 0.0 };
            bt[i] = if -lu < logits[i] { 1.0 } else { 0.0 };
        }
        let fb = checked_value(f, &b)?;
        let fbt = checked_value(f, &bt)?;
        let half = 0.5 * (fb - fbt);
        let grad = core::array::from_fn(|i| {
            if b[i] != bt[i] {
                let sign = if bt[i] > 0.5 { -1.0 } else { 1.0 };
                half * sign * sigmoid(libm::fabsf(logits[i]))
            } else {
                0.0
            }
        });
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        Ok(Estimate {
            grad,
            value: fb,
            f_evals: 2,
            relaxed_evals: 0,
            variance_loss: None,
        })
    }
}

#[cfg(test)]
mod tests;
