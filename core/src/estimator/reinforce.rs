//! REINFORCE (the score-function estimator), optionally with a moving-average baseline.

use super::{checked_value, Estimate, Estimator, Objective};
use crate::dist::Relaxed;
use crate::Error;
use core::marker::PhantomData;
use rand_core::Rng;

/// An exponential moving average `m <- decay m + (1 - decay) x`, started at the first value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MovingAverage {
    value: f32,
    decay: f32,
    pub(crate) started: bool,
}

impl MovingAverage {
    /// `decay` in [0, 1).
    pub fn new(decay: f32) -> Result<Self, Error> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::InvalidHyperparameter);
        }
        Ok(Self {
            value: 0.0,
            decay,
            started: false,
        })
    }

    /// The current average (0 before the first update).
    pub fn value(&self) -> f32 {
        self.value
    }

    /// Adds an observation. A non-finite observation, or one that would make the average
    /// overflow, is ignored: the average is always finite.
    pub fn update(&mut self, x: f32) {
        if !x.is_finite() {
            return;
        }
        let next = if self.started {
            self.decay * self.value + (1.0 - self.decay) * x
        } else {
            x
        };
        if next.is_finite() {
            self.value = next;
            self.started = true;
        }
    }
}

/// REINFORCE: `g = (f(b) - baseline) d log p(b|l)/dl`. The baseline is the moving average of
/// the *previous* values, independent of the current sample, so the estimator stays unbiased.
///
/// Every `Ok` estimate is finite; a call that fails (non-finite logits or value, or a gradient
/// that overflows, e.g. `f(b) - baseline` beyond `f32::MAX`) leaves the baseline unchanged.
#[derive(Debug, Clone)]
pub struct Reinforce<Dist, const D: usize> {
    pub(crate) baseline: Option<MovingAverage>,
    _dist: PhantomData<Dist>,
}

impl<Dist: Relaxed<D>, const D: usize> Reinforce<Dist, D> {
    /// Plain REINFORCE, no baseline.
    pub fn new() -> Self {
        Self {
            baseline: None,
            _dist: PhantomData,
        }
    }

    /// REINFORCE with a moving-average baseline of decay `decay`.
    pub fn with_baseline(decay: f32) -> Result<Self, Error> {
        Ok(Self {
            baseline: Some(MovingAverage::new(decay)?),
            _dist: PhantomData,
        })
    }
}

impl<Dist: Relaxed<D>, const D: usize> Default for Reinforce<Dist, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Dist: Relaxed<D>, const D: usize, O: Objective<D> + ?Sized> Estimator<D, O>
    for Reinforce<Dist, D>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; D],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<D>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let b = Dist::harden(&Dist::sample_z(logits, rng));
        let v = checked_value(f, &b)?;
        let base = self.baseline.map_or(0.0, |m| m.value());
        let score = Dist::score(logits, &b);
        let grad = core::array::from_fn(|i| (v - base) * score[i]);
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        if let Some(m) = self.baseline.as_mut() {
            m.update(v);
        }
        Ok(Estimate {
            grad,
            value: v,
            f_evals: 1,
            relaxed_evals: 0,
            variance_loss: None,
        })
    }
}
