//! Double control variates (Titsias & Shi, AISTATS 2022, arXiv 2111.05300) for independent
//! Bernoulli variables: RLOO with a second, Taylor-expansion control variate.

use super::{checked_relaxed, Estimate, Estimator, RelaxedObjective};
use crate::dist::{Bernoulli, Relaxed};
use crate::math::sigmoid;
use crate::optim::{Adam, AdamConfig};
use crate::Error;
use rand_core::Rng;

/// One Double CV step: the gradient and the derivative of the variance loss `|g|^2` in `alpha`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DoubleCvStep<const N: usize> {
    /// The estimate of `d/dl E[f(b)]`.
    pub grad: [f32; N],
    /// `|g|^2`.
    pub variance_loss: f32,
    /// `d |g|^2 / d alpha`.
    pub alpha_grad: f32,
}

/// The checks shared by the estimators that take `f` and its gradient at each of `K` hard
/// samples (Double CV, RODEO): finite values ([`Error::NonFiniteObjective`]), finite
/// gradients (the same), hard samples ([`Error::InvalidAction`]), in that order.
pub(crate) fn check_samples_with_grads<const N: usize, const K: usize>(
    bs: &[[f32; N]; K],
    fs: &[f32; K],
    grads: &[[f32; N]; K],
) -> Result<(), Error> {
    crate::check_finite(fs, Error::NonFiniteObjective)?;
    for g in grads {
        crate::check_finite(g, Error::NonFiniteObjective)?;
    }
    if !bs.iter().all(Bernoulli::<N>::is_valid_hard) {
        return Err(Error::InvalidAction);
    }
    Ok(())
}

/// The Double CV estimate ([`DoubleCv`]'s equation) from `K` samples `bs`, their
/// values `fs`, the gradients `grads` of `f` at them, and `alpha`. Refuses non-finite input
/// ([`Error::NonFiniteInput`], [`Error::NonFiniteObjective`]), `K < 2`
/// ([`Error::InvalidHyperparameter`]), samples that are not bits ([`Error::InvalidAction`]),
/// and results that overflow ([`Error::NonFiniteGradient`]).
pub fn double_cv_combine<const N: usize, const K: usize>(
    logits: &[f32; N],
    bs: &[[f32; N]; K],
    fs: &[f32; K],
    grads: &[[f32; N]; K],
    alpha: f32,
) -> Result<DoubleCvStep<N>, Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    if !alpha.is_finite() {
        return Err(Error::NonFiniteInput);
    }
    if K < 2 {
        return Err(Error::InvalidHyperparameter);
    }
    check_samples_with_grads(bs, fs, grads)?;
    let inv_k = 1.0 / K as f32;
    let inv_k1 = 1.0 / (K - 1) as f32;
    let scores: [[f32; N]; K] = core::array::from_fn(|k| Bernoulli::<N>::score(logits, &bs[k]));
    let mut gsum = [0.0f32; N];
    for g in grads {
        for i in 0..N {
            gsum[i] += g[i];
        }
    }
    // c_k = G_{-k} . s_k
    let c: [f32; K] = core::array::from_fn(|k| {
        let mut d = 0.0;
        for i in 0..N {
            d += (gsum[i] - grads[k][i]) * inv_k1 * scores[k][i];
        }
        d
    });
    let fsum: f32 = fs.iter().sum();
    let csum: f32 = c.iter().sum();
    let mut a = [0.0f32; N]; // the part without alpha
    let mut b = [0.0f32; N]; // d g / d alpha
    for k in 0..K {
        let df = fs[k] - (fsum - fs[k]) * inv_k1;
        let dc = c[k] - (csum - c[k]) * inv_k1;
        for i in 0..N {
            a[i] += df * scores[k][i] * inv_k;
            b[i] -= dc * scores[k][i] * inv_k;
        }
    }
    let mut grad = [0.0f32; N];
    let mut loss = 0.0f32;
    let mut alpha_grad = 0.0f32;
    for i in 0..N {
        let var = sigmoid(logits[i]) * sigmoid(-logits[i]);
        b[i] += gsum[i] * inv_k * var;
        grad[i] = a[i] + alpha * b[i];
        loss += grad[i] * grad[i];
        alpha_grad += 2.0 * grad[i] * b[i];
    }
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    crate::check_finite(&[loss, alpha_grad], Error::NonFiniteGradient)?;
    Ok(DoubleCvStep {
        grad,
        variance_loss: loss,
        alpha_grad,
    })
}

