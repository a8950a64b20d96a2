//! RELAX (the paper's Algorithm 2) and REBAR, as one call and as the steps it is made of.
//!
//! `g = [f(b) - c(z~)] d log p(b|l)/dl + d c(z)/dl - d c(z~)/dl`, with `b = H(z)`,
//! `z ~ p(z|l)`, `z~ ~ p(z|b,l)`, both pathwise derivatives taken through the sample's
//! dependence on `l`.

use super::{checked_value, ControlVariate, Estimate, Estimator, Objective, RebarCv};
use crate::dist::{Conditional, Relaxed};
use crate::math::dot;
use crate::Error;
use core::marker::PhantomData;
use rand_core::Rng;

/// The random draws of one RELAX/REBAR estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Draw<const D: usize> {
    /// `z ~ p(z | l)`.
    pub z: [f32; D],
    /// `b = H(z)`.
    pub b: [f32; D],
    /// `z~ ~ p(z | b, l)` with its derivative coefficients.
    pub cond: Conditional<D>,
}

/// How `z~` is coupled to `z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Coupling {
    /// Fresh noise for `z~` (the paper's appendix B).
    #[default]
    Independent,
    /// `z~ = z` in value, with the conditional derivative (the reference code's
    /// `force_same`, used by its toy, VAE and Tucker et al.'s REBAR). Also unbiased.
    Tied,
}

impl<const D: usize> Draw<D> {
    /// Draws `z`, `b` and an independent `z~` at `logits`; refuses non-finite logits.
    pub fn new<Dist: Relaxed<D>, R: Rng + ?Sized>(
        logits: &[f32; D],
        rng: &mut R,
    ) -> Result<Self, Error> {
        Self::with_coupling::<Dist, R>(logits, Coupling::Independent, rng)
    }

    /// Draws `z`, `b` and `z~` coupled as `coupling` says; refuses non-finite logits.
    pub fn with_coupling<Dist: Relaxed<D>, R: Rng + ?Sized>(
        logits: &[f32; D],
        coupling: Coupling,
        rng: &mut R,
    ) -> Result<Self, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let z = Dist::sample_z(logits, rng);
        let b = Dist::harden(&z);
        let cond = match coupling {
            Coupling::Independent => Dist::sample_conditional(logits, &b, rng),
            Coupling::Tied => Dist::tie(logits, &z, &b),
        };
        crate::check_finite(&z, Error::NonFiniteInput)?;
        crate::check_finite(&cond.z, Error::NonFiniteInput)?;
        Ok(Self { z, b, cond })
    }
}

/// Combines the caller's evaluations into the RELAX gradient w.r.t. the logits:
/// `g = (f_b - c_zt) score + (dz/dl)^T grad_c_z - (dz~/dl)^T grad_c_zt`, where `grad_c_z` and
/// `grad_c_zt` are `dc/dz` at `z` and at `z~`.
pub fn relax_combine<Dist: Relaxed<D>, const D: usize>(
    logits: &[f32; D],
    draw: &Draw<D>,
    f_b: f32,
    c_zt: f32,
    grad_c_z: &[f32; D],
    grad_c_zt: &[f32; D],
) -> Result<[f32; D], Error> {
    if !(f_b.is_finite() && c_zt.is_finite()) {
        return Err(Error::NonFiniteObjective);
    }
    let score = Dist::score(logits, &draw.b);
    let a = Dist::z_vjp(logits, grad_c_z);
    let c = Dist::zt_vjp(logits, &draw.cond, grad_c_zt);
    let mut g = [0.0; D];
    for i in 0..D {
        g[i] = (f_b - c_zt) * score[i] + a[i] - c[i];
    }
    crate::check_finite(&g, Error::NonFiniteGradient)?;
    Ok(g)
}

/// How the variance loss `sum_j g_j^2` depends on the control variate: its `phi`-gradient is
/// `d/dphi [alpha_z c(z) + u_z . dc/dz(z)] + d/dphi [alpha_zt c(z~) + u_zt . dc/dz(z~)]`.
/// A caller with its own control variate (e.g. a large network on the host) feeds these to
/// its own mixed second derivative.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VarianceDirections<const D: usize> {
    /// Coefficient of `c(z)` (always 0: `c(z)` enters `g` only through its gradient).
    pub alpha_z: f32,
    /// Direction for `dc/dz` at `z`: `2 (dz/dl) g`.
    pub u_z: [f32; D],
    /// Coefficient of `c(z~)`: `-2 g . score`.
    pub alpha_zt: f32,
    /// Direction for `dc/dz` at `z~`: `-2 (dz~/dl) g`.
    pub u_zt: [f32; D],
}

