//! NVIL (Mnih & Gregor 2014): REINFORCE with a learned, input-dependent baseline.
//!
//! `g = (f(b) - B) d log p(b|l)/dl`, where the baseline `B` may depend on the input (the
//! VAE's `B(x)`, a network the caller owns) but not on `b`, so the estimator is unbiased for
//! every `B`. The baseline is fitted to the squared learning signal `(f(b) - B)^2`, as in
//! Tucker et al.'s reference code (no variance normalisation).
//!
//! Two levels: [`nvil_combine`] is the step for a caller that owns its baseline (it returns
//! the gradient and the baseline's loss gradient); [`Nvil`] is the one-call estimator with a
//! learned scalar baseline.

use super::{checked_value, Estimate, Estimator, Objective};
use crate::dist::Relaxed;
use crate::optim::{Adam, AdamConfig};
use crate::Error;
use core::marker::PhantomData;
use rand_core::Rng;

/// One NVIL step: the gradient w.r.t. the logits and what the baseline learns from.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NvilStep<const D: usize> {
    /// `(f(b) - B) d log p(b|l)/dl`.
    pub grad: [f32; D],
    /// The learning signal `f(b) - B`.
    pub signal: f32,
    /// `d/dB (f(b) - B)^2 = -2 (f(b) - B)`: the gradient of the baseline's loss.
    pub baseline_grad: f32,
}

/// The NVIL gradient at `logits` for the hard sample `b`, its value `f_b` and the baseline
/// `baseline` (computed without looking at `b`). Refuses non-finite input, a `b` that is
/// not a hard sample ([`Error::InvalidAction`]), and a gradient, signal or baseline gradient
/// that overflows ([`Error::NonFiniteGradient`]): every `Ok` step is finite.
pub fn nvil_combine<Dist: Relaxed<D>, const D: usize>(
    logits: &[f32; D],
    b: &[f32; D],
    f_b: f32,
    baseline: f32,
) -> Result<NvilStep<D>, Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    if !f_b.is_finite() {
        return Err(Error::NonFiniteObjective);
    }
    if !baseline.is_finite() {
        return Err(Error::NonFiniteInput);
    }
    if !Dist::is_valid_hard(b) {
        return Err(Error::InvalidAction);
    }
    let signal = f_b - baseline;
    let score = Dist::score(logits, b);
    let grad = core::array::from_fn(|i| signal * score[i]);
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    crate::check_finite(&[signal, -2.0 * signal], Error::NonFiniteGradient)?;
    Ok(NvilStep {
        grad,
        signal,
        baseline_grad: -2.0 * signal,
    })
}

/// NVIL with a learned scalar baseline (for objectives without an input to condition on).
///
/// Each call computes the estimate with the current baseline, then takes one Adam step on the
/// baseline down `d/dB (f(b) - B)^2`, so the baseline never sees the sample it centres.
/// Every `Ok` estimate is finite; a call that fails (including a baseline step that would
/// overflow, see [`crate::optim::Adam::step`]) leaves the baseline and its moments unchanged.
///
/// ```
/// use relax_core::dist::Bernoulli;
/// use relax_core::estimator::{Estimator, Nvil};
/// use relax_core::optim::AdamConfig;
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(3);
/// let mut nvil = Nvil::<Bernoulli<2>, 2>::new(AdamConfig::new(0.05)).unwrap();
/// let mut f = |b: &[f32; 2]| 10.0 + b[0] - b[1];
/// let e = nvil.estimate(&[0.0, 0.0], &mut f, &mut rng).unwrap();
/// assert_eq!(e.f_evals, 1);
/// ```
#[derive(Debug, Clone)]
pub struct Nvil<Dist, const D: usize> {
    baseline: [f32; 1],
    pub(crate) adam: Adam<1>,
    training: bool,
    _dist: PhantomData<Dist>,
}

impl<Dist: Relaxed<D>, const D: usize> Nvil<Dist, D> {
    /// Baseline 0, fitted by Adam with `config`; fails on an invalid configuration.
    pub fn new(config: AdamConfig) -> Result<Self, Error> {
        Ok(Self {
            baseline: [0.0],
            adam: Adam::new(config)?,
            training: true,
            _dist: PhantomData,
        })
    }

    /// The current baseline.
    pub fn baseline(&self) -> f32 {
        self.baseline[0]
    }

    /// Turns the baseline's learning on or off.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }
}

impl<Dist: Relaxed<D>, const D: usize, O: Objective<D> + ?Sized> Estimator<D, O> for Nvil<Dist, D> {
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; D],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<D>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let b = Dist::harden(&Dist::sample_z(logits, rng));
        let v = checked_value(f, &b)?;
        let step = nvil_combine::<Dist, D>(logits, &b, v, self.baseline[0])?;
        if self.training {
            self.adam.step(&mut self.baseline, &[step.baseline_grad])?;
        }
        Ok(Estimate {
            grad: step.grad,
            value: v,
            f_evals: 1,
            relaxed_evals: 0,
            variance_loss: None,
        })
    }
}

#[cfg(test)]
mod tests;
