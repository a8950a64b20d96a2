//! The two biased relaxation estimators: Concrete (Gumbel-softmax) and straight-through.
//! They are here as baselines; both optimise something other than `E[f(b)]`.

use super::{check_temperature, checked_relaxed, Estimate, Estimator, RelaxedObjective};
use crate::dist::Relaxed;
use crate::Error;
use core::marker::PhantomData;
use rand_core::Rng;

/// Concrete / Gumbel-softmax (Maddison et al., Jang et al.): the reparameterisation gradient
/// of the *relaxed* objective `E[f(sigma_lambda(z))]`.
///
/// **Biased** for `E[f(b)]`: it is the exact gradient of a different function, and the bias
/// grows with the temperature and with the curvature of `f`. `value` is `f(sigma_lambda(z))`.
/// Stateless; every `Ok` estimate is finite (a gradient that overflows is
/// [`Error::NonFiniteGradient`]).
#[derive(Debug, Clone)]
pub struct Concrete<Dist, const D: usize> {
    temperature: f32,
    _dist: PhantomData<Dist>,
}

impl<Dist: Relaxed<D>, const D: usize> Concrete<Dist, D> {
    /// Temperature `lambda > 0`.
    pub fn new(temperature: f32) -> Result<Self, Error> {
        check_temperature(temperature)?;
        Ok(Self {
            temperature,
            _dist: PhantomData,
        })
    }
}

impl<Dist: Relaxed<D>, const D: usize, O: RelaxedObjective<D> + ?Sized> Estimator<D, O>
    for Concrete<Dist, D>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; D],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<D>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let z = Dist::sample_z(logits, rng);
        let x = Dist::relax(&z, self.temperature);
        let (v, gx) = checked_relaxed(f, &x)?;
        let gz = Dist::relax_jvp(&x, self.temperature, &gx);
        let grad = Dist::z_vjp(logits, &gz);
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        Ok(Estimate {
            grad,
            value: v,
            f_evals: 0,
            relaxed_evals: 1,
            variance_loss: None,
        })
    }
}

/// Straight-through (Bengio et al.; Jang et al.'s ST-Gumbel): the forward pass uses the hard
/// `b = H(z)`, the backward pass pretends `b` was `sigma_lambda(z)`:
/// `g = (dz/dl)^T J_sigma^T grad f(b)`.
///
/// **Biased**: the gradient of `f` at a vertex says nothing exact about `E[f(b)]`.
/// Stateless; every `Ok` estimate is finite (a gradient that overflows is
/// [`Error::NonFiniteGradient`]).
#[derive(Debug, Clone)]
pub struct StraightThrough<Dist, const D: usize> {
    temperature: f32,
    _dist: PhantomData<Dist>,
}

impl<Dist: Relaxed<D>, const D: usize> StraightThrough<Dist, D> {
    /// Temperature `lambda > 0` of the backward pass.
    pub fn new(temperature: f32) -> Result<Self, Error> {
        check_temperature(temperature)?;
        Ok(Self {
            temperature,
            _dist: PhantomData,
        })
    }
}

impl<Dist: Relaxed<D>, const D: usize, O: RelaxedObjective<D> + ?Sized> Estimator<D, O>
    for StraightThrough<Dist, D>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; D],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<D>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let z = Dist::sample_z(logits, rng);
        let b = Dist::harden(&z);
        let x = Dist::relax(&z, self.temperature);
        let (v, gb) = checked_relaxed(f, &b)?;
        let gz = Dist::relax_jvp(&x, self.temperature, &gb);
        let grad = Dist::z_vjp(logits, &gz);
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        Ok(Estimate {
            grad,
            value: v,
            f_evals: 0,
            relaxed_evals: 1,
            variance_loss: None,
        })
    }
}
