//! Gradient estimators for `d/dl E_{p(b|l)}[f(b)]`, all with respect to the logits `l`.
//!
//! | estimator | unbiased | f evaluations per call | needs |
//! |---|---|---|---|
//! | [`Reinforce`] (optional moving-average baseline) | yes | 1 | `f(b)` |
//! | [`Rloo`] (`K` samples, leave-one-out baseline) | yes | K | `f(b)` |
//! | [`Nvil`] (learned baseline; [`nvil_combine`] for an input-dependent one) | yes | 1 | `f(b)` |
//! | [`MuProp`] (Bernoulli; Taylor control variate at the mean) | yes | 1 + 1 relaxed | `f(b)`, `f(x)`, `df/dx` |
//! | [`Concrete`] | **no** (relaxed objective) | 1 relaxed | `f(x)`, `df/dx` |
//! | [`StraightThrough`] | **no** | 1 relaxed at `b` | `f(x)`, `df/dx` |
//! | [`Rebar`] (`c = eta f(sigma_lambda(z))`) | yes | 1 + 2 relaxed (+4 for the temperature's variance gradient without a Hessian-vector product) | `f(b)`, `f(x)`, `df/dx` |
//! | [`Relax`] with any [`ControlVariate`] | yes | 1 (+ the control variate's) | `f(b)` |
//! | [`DisArm`] (Bernoulli) | yes | 2 | `f(b)` |
//! | [`Lax`] (Gaussian) | yes | 1 | `f(b)` |
//! | [`Arms`] (Bernoulli; `S` copula-antithetic samples, `S = 2` is DisARM) | yes | S | `f(b)` |
//! | [`DoubleCv`] (Bernoulli; RLOO + a learned-scale Taylor control variate) | yes | K with gradient | `f(x)`, `df/dx` at `x = b` |
//! | [`Rodeo`] (Bernoulli; RLOO + discrete-Stein control variates from a learned network; [`rodeo_combine`] for the step level) | yes | K with gradient | `f(x)`, `df/dx` at `x = b` |
//! | [`ReinMax`] (Bernoulli, categorical; second-order straight-through) | **no** | 1 relaxed at `b` | `f(x)`, `df/dx` |
//! | [`CoupledDisArm`] (`D` categoricals of `K` classes; stick-breaking; importance-weighted, or [`CoupledVariant::StickBreaking`]) | yes | 2 | `f(b)` |
//! | [`IndeCateR`] (`D` categoricals of `K` classes; exact for `D = 1`) | yes | 1 + D (K - 1) | `f(b)` |
//! | [`Carms`] (`D` categoricals of `K` classes, `S` copula-antithetic samples; stick-breaking) | yes | S | `f(b)` |
//!
//! Each call returns an [`Estimate`]: the gradient, the value at the sample, how many times
//! the objective was evaluated and, for estimators with a learned control variate, the
//! variance loss of the step it took on the control variate (RELAX's Algorithm 2: the
//! logits and the control variate are updated from the same sample).

mod arms;
mod carms;
mod concrete;
mod coupled_disarm;
mod cv;
mod disarm;
mod double_cv;
mod indecater;
mod lax;
mod muprop;
mod nvil;
mod reinforce;
mod reinmax;
mod relax;
mod rloo;
mod rodeo;

pub use arms::{arms_combine, arms_draw, Arms};
pub use concrete::{Concrete, StraightThrough};
pub use cv::{ControlVariate, CvInput, NeuralCv, Plus, RebarCv, MAX_TEMPERATURE, MIN_TEMPERATURE};
pub use disarm::{disarm_antithetic, disarm_combine, DisArm};
pub use double_cv::{double_cv_combine, DoubleCv, DoubleCvStep};
pub use lax::{GaussianEstimate, Lax};
pub use muprop::{muprop_combine, MuProp, MuPropStep};
pub use nvil::{nvil_combine, Nvil, NvilStep};
pub use reinforce::{MovingAverage, Reinforce};
pub use reinmax::{reinmax_bernoulli, reinmax_categorical, ReinMax};
pub use relax::{
    relax_combine, relax_variance_directions, Coupling, Draw, Rebar, Relax, VarianceDirections,
};
pub use rloo::Rloo;
pub use rodeo::{rodeo_combine, Rodeo, RodeoStep};

pub use carms::Carms;
pub use coupled_disarm::{CoupledDisArm, CoupledPair, CoupledVariant};
pub use indecater::IndeCateR;

use crate::Error;
use rand_core::Rng;

/// A black-box objective `f(b)` of a hard sample (bits, or a one-hot vector). Implemented for
/// every `FnMut(&[f32; D]) -> f32`.
pub trait Objective<const D: usize> {
    /// `f(b)`.
    fn value(&mut self, b: &[f32; D]) -> f32;
}

impl<const D: usize, F: FnMut(&[f32; D]) -> f32> Objective<D> for F {
    fn value(&mut self, b: &[f32; D]) -> f32 {
        self(b)
    }
}

/// An objective that also accepts relaxed inputs `x` (in `[0, 1]^D` or on the simplex) and
/// gives its gradient there: what Concrete, straight-through and REBAR need.
pub trait RelaxedObjective<const D: usize>: Objective<D> {
    /// `f(x)`, writing `df/dx` into `grad`.
    fn relaxed(&mut self, x: &[f32; D], grad: &mut [f32; D]) -> f32;

    /// Optionally the Hessian-vector product `(d^2 f / dx^2) w` into `hw`; return `false`
    /// (the default) when not provided. REBAR then takes the temperature's variance gradient
    /// by a central difference in log-temperature, which changes only the variance of the
    /// estimator, never its mean.
    fn hvp(&mut self, _x: &[f32; D], _w: &[f32; D], _hw: &mut [f32; D]) -> bool {
        false
    }
}

/// One gradient estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Estimate<const D: usize> {
    /// The estimate of `d/dl E[f(b)]`.
    pub grad: [f32; D],
    /// `f(b)` at the (first) sample drawn.
    pub value: f32,
    /// Black-box evaluations `f(b)`.
    pub f_evals: u32,
    /// Relaxed evaluations `f(x)` with gradient.
    pub relaxed_evals: u32,
    /// `sum_i grad_i^2` when the call also took a variance-loss step on a learned control
    /// variate; `None` when there is none or its training is off.
    pub variance_loss: Option<f32>,
}

/// A gradient estimator for a discrete distribution over `D` logits and an objective `O`.
pub trait Estimator<const D: usize, O: ?Sized> {
    /// One estimate at `logits` (and, for estimators with a learned control variate in
    /// training mode, one variance-loss step).
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; D],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<D>, Error>;
}

pub(crate) fn checked_value<const D: usize, O: Objective<D> + ?Sized>(
    f: &mut O,
    b: &[f32; D],
) -> Result<f32, Error> {
    let v = f.value(b);
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::NonFiniteObjective)
    }
}

pub(crate) fn checked_relaxed<const D: usize, O: RelaxedObjective<D> + ?Sized>(
    f: &mut O,
    x: &[f32; D],
) -> Result<(f32, [f32; D]), Error> {
    let mut g = [0.0; D];
    let v = f.relaxed(x, &mut g);
    if v.is_finite() && g.iter().all(|x| x.is_finite()) {
        Ok((v, g))
    } else {
        Err(Error::NonFiniteObjective)
    }
}

pub(crate) fn check_temperature(t: f32) -> Result<(), Error> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidTemperature)
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
