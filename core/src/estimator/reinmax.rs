//! ReinMax (Liu, Zhu, Gao, Liu & Dong, NeurIPS 2023, "Bridging Discrete and Backpropagation:
//! Straight-Through and Beyond"): a second-order straight-through estimator. **Biased.**

use super::{check_temperature, checked_relaxed, Estimate, Estimator, RelaxedObjective};
use crate::dist::{Bernoulli, Categorical, Relaxed};
use crate::math::{sigmoid, softmax};
use crate::Error;
use core::marker::PhantomData;
use rand_core::Rng;

/// ReinMax (Liu et al., NeurIPS 2023) for [`Bernoulli`] (`ReinMax<Bernoulli<N>, N>`) or
/// [`Categorical`] (`ReinMax<Categorical<K>, K>`).
///
/// Straight-through is the forward Euler step of an ODE between the class probabilities and
/// a sample; ReinMax is Heun's method for the same ODE. For a sample `D ~ Cat(pi_0)`
/// (one-hot), `pi_0 = softmax(l)`, and the gradient `g = df/dx` at `x = D`:
///
/// `pi_1 = (D + softmax(l / tau)) / 2`,
/// `grad_l = 2 J(pi_1)^T g - 1/2 J(pi_0)^T g`, with `J(p) = diag(p) - p p^T`
///
/// (the backward pass of `pi_2 = 2 pi_1 - pi_0 / 2` where `pi_1` is the softmax of
/// `stop_gradient(log pi_1 - l) + l`). Straight-through, for comparison, is `J(pi_0)^T g`.
///
/// **Biased** for `E[f(b)]`: like straight-through it only sees `f` through its gradient at
/// the sample; its error is of second order instead of first. (On a quadratic relaxation of
/// a function of one bit, e.g. the enumeration tests' `sum (x_i - t_i)^2`, it is exact; the
/// bias test in `reinmax/tests.rs` uses a cubic, where it is not.)
///
/// Bernoulli: the two-class case with logits `(l_i, 0)` and outputs `(b_i, 1 - b_i)`, one per
/// bit: `grad_i = g_i (2 p_1 (1 - p_1) - 1/2 p_0 (1 - p_0))`, `p_0 = sigmoid(l_i)`,
/// `p_1 = (b_i + sigmoid(l_i / tau)) / 2`.
///
/// Conventions: the temperature enters only `pi_1` (the sample is always drawn from
/// `softmax(l)`), as in the authors' `microsoft/ReinMax` code (the paper's algorithm box was
/// not retrievable here to compare with), whose
/// backward pass also subtracts the gradient's mean over classes (a no-op: `J(p)^T g` already
/// sums to zero). The authors recommend `tau >= 1` and their code refuses `tau < 1`; here any
/// `tau > 0` is accepted.
///
/// **Biased** (second-order straight-through). Draws one sample `b` (from the distribution
/// itself, not a relaxation), evaluates the relaxed objective there (`x = b`, whose value is
/// the estimate's `value`), and returns the ReinMax gradient. One evaluation of `f` with its
/// gradient; stateless; every `Ok` estimate is finite.
///
/// ```
/// use relax_core::dist::Bernoulli;
/// use relax_core::estimator::{Estimator, Objective, ReinMax, RelaxedObjective};
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
/// let mut rm = ReinMax::<Bernoulli<2>, 2>::new(1.0).unwrap();
/// let e = rm.estimate(&[0.0, 1.0], &mut Sq, &mut rng).unwrap();
/// assert_eq!((e.f_evals, e.relaxed_evals), (0, 1));
/// ```
#[derive(Debug, Clone)]
pub struct ReinMax<Dist, const D: usize> {
    temperature: f32,
    _dist: PhantomData<Dist>,
}

impl<Dist: Relaxed<D>, const D: usize> ReinMax<Dist, D> {
    /// Temperature `tau > 0` of `pi_1` (the authors use `tau >= 1`).
    pub fn new(temperature: f32) -> Result<Self, Error> {
        check_temperature(temperature)?;
        Ok(Self {
            temperature,
            _dist: PhantomData,
        })
    }