/// The [`VarianceDirections`] of the estimate `g` drawn with `draw`.
pub fn relax_variance_directions<Dist: Relaxed<D>, const D: usize>(
    logits: &[f32; D],
    draw: &Draw<D>,
    g: &[f32; D],
) -> VarianceDirections<D> {
    let score = Dist::score(logits, &draw.b);
    let jz = Dist::z_jvp(logits, g);
    let jzt = Dist::zt_jvp(logits, &draw.cond, g);
    VarianceDirections {
        alpha_z: 0.0,
        u_z: core::array::from_fn(|i| 2.0 * jz[i]),
        alpha_zt: -2.0 * dot(g, &score),
        u_zt: core::array::from_fn(|i| -2.0 * jzt[i]),
    }
}

/// RELAX with control variate `CV` (any [`ControlVariate`]); unbiased for every `CV`.
///
/// In training mode (the default) every call also takes one Adam step on `CV`'s parameters
/// down the exact gradient of the single-sample variance loss `sum_j g_j^2`, from the same
/// sample (Algorithm 2). [`Relax::set_training`] freezes it.
///
/// Every `Ok` estimate is finite (gradient, value, variance loss). Otherwise the call returns
/// an error (non-finite logits or objective values, a gradient or variance loss that
/// overflows, a control-variate step that would overflow) and leaves every parameter and
/// optimizer moment of `CV` bit-identical: the step is the last thing a call does and is all
/// or nothing ([`ControlVariate::step`]).
#[derive(Debug, Clone)]
pub struct Relax<Dist, const D: usize, CV> {
    cv: CV,
    training: bool,
    coupling: Coupling,
    _dist: PhantomData<Dist>,
}

/// REBAR: RELAX with `c = eta f(sigma_lambda(z))`, `eta` and the temperature tuned online.
pub type Rebar<Dist, const D: usize> = Relax<Dist, D, RebarCv<Dist, D>>;

impl<Dist: Relaxed<D>, const D: usize, CV> Relax<Dist, D, CV> {
    /// RELAX around a control variate, in training mode.
    pub fn new(cv: CV) -> Self {
        Self {
            cv,
            training: true,
            coupling: Coupling::Independent,
            _dist: PhantomData,
        }
    }

    /// Chooses how `z~` is coupled to `z` (independent by default).
    pub fn with_coupling(mut self, coupling: Coupling) -> Self {
        self.coupling = coupling;
        self
    }

    /// Turns the variance-loss steps on or off.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }

    /// The control variate.
    pub fn cv(&self) -> &CV {
        &self.cv
    }

    /// The control variate, mutable (e.g. to set its context).
    pub fn cv_mut(&mut self) -> &mut CV {
        &mut self.cv
    }
}

impl<Dist: Relaxed<D>, const D: usize, O: Objective<D> + ?Sized, CV: ControlVariate<D, O>>
    Estimator<D, O> for Relax<Dist, D, CV>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; D],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<D>, Error> {
        let draw = Draw::with_coupling::<Dist, R>(logits, self.coupling, rng)?;
        let f_b = checked_value(f, &draw.b)?;
        let mut gcz = [0.0; D];
        let mut gczt = [0.0; D];
        let _ = self.cv.take_relaxed_evals();
        let result = (|| {
            self.cv.eval(f, &draw.z, &mut gcz)?;
            let c_zt = self.cv.eval(f, &draw.cond.z, &mut gczt)?;
            let g = relax_combine::<Dist, D>(logits, &draw, f_b, c_zt, &gcz, &gczt)?;
            let mut variance_loss = None;
            if self.training {
                let loss = dot(&g, &g);
                if !loss.is_finite() {
                    return Err(Error::NonFiniteGradient);
                }
                let dirs = relax_variance_directions::<Dist, D>(logits, &draw, &g);
                self.cv.clear();
                self.cv.accumulate(f, &draw.z, dirs.alpha_z, &dirs.u_z)?;
                self.cv
                    .accumulate(f, &draw.cond.z, dirs.alpha_zt, &dirs.u_zt)?;
                // The last fallible operation: all or nothing (ControlVariate::step).
                self.cv.step()?;
                variance_loss = Some(loss);
            }
            Ok((g, variance_loss))
        })();
        let relaxed_evals = self.cv.take_relaxed_evals();
        if result.is_err() {
            self.cv.clear();
        }
        let (grad, variance_loss) = result?;
        Ok(Estimate {
            grad,
            value: f_b,
            f_evals: 1,
            relaxed_evals,
            variance_loss,
        })
    }
}
