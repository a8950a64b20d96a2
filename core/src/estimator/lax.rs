//! LAX (the paper's section 3.1) for reparameterisable Gaussian variables.

use super::{checked_value, Objective};
use crate::dist::Gaussian;
use crate::math::dot;
use crate::nn::Mlp;
use crate::optim::{Adam, AdamConfig};
use crate::Error;
use rand_core::Rng;

/// One LAX estimate for the mean and log-std of `N` Gaussians.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GaussianEstimate<const N: usize> {
    /// Estimate of `d/dmu E[f(b)]`.
    pub grad_mean: [f32; N],
    /// Estimate of `d/ds E[f(b)]` (`s` the log-std).
    pub grad_log_std: [f32; N],
    /// `f(b)` at the sample.
    pub value: f32,
    /// Black-box evaluations of `f` (always 1).
    pub f_evals: u32,
    /// `sum g^2` when a variance-loss step was taken.
    pub variance_loss: Option<f32>,
}

/// LAX: `g = [f(b) - c(b)] d log p(b|theta)/dtheta + d c(b)/dtheta` with `b = mu + e^s eps`
/// and `c_phi` an [`Mlp`]. Unbiased for any `c`; with `c = f` it is the reparameterisation
/// gradient. In training mode every call takes an Adam step on `phi` down the exact gradient of
/// `sum g^2` (mean and log-std components).
///
/// Every `Ok` estimate is finite (gradients, value, variance loss). A call that fails
/// (non-finite input or value, a gradient or variance loss that overflows, a step that would
/// make a weight or an Adam moment non-finite) leaves the network and its moments
/// bit-identical.
#[derive(Debug, Clone)]
pub struct Lax<const N: usize, const H: usize, const L: usize, const P: usize> {
    net: Mlp<N, H, 1, L, P>,
    pub(crate) adam: Adam<P>,
    /// Scratch for the variance gradient, zero between calls.
    pub(crate) grad: [f32; P],
    training: bool,
}

impl<const N: usize, const H: usize, const L: usize, const P: usize> Lax<N, H, L, P> {
    /// LAX around the control-variate network `net`, trained by Adam with `config`.
    pub fn new(net: Mlp<N, H, 1, L, P>, config: AdamConfig) -> Result<Self, Error> {
        Ok(Self {
            net,
            adam: Adam::new(config)?,
            grad: [0.0; P],
            training: true,
        })
    }

    /// Turns the variance-loss steps on or off.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }

    /// The control-variate network.
    pub fn net(&self) -> &Mlp<N, H, 1, L, P> {
        &self.net
    }

    /// One estimate at `(mean, log_std)`.
    pub fn estimate<O: Objective<N> + ?Sized, R: Rng + ?Sized>(
        &mut self,
        mean: &[f32; N],
        log_std: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<GaussianEstimate<N>, Error> {
        crate::check_finite(mean, Error::NonFiniteInput)?;
        crate::check_finite(log_std, Error::NonFiniteInput)?;
        let eps = Gaussian::<N>::sample_noise(rng);
        let b = Gaussian::<N>::transform(mean, log_std, &eps);
        crate::check_finite(&b, Error::NonFiniteInput)?;
        let fb = checked_value(f, &b)?;
        let (c, gc) = self.net.value_and_input_grad(&b, &[1.0]);
        let (sm, ss) = Gaussian::<N>::score(mean, log_std, &b);
        let db = Gaussian::<N>::dsample_dlogstd(log_std, &eps);
        let adv = fb - c[0];
        let gm: [f32; N] = core::array::from_fn(|i| adv * sm[i] + gc[i]);
        let gs: [f32; N] = core::array::from_fn(|i| adv * ss[i] + gc[i] * db[i]);
        if !(gm.iter().chain(&gs).all(|v| v.is_finite())) {
            return Err(Error::NonFiniteGradient);
        }
        let mut variance_loss = None;
        if self.training {
            // d/dphi sum g^2 = d/dphi [ -2 (g . score) c(b) + 2 u . grad c(b) ],
            // u = (db/dtheta) g = g_mu + g_s * e^s eps.
            let loss = dot(&gm, &gm) + dot(&gs, &gs);
            if !loss.is_finite() {
                return Err(Error::NonFiniteGradient);
            }
            let gdot = dot(&gm, &sm) + dot(&gs, &ss);
            let u: [f32; N] = core::array::from_fn(|i| gm[i] + gs[i] * db[i]);
            self.net
                .mixed_backward(&b, &u, &[-2.0 * gdot], &[2.0], &mut self.grad);
            let g = self.grad;
            self.grad = [0.0; P];
            // The last fallible operation, all or nothing (Adam::step).
            self.adam.step(self.net.params_mut(), &g)?;
            variance_loss = Some(loss);
        }
        Ok(GaussianEstimate {
            grad_mean: gm,
            grad_log_std: gs,
            value: fb,
            f_evals: 1,
            variance_loss,
        })
    }
}