    /// The temperature.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }
}

/// The Bernoulli ReinMax gradient at the bits `b` with `g = df/dx` at `x = b`:
/// `g_i (2 p_1 (1 - p_1) - 1/2 p_0 (1 - p_0))`. Refuses non-finite input, a temperature
/// `<= 0`, `b` that is not bits ([`Error::InvalidAction`]) and an overflow.
pub fn reinmax_bernoulli<const N: usize>(
    logits: &[f32; N],
    b: &[f32; N],
    g: &[f32; N],
    temperature: f32,
) -> Result<[f32; N], Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    check_temperature(temperature)?;
    crate::check_finite(g, Error::NonFiniteObjective)?;
    if !Bernoulli::<N>::is_valid_hard(b) {
        return Err(Error::InvalidAction);
    }
    let grad = core::array::from_fn(|i| {
        let l = logits[i];
        let v0 = sigmoid(l) * sigmoid(-l);
        // p_1 (1 - p_1) with 1 - p_1 = ((1 - b) + sigmoid(-l / tau)) / 2, no cancellation.
        let p1 = 0.5 * (b[i] + sigmoid(l / temperature));
        let q1 = 0.5 * ((1.0 - b[i]) + sigmoid(-l / temperature));
        g[i] * (2.0 * p1 * q1 - 0.5 * v0)
    });
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    Ok(grad)
}

/// `J(p)^T v = p * v - p (p . v)`.
fn softmax_vjp<const K: usize>(p: &[f32; K], v: &[f32; K]) -> [f32; K] {
    let pv: f32 = crate::math::dot(p, v);
    core::array::from_fn(|i| p[i] * (v[i] - pv))
}

/// The categorical ReinMax gradient at the one-hot `b` with `g = df/dx` at `x = b`:
/// `2 J(pi_1)^T g - 1/2 J(pi_0)^T g`. Refuses non-finite input, a temperature `<= 0`, `b`
/// that is not one-hot ([`Error::InvalidAction`]) and an overflow.
pub fn reinmax_categorical<const K: usize>(
    logits: &[f32; K],
    b: &[f32; K],
    g: &[f32; K],
    temperature: f32,
) -> Result<[f32; K], Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    check_temperature(temperature)?;
    crate::check_finite(g, Error::NonFiniteObjective)?;
    if !Categorical::<K>::is_valid_hard(b) {
        return Err(Error::InvalidAction);
    }
    let pi0 = softmax(logits);
    let scaled: [f32; K] = core::array::from_fn(|i| logits[i] / temperature);
    let pt = softmax(&scaled);
    let pi1: [f32; K] = core::array::from_fn(|i| 0.5 * (b[i] + pt[i]));
    let a = softmax_vjp(&pi1, g);
    let c = softmax_vjp(&pi0, g);
    let grad = core::array::from_fn(|i| 2.0 * a[i] - 0.5 * c[i]);
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    Ok(grad)
}

impl<const N: usize, O: RelaxedObjective<N> + ?Sized> Estimator<N, O> for ReinMax<Bernoulli<N>, N> {
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let b = Bernoulli::<N>::harden(&Bernoulli::<N>::sample_z(logits, rng));
        let (v, g) = checked_relaxed(f, &b)?;
        let grad = reinmax_bernoulli(logits, &b, &g, self.temperature)?;
        Ok(Estimate {
            grad,
            value: v,
            f_evals: 0,
            relaxed_evals: 1,
            variance_loss: None,
        })
    }
}

impl<const K: usize, O: RelaxedObjective<K> + ?Sized> Estimator<K, O>
    for ReinMax<Categorical<K>, K>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; K],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<K>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let b = Categorical::<K>::harden(&Categorical::<K>::sample_z(logits, rng));
        let (v, g) = checked_relaxed(f, &b)?;
        let grad = reinmax_categorical(logits, &b, &g, self.temperature)?;
        Ok(Estimate {
            grad,
            value: v,
            f_evals: 0,
            relaxed_evals: 1,
            variance_loss: None,
        })
    }
}

#[cfg(test)]
mod tests;
