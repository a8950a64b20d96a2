//! MuProp (Gu, Levine, Sutskever & Mnih 2016) for independent Bernoulli variables.
//!
//! A control variate linear in `b`, the first-order Taylor expansion of a deterministic
//! surrogate `F` around the mean `mu = sigmoid(l)`:
//! `h(b) = eta_0 F(mu) + eta_1 F'(mu) . (b - mu)`. Its expectation is known, so
//!
//! `g = (f(b) - h(b) - B) d log p(b|l)/dl + eta_1 F'(mu) * mu (1 - mu)`
//!
//! is unbiased for any `F`, any `eta` and any baseline `B` that does not look at `b`. (For
//! `F = f` relaxed to `[0, 1]^N` this is the paper's MuProp; a caller may use any smooth
//! surrogate, e.g. the VAE's mean-field network.) `eta` and `B` are fitted to the squared
//! learning signal, as in Tucker et al.'s reference code.
//!
//! Two levels: [`muprop_combine`] for callers that evaluate `F` themselves, and the one-call
//! [`MuProp`] with learned `eta` and a learned scalar baseline.

use super::{checked_relaxed, checked_value, Estimate, Estimator, RelaxedObjective};
use crate::dist::{Bernoulli, Relaxed};
use crate::math::sigmoid;
use crate::optim::{Adam, AdamConfig};
use crate::Error;
use rand_core::Rng;

/// One MuProp step: the gradient w.r.t. the logits and the gradients of the squared learning
/// signal w.r.t. `eta` and the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MuPropStep<const N: usize> {
    /// The estimate of `d/dl E[f(b)]`.
    pub grad: [f32; N],
    /// The learning signal `f(b) - h(b) - B`.
    pub signal: f32,
    /// `d/d(eta_0, eta_1) signal^2`.
    pub eta_grad: [f32; 2],
    /// `d/dB signal^2 = -2 signal`.
    pub baseline_grad: f32,
}

/// The MuProp gradient for the hard sample `b` at `logits`, given `f(b)`, the surrogate's
/// value `f_mu = F(mu)` and gradient `grad_f_mu = F'(mu)` at `mu = sigmoid(logits)`, a
/// baseline and the scales `eta`. Refuses non-finite input, a `b` that is not bits
/// ([`Error::InvalidAction`]), and a gradient, signal or learning gradient that overflows
/// ([`Error::NonFiniteGradient`]): every `Ok` step is finite.
pub fn muprop_combine<const N: usize>(
    logits: &[f32; N],
    b: &[f32; N],
    f_b: f32,
    f_mu: f32,
    grad_f_mu: &[f32; N],
    baseline: f32,
    eta: [f32; 2],
) -> Result<MuPropStep<N>, Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    if !(f_b.is_finite() && f_mu.is_finite()) {
        return Err(Error::NonFiniteObjective);
    }
    crate::check_finite(grad_f_mu, Error::NonFiniteObjective)?;
    if !(baseline.is_finite() && eta.iter().all(|e| e.is_finite())) {
        return Err(Error::NonFiniteInput);
    }
    if !Bernoulli::<N>::is_valid_hard(b) {
        return Err(Error::InvalidAction);
    }
    let mut lin = 0.0;
    for i in 0..N {
        lin += grad_f_mu[i] * (b[i] - sigmoid(logits[i]));
    }
    let signal = f_b - eta[0] * f_mu - eta[1] * lin - baseline;
    let score = Bernoulli::<N>::score(logits, b);
    let grad = core::array::from_fn(|i| {
        // d mu / dl = sigmoid(l) sigmoid(-l), without cancellation.
        let dmu = sigmoid(logits[i]) * sigmoid(-logits[i]);
        signal * score[i] + eta[1] * grad_f_mu[i] * dmu
    });
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    let step = MuPropStep {
        grad,
        signal,
        eta_grad: [-2.0 * signal * f_mu, -2.0 * signal * lin],
        baseline_grad: -2.0 * signal,
    };
    let learning = [
        step.signal,
        step.eta_grad[0],
        step.eta_grad[1],
        step.baseline_grad,
    ];
    crate::check_finite(&learning, Error::NonFiniteGradient)?;
    Ok(step)
}

/// MuProp with the relaxed objective itself as the surrogate (`F(mu) = f(mu)`), learned
/// `eta` (init 1, 1) and a learned scalar baseline (init 0).
///
/// Each call evaluates `f` once at a hard sample and once relaxed at the mean, returns the
/// estimate, then takes one Adam step on `[eta_0, eta_1, B]` down the squared learning signal
/// (after the estimate, so it stays unbiased). Every `Ok` estimate is finite; a call that
/// fails (including a step that would overflow, see [`crate::optim::Adam::step`]) leaves
/// `eta`, the baseline and their moments unchanged.
///
/// ```
/// use relax_core::estimator::{Estimator, MuProp, Objective, RelaxedObjective};
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
/// let mut mp = MuProp::<2>::new(AdamConfig::new(0.01)).unwrap();
/// let e = mp.estimate(&[0.0, 1.0], &mut Sq, &mut rng).unwrap();
/// assert_eq!((e.f_evals, e.relaxed_evals), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct MuProp<const N: usize> {
    /// `[eta_0, eta_1, baseline]`.
    pub(crate) params: [f32; 3],
    pub(crate) adam: Adam<3>,
    training: bool,
}

impl<const N: usize> MuProp<N> {
    /// `eta = (1, 1)`, baseline 0, fitted by Adam with `config`.
    pub fn new(config: AdamConfig) -> Result<Self, Error> {
        Ok(Self {
            params: [1.0, 1.0, 0.0],
            adam: Adam::new(config)?,
            training: true,
        })
    }

    /// `(eta_0, eta_1)`.
    pub fn eta(&self) -> [f32; 2] {
        [self.params[0], self.params[1]]
    }

    /// The baseline.
    pub fn baseline(&self) -> f32 {
        self.params[2]
    }

    /// Turns the learning of `eta` and the baseline on or off.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }
}

impl<const N: usize, O: RelaxedObjective<N> + ?Sized> Estimator<N, O> for MuProp<N> {
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let mu: [f32; N] = core::array::from_fn(|i| sigmoid(logits[i]));
        let (f_mu, g_mu) = checked_relaxed(f, &mu)?;
        let b = Bernoulli::<N>::harden(&Bernoulli::<N>::sample_z(logits, rng));
        let f_b = checked_value(f, &b)?;
        let s = muprop_combine(logits, &b, f_b, f_mu, &g_mu, self.params[2], self.eta())?;
        if self.training {
            let g = [s.eta_grad[0], s.eta_grad[1], s.baseline_grad];
            self.adam.step(&mut self.params, &g)?;
        }
        Ok(Estimate {
            grad: s.grad,
            value: f_b,
            f_evals: 1,
            relaxed_evals: 1,
            variance_loss: None,
        })
    }
}

#[cfg(test)]
mod tests;
