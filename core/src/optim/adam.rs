//! Adam (Kingma & Ba) for `P` parameters.

use crate::Error;

/// Adam's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) -> Result<(), Error> {
        if params.len() != P || grad.len() != P {
            return Err(Error::SizeMismatch);
        }
        crate::check_finite(grad, Error::NonFiniteGradient)?;
        let c = self.config;
        self.beta1_t *= c.beta1;
        self.beta2_t *= c.beta2;
        let bc1 = 1.0 - self.beta1_t;
        let bc2 = 1.0 - self.beta2_t;
        for i in 0..P {
            self.m[i] = c.beta1 * self.m[i] + (1.0 - c.beta1) * grad[i];
            self.v[i] = c.beta2 * self.v[i] + (1.0 - c.beta2) * grad[i] * grad[i];
            let mh = self.m[i] / bc1;
            let vh = self.v[i] / bc2;
            params[i] -= c.lr * mh / (libm::sqrtf(vh) + c.eps);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
