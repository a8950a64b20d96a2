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

    /// One descent step on `grad`. All or nothing: refuses, changing nothing, a non-finite
    /// `grad` ([`Error::NonFiniteGradient`]), a non-finite parameter ([`Error::NonFiniteInput`])
    /// and a step that would make the velocity or a parameter non-finite
    /// ([`Error::NonFiniteGradient`]). [`Sgd::check_step`] tells in advance.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) -> Result<(), Error> {
        self.check_step(params, grad)?;
        for i in 0..P {
            let (v, p) = self.update(i, params[i], grad[i]);
            self.velocity[i] = v;
            params[i] = p;
        }
        Ok(())
    }

    /// `Ok(())` exactly when [`Sgd::step`] with the same arguments would succeed; changes nothing.
    pub fn check_step(&self, params: &[f32], grad: &[f32]) -> Result<(), Error> {
        if params.len() != P || grad.len() != P {
            return Err(Error::SizeMismatch);
        }
        crate::check_finite(grad, Error::NonFiniteGradient)?;
        crate::check_finite(params, Error::NonFiniteInput)?;
        for i in 0..P {
            let (v, p) = self.update(i, params[i], grad[i]);
            if !(v.is_finite() && p.is_finite()) {
                return Err(Error::NonFiniteGradient);
            }
        }
        Ok(())
    }

    /// The new velocity and parameter `i` (one formula for the check and the step).
    #[inline]
    fn update(&self, i: usize, param: f32, grad: f32) -> (f32, f32) {
        let v = self.momentum * self.velocity[i] + grad;
        (v, param - self.lr * v)
    }
}

#[cfg(test)]
mod tests;