/// Double control variates (Titsias & Shi, AISTATS 2022) with `K >= 2` samples of `N`
/// Bernoulli bits and `alpha` learned by Adam on `|g|^2`.
///
/// `K >= 2` independent samples `b_1 .. b_K`, their values `f_k = f(b_k)` and gradients
/// `nabla_k = df/dx` at `x = b_k`. With the score `s_k = b_k - theta`, the leave-one-out
/// mean gradient `G_{-k} = 1/(K-1) sum_{j != k} nabla_j` and the first-order Taylor term
/// `c_k = G_{-k} . s_k` (the expansion of `f` around the other samples, up to a constant that
/// the leave-one-out baseline removes), the estimate is
///
/// `g = 1/K sum_k (F_k - 1/(K-1) sum_{j != k} F_j) s_k + alpha Gbar * theta (1 - theta)`,
/// `F_k = f_k - alpha c_k`, `Gbar = 1/K sum_k nabla_k`.
///
/// The first sum is RLOO on the corrected values `F`; the last term is the exact expectation
/// of what `alpha c_k s_k` took away (`E[s s^T] = diag(theta (1 - theta))`, and `G_{-k}` does
/// not depend on `b_k`), so the estimate is unbiased for every `alpha`. `alpha` is a scalar
/// learned online to minimise `|g|^2` (its derivative is exact: `g` is linear in `alpha`).
///
/// Conventions: the reference code (`thjashin/double-cv`, `networks.py`, for `K = 2` and
/// `K = 4` only) works with a loss and *adds* `alpha c_k`, initialising `alpha = 0`; here
/// the Taylor term is subtracted, so the reference code's `alpha` is our `-alpha`, and
/// `alpha = 1` subtracts the whole linear expansion. Both initialise at 0 (plain RLOO), as
/// the reference code does; [`DoubleCv::with_alpha`] sets another start.
///
/// Each call evaluates the relaxed objective at the `K` hard samples (`x = b_k`: its value
/// there is taken as `f(b_k)`, so the objective's relaxation must agree with `f` at the
/// vertices, as for [`super::StraightThrough`]), returns the estimate, then (in training
/// mode) takes one Adam step on `alpha` from the same samples. Unbiased for every `alpha`;
/// `K` evaluations of `f` with its gradient. Every `Ok` estimate is finite, and a call that
/// fails leaves `alpha` and its Adam state unchanged.
///
/// ```
/// use relax_core::estimator::{DoubleCv, Estimator, Objective, RelaxedObjective};
/// use relax_core::optim::AdamConfig;
/// use rand_core::SeedableRng;
/// struct Sq;
/// impl Objective<2> for Sq {
///     fn value(&mut self, b: &[f32; 2]) -> f32 { (b[0] - 0.3).powi(2) + b[1] }
/// }
/// impl RelaxedObjective<2> for Sq {
///     fn relaxed(&mut self, x: &[f32; 2], g: &mut [f32; 2]) -> f32 {
///         *g = [2.0 * (x[0] - 0.3), 1.0];
///         self.value(x)
///     }
/// }
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// let mut dcv = DoubleCv::<2, 3>::new(AdamConfig::new(0.01)).unwrap();
/// let e = dcv.estimate(&[0.0, 1.0], &mut Sq, &mut rng).unwrap();
/// assert_eq!((e.f_evals, e.relaxed_evals), (0, 3));
/// ```
#[derive(Debug, Clone)]
pub struct DoubleCv<const N: usize, const K: usize> {
    pub(crate) alpha: [f32; 1],
    pub(crate) adam: Adam<1>,
    training: bool,
}

impl<const N: usize, const K: usize> DoubleCv<N, K> {
    /// `alpha = 0` (plain RLOO until it learns), Adam with `config`; fails unless `K >= 2`
    /// and the configuration is valid.
    pub fn new(config: AdamConfig) -> Result<Self, Error> {
        if K < 2 {
            return Err(Error::InvalidHyperparameter);
        }
        Ok(Self {
            alpha: [0.0],
            adam: Adam::new(config)?,
            training: true,
        })
    }

    /// The same with `alpha` starting at `alpha` (finite, else [`Error::NonFiniteInput`]).
    pub fn with_alpha(mut self, alpha: f32) -> Result<Self, Error> {
        if !alpha.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        self.alpha = [alpha];
        Ok(self)
    }

    /// The scale of the Taylor control variate.
    pub fn alpha(&self) -> f32 {
        self.alpha[0]
    }

    /// Turns the learning of `alpha` on or off.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }
}

impl<const N: usize, const K: usize, O: RelaxedObjective<N> + ?Sized> Estimator<N, O>
    for DoubleCv<N, K>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        if K < 2 {
            return Err(Error::InvalidHyperparameter);
        }
        let mut bs = [[0.0f32; N]; K];
        let mut fs = [0.0f32; K];
        let mut grads = [[0.0f32; N]; K];
        for k in 0..K {
            bs[k] = Bernoulli::<N>::harden(&Bernoulli::<N>::sample_z(logits, rng));
            (fs[k], grads[k]) = checked_relaxed(f, &bs[k])?;
        }
        let s = double_cv_combine(logits, &bs, &fs, &grads, self.alpha[0])?;
        let variance_loss = if self.training {
            self.adam.step(&mut self.alpha, &[s.alpha_grad])?;
            Some(s.variance_loss)
        } else {
            None
        };
        Ok(Estimate {
            grad: s.grad,
            value: fs[0],
            f_evals: 0,
            relaxed_evals: K as u32,
            variance_loss,
        })
    }
}

#[cfg(test)]
mod tests;
