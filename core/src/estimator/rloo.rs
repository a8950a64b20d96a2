//! REINFORCE with `K` samples and a leave-one-out baseline (Kool et al. 2019).

use super::{checked_value, Estimate, Estimator, Objective};
use crate::dist::Relaxed;
use crate::Error;
use core::marker::PhantomData;
use rand_core::Rng;

/// RLOO: `g = 1/K sum_k (f(b_k) - 1/(K-1) sum_{j != k} f(b_j)) d log p(b_k|l)/dl`.
/// Unbiased for `K >= 2`; `K` evaluations of `f` per call. The `K` per-sample terms of the
/// last successful call are kept in [`Rloo::per_sample`].
///
/// Every `Ok` estimate is finite, per-sample terms included. Finite values whose sums or
/// differences overflow `f32` (e.g. `+-3e38`) give [`Error::NonFiniteGradient`], and a call
/// that fails leaves [`Rloo::per_sample`] unchanged.
#[derive(Debug, Clone)]
pub struct Rloo<Dist, const D: usize, const K: usize> {
    per_sample: [[f32; D]; K],
    _dist: PhantomData<Dist>,
}

impl<Dist: Relaxed<D>, const D: usize, const K: usize> Rloo<Dist, D, K> {
    /// Fails unless `K >= 2`.
    pub fn new() -> Result<Self, Error> {
        if K < 2 {
            return Err(Error::InvalidHyperparameter);
        }
        Ok(Self {
            per_sample: [[0.0; D]; K],
            _dist: PhantomData,
        })
    }

    /// The `K` per-sample terms of the last estimate (their mean is the estimate).
    pub fn per_sample(&self) -> &[[f32; D]; K] {
        &self.per_sample
    }
}

impl<Dist: Relaxed<D>, const D: usize, const K: usize, O: Objective<D> + ?Sized> Estimator<D, O>
    for Rloo<Dist, D, K>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; D],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<D>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        if K < 2 {
            return Err(Error::InvalidHyperparameter);
        }
        let mut bs = [[0.0f32; D]; K];
        let mut fs = [0.0f32; K];
        for k in 0..K {
            bs[k] = Dist::harden(&Dist::sample_z(logits, rng));
            fs[k] = checked_value(f, &bs[k])?;
        }
        let total: f32 = fs.iter().sum();
        let mut grad = [0.0; D];
        let mut per_sample = [[0.0; D]; K];
        for k in 0..K {
            let base = (total - fs[k]) / (K - 1) as f32;
            let score = Dist::score(logits, &bs[k]);
            for i in 0..D {
                per_sample[k][i] = (fs[k] - base) * score[i];
                grad[i] += per_sample[k][i] / K as f32;
            }
        }
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        for term in &per_sample {
            crate::check_finite(term, Error::NonFiniteGradient)?;
        }
        self.per_sample = per_sample;
        Ok(Estimate {
            grad,
            value: fs[0],
            f_evals: K as u32,
            relaxed_evals: 0,
            variance_loss: None,
        })
    }
}
