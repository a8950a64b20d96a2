//! Adam (Kingma & Ba) for `P` parameters.

use crate::Error;

/// Adam's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdamConfig {
    /// Step size (> 0).
    pub lr: f32,
    /// First-moment decay in [0, 1).
    pub beta1: f32,
    /// Second-moment decay in [0, 1).
    pub beta2: f32,
    /// Denominator guard (> 0).
    pub eps: f32,
}

impl AdamConfig {
    /// The usual defaults (beta1 0.9, beta2 0.999, eps 1e-8) with step size `lr`.
    pub const fn new(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps > 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter)
        }
    }
}

/// One Adam step, computed and checked by [`Adam::prepare`], applied by [`Adam::commit`]:
/// the new moments and parameters.
#[derive(Debug, Clone)]
pub(crate) struct AdamStep<const P: usize> {
    m: [f32; P],
    v: [f32; P],
    p: [f32; P],
}

/// Adam state for `P` parameters: two moment arrays and the bias-correction powers.
#[derive(Debug, Clone)]
pub struct Adam<const P: usize> {
    config: AdamConfig,
    m: [f32; P],
    v: [f32; P],
    beta1_t: f32,
    beta2_t: f32,
}

impl<const P: usize> Adam<P> {
    /// Fresh state; fails on an invalid configuration.
    pub fn new(config: AdamConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            m: [0.0; P],
            v: [0.0; P],
            beta1_t: 1.0,
            beta2_t: 1.0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Changes the step size.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), Error> {
        let c = AdamConfig { lr, ..self.config };
        c.validate()?;
        self.config = c;
        Ok(())
    }

    /// One descent step `params -= lr * m_hat / (sqrt(v_hat) + eps)` on the gradient `grad`
    /// (of a loss to minimise). `params` and `grad` must have `P` elements.
    ///
    /// All or nothing: the step is refused, leaving the parameters and both moments
    /// bit-identical, when `grad` is not finite ([`Error::NonFiniteGradient`]), a parameter is
    /// not finite ([`Error::NonFiniteInput`]), or the step would make a moment, a bias-corrected
    /// moment or a parameter non-finite ([`Error::NonFiniteGradient`]; for example a finite
    /// gradient of `1e21`, whose square overflows `f32`). [`Adam::check_step`] tells in
    /// advance, without changing anything, whether this call would succeed.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) -> Result<(), Error> {
        let step = self.prepare(params, grad)?;
        self.commit(params, &step);
        Ok(())
    }

    /// The step [`Adam::step`] would take, computed and checked (the same errors) but not
    /// applied: each parameter's moments are computed once, then [`Adam::commit`] copies
    /// them in. A composite prepares every optimizer's step before it commits any.
    pub(crate) fn prepare(&self, params: &[f32], grad: &[f32]) -> Result<AdamStep<P>, Error> {
        Self::check_sizes(params, grad)?;
        let mut step = AdamStep {
            m: [0.0; P],
            v: [0.0; P],
            p: [0.0; P],
        };
        for i in 0..P {
            let [m, v, mh, vh, p] = self.moments(i, params[i], grad[i]);
            if ![m, v, mh, vh, p].iter().all(|x| x.is_finite()) {
                return Err(Error::NonFiniteGradient);
            }
            step.m[i] = m;
            step.v[i] = v;
            step.p[i] = p;
        }
        Ok(step)
    }

    /// [`Adam::step`] after [`Adam::check_step`] returned `Ok(())` for the same arguments
    /// and nothing changed since: the step without a second check and without
    /// [`Adam::prepare`]'s buffers (three arrays of `P` on the stack), for a composite that
    /// checked all its optimizers first.
    pub(crate) fn step_checked(&mut self, params: &mut [f32], grad: &[f32]) {
        for i in 0..P {
            let [m, v, _, _, p] = self.moments(i, params[i], grad[i]);
            self.m[i] = m;
            self.v[i] = v;
            params[i] = p;
        }
        (self.beta1_t, self.beta2_t) = self.powers();
    }

    /// Applies a step [`Adam::prepare`] made from this state (nothing may change between
    /// the two calls). `params` must have `P` elements.
    pub(crate) fn commit(&mut self, params: &mut [f32], step: &AdamStep<P>) {
        self.m = step.m;
        self.v = step.v;
        params.copy_from_slice(&step.p);
        (self.beta1_t, self.beta2_t) = self.powers();
    }

    /// The size and finiteness checks of [`Adam::check_step`], before any moment.
    fn check_sizes(params: &[f32], grad: &[f32]) -> Result<(), Error> {
        if params.len() != P || grad.len() != P {
            return Err(Error::SizeMismatch);
        }
        crate::check_finite(grad, Error::NonFiniteGradient)?;
        crate::check_finite(params, Error::NonFiniteInput)
    }

    /// `Ok(())` exactly when [`Adam::step`] with the same arguments would succeed; changes
    /// nothing. A composite learner checks every optimizer of a step before it applies any,
    /// so a refused step leaves all of them untouched.
    pub fn check_step(&self, params: &[f32], grad: &[f32]) -> Result<(), Error> {
        Self::check_sizes(params, grad)?;
        for i in 0..P {
            if !self
                .moments(i, params[i], grad[i])
                .iter()
                .all(|x| x.is_finite())
            {
                return Err(Error::NonFiniteGradient);
            }
        }
        Ok(())
    }

    /// The bias-correction powers after one more step.
    fn powers(&self) -> (f32, f32) {
        (
            self.beta1_t * self.config.beta1,
            self.beta2_t * self.config.beta2,
        )
    }

    /// `[m, v, m_hat, v_hat, new parameter]` of parameter `i` after one step: one formula for
    /// [`Adam::check_step`] and [`Adam::step`], so the check sees exactly the step's numbers.
    #[inline]
    fn moments(&self, i: usize, param: f32, grad: f32) -> [f32; 5] {
        let c = self.config;
        let (b1t, b2t) = self.powers();
        let bc1 = 1.0 - b1t;
        let bc2 = 1.0 - b2t;
        let m = c.beta1 * self.m[i] + (1.0 - c.beta1) * grad;
        let v = c.beta2 * self.v[i] + (1.0 - c.beta2) * grad * grad;
        let mh = m / bc1;
        let vh = v / bc2;
        let p = param - c.lr * mh / (libm::sqrtf(vh) + c.eps);
        [m, v, mh, vh, p]
    }

    /// The moments and bias-correction powers, for tests that compare states bit for bit.
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> (&[f32; P], &[f32; P], f32, f32) {
        (&self.m, &self.v, self.beta1_t, self.beta2_t)
    }
}

#[cfg(test)]
mod tests;
