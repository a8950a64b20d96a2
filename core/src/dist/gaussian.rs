//! `N` independent Gaussians with means `mu` and log-standard-deviations `s`,
//! reparameterised as `b = mu + e^s eps`, for LAX.

use crate::math::standard_normal;
use rand_core::Rng;

/// `N` independent normal variables parameterised by mean and log-std.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gaussian<const N: usize>;

const HALF_LN_2PI: f32 = 0.918_938_5;

impl<const N: usize> Gaussian<N> {
    /// Draws standard normal noise `eps`.
    pub fn sample_noise<R: Rng + ?Sized>(rng: &mut R) -> [f32; N] {
        let mut e = [0.0; N];
        for ei in e.iter_mut() {
            *ei = standard_normal(rng);
        }
        e
    }

    /// `b = mu + e^s eps`.
    pub fn transform(mean: &[f32; N], log_std: &[f32; N], eps: &[f32; N]) -> [f32; N] {
        let mut b = [0.0; N];
        for i in 0..N {
            b[i] = mean[i] + libm::expf(log_std[i]) * eps[i];
        }
        b
    }

    /// `log p(b | mu, s)`.
    pub fn log_prob(mean: &[f32; N], log_std: &[f32; N], b: &[f32; N]) -> f32 {
        let mut lp = 0.0;
        for i in 0..N {
            let r = (b[i] - mean[i]) * libm::expf(-log_std[i]);
            lp += -0.5 * r * r - log_std[i] - HALF_LN_2PI;
        }
        lp
    }

    /// The score: `(d log p / d mu, d log p / d s)`.
    pub fn score(mean: &[f32; N], log_std: &[f32; N], b: &[f32; N]) -> ([f32; N], [f32; N]) {
        let mut gm = [0.0; N];
        let mut gs = [0.0; N];
        for i in 0..N {
            let inv = libm::expf(-log_std[i]);
            let r = (b[i] - mean[i]) * inv;
            gm[i] = r * inv;
            gs[i] = r * r - 1.0;
        }
        (gm, gs)
    }

    /// The reparameterisation Jacobian's diagonal blocks: `db/dmu = 1`, `db/ds = e^s eps`.
    pub fn dsample_dlogstd(log_std: &[f32; N], eps: &[f32; N]) -> [f32; N] {
        let mut d = [0.0; N];
        for i in 0..N {
            d[i] = libm::expf(log_std[i]) * eps[i];
        }
        d
    }

    /// `KL(p || q)` between two diagonal Gaussians given by means and log-stds:
    /// `sum_i [s_q - s_p + (e^{2 s_p} + (mu_p - mu_q)^2) / (2 e^{2 s_q}) - 1/2]`.
    pub fn kl(
        mean_p: &[f32; N],
        log_std_p: &[f32; N],
        mean_q: &[f32; N],
        log_std_q: &[f32; N],
    ) -> f32 {
        let mut kl = 0.0;
        for i in 0..N {
            let d = mean_p[i] - mean_q[i];
            let var_p = libm::expf(2.0 * log_std_p[i]);
            let inv_var_q = libm::expf(-2.0 * log_std_q[i]);
            kl += log_std_q[i] - log_std_p[i] + 0.5 * (var_p + d * d) * inv_var_q - 0.5;
        }
        kl
    }

    /// Differential entropy `sum_i (s_i + 1/2 log(2 pi e))`.
    pub fn entropy(log_std: &[f32; N]) -> f32 {
        log_std.iter().map(|s| s + HALF_LN_2PI + 0.5).sum()
    }
}
