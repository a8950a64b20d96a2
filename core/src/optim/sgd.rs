//! Plain stochastic gradient descent with optional momentum, for `P` parameters.

use crate::Error;

/// SGD with heavy-ball momentum (0 for plain SGD).
#[derive(Debug, Clone)]
pub struct Sgd<const P: usize> {
    lr: f32,
    momentum: f32,
    velocity: [f32; P],
}

impl<const P: usize> Sgd<P> {
    /// `lr > 0`, `momentum` in [0, 1).
    pub fn new(lr: f32, momentum: f32) -> Result<Self, Error> {
        if !(lr.is_finite() && lr > 0.0 && (0.0..1.0).contains(&momentum)) {
            return Err(Error::InvalidHyperparameter);
        }
        Ok(Self {
            lr,
            momentum,
            velocity: [0.0; P],
        })
    }

    /// One descent step on `grad`; refuses non-finite gradients without changing anything.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) -> Result<(), Error> {
        if params.len() != P || grad.len() != P {
            return Err(Error::SizeMismatch);
        }
        crate::check_finite(grad, Error::NonFiniteGradient)?;
        for i in 0..P {
            self.velocity[i] = self.momentum * self.velocity[i] + grad[i];
            params[i] -= self.lr * self.velocity[i];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
