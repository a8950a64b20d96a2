//! `N` independent Bernoulli bits with logits `l` (`theta = sigmoid(l)`), relaxed through the
//! logistic distribution `z = l + log u - log(1 - u)`.

use super::{Conditional, Relaxed};
use crate::math::{log_sigmoid, sigmoid, uniform_open};
use rand_core::Rng;

/// `N` independent Bernoulli variables, parameterised by their logits.
///
/// ```
/// use relax_core::dist::{Bernoulli, Relaxed};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
/// let l = [0.0f32, 8.0, -8.0];
/// let z = Bernoulli::<3>::sample_z(&l, &mut rng);
/// let b = Bernoulli::<3>::harden(&z);
/// let zt = Bernoulli::<3>::sample_conditional(&l, &b, &mut rng);
/// assert_eq!(Bernoulli::<3>::harden(&zt.z), b); // z~ agrees with b
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Bernoulli<const N: usize>;

impl<const N: usize> Relaxed<N> for Bernoulli<N> {
    fn sample_z<R: Rng + ?Sized>(logits: &[f32; N], rng: &mut R) -> [f32; N] {
        let mut z = [0.0; N];
        for (zi, &li) in z.iter_mut().zip(logits) {
            let u = uniform_open(rng);
            *zi = li + libm::logf(u) - libm::log1pf(-u);
        }
        z
    }

    fn harden(z: &[f32; N]) -> [f32; N] {
        let mut b = [0.0; N];
        for (bi, &zi) in b.iter_mut().zip(z) {
            *bi = if zi > 0.0 { 1.0 } else { 0.0 };
        }
        b
    }

    /// Paper appendix B with a fresh `v ~ U(0, 1)`:
    /// `v' = v (1 - theta)` if `b = 0`, `v' = v theta + (1 - theta)` if `b = 1`, and
    /// `z~ = l + log v' - log(1 - v')`. Both `v'` and `1 - v'` are formed without cancellation.
    /// `coef` holds `dz~/dl`: `theta v / v'` (b = 1) or `(1 - theta)(1 - v) / (1 - v')` (b = 0).
    /// `v` outside `(0, 1)` is clamped (see [`Relaxed::conditional_from_noise`]).
    fn conditional_from_noise(logits: &[f32; N], b: &[f32; N], v: &[f32; N]) -> Conditional<N> {
        let mut out = Conditional {
            z: [0.0; N],
            coef: [0.0; N],
        };
        for i in 0..N {
            let v = super::clamp_noise(v[i]);
            let l = logits[i];
            let th = sigmoid(l);
            let one_m_th = sigmoid(-l);
            let (vp, one_m_vp, coef) = if b[i] > 0.5 {
                let vp = v * th + one_m_th;
                (vp, th * (1.0 - v), th * v / vp)
            } else {
                let vp = v * one_m_th;
                let omv = th + (1.0 - v) * one_m_th;
                (vp, omv, one_m_th * (1.0 - v) / omv)
            };
            out.z[i] = l + libm::logf(vp) - libm::logf(one_m_vp);
            out.coef[i] = coef;
        }
        out
    }

    /// With `u = sigmoid(z - l)`: `b = 1` gives `v' = u`, `coef = (u - (1 - theta)) / u`;
    /// `b = 0` gives `coef = ((1 - theta) - u) / (1 - u)`.
    fn tie(logits: &[f32; N], z: &[f32; N], b: &[f32; N]) -> Conditional<N> {
        let mut coef = [0.0; N];
        for i in 0..N {
            let u = sigmoid(z[i] - logits[i]);
            let one_m_u = sigmoid(logits[i] - z[i]);
            let one_m_th = sigmoid(-logits[i]);
            coef[i] = if b[i] > 0.5 {
                ((u - one_m_th) / u).clamp(0.0, 1.0)
            } else {
                ((one_m_th - u) / one_m_u).clamp(0.0, 1.0)
            };
        }
        Conditional { z: *z, coef }
    }

    fn z_jvp(_logits: &[f32; N], dl: &[f32; N]) -> [f32; N] {
        *dl
    }

    fn z_vjp(_logits: &[f32; N], gz: &[f32; N]) -> [f32; N] {
        *gz
    }

    fn zt_jvp(_logits: &[f32; N], cond: &Conditional<N>, dl: &[f32; N]) -> [f32; N] {
        let mut out = [0.0; N];
        for i in 0..N {
            out[i] = cond.coef[i] * dl[i];
        }
        out
    }

    fn zt_vjp(logits: &[f32; N], cond: &Conditional<N>, gz: &[f32; N]) -> [f32; N] {
        Self::zt_jvp(logits, cond, gz)
    }

    fn log_prob(logits: &[f32; N], b: &[f32; N]) -> f32 {
        let mut s = 0.0;
        for i in 0..N {
            s += if b[i] > 0.5 {
                log_sigmoid(logits[i])
            } else {
                log_sigmoid(-logits[i])
            };
        }
        s
    }

    fn score(logits: &[f32; N], b: &[f32; N]) -> [f32; N] {
        let mut s = [0.0; N];
        for i in 0..N {
            // b - sigmoid(l), written so that b = 1 gives sigmoid(-l) exactly.
            s[i] = if b[i] > 0.5 {
                sigmoid(-logits[i])
            } else {
                -sigmoid(logits[i])
            };
        }
        s
    }

    fn relax(z: &[f32; N], temperature: f32) -> [f32; N] {
        let mut x = [0.0; N];
        for i in 0..N {
            x[i] = sigmoid(z[i] / temperature);
        }
        x
    }

    fn relax_jvp(x: &[f32; N], temperature: f32, u: &[f32; N]) -> [f32; N] {
        let mut out = [0.0; N];
        for i in 0..N {
            out[i] = x[i] * (1.0 - x[i]) / temperature * u[i];
        }
        out
    }

    fn relax_dlogtemp(z: &[f32; N], x: &[f32; N], temperature: f32) -> [f32; N] {
        let mut out = [0.0; N];
        for i in 0..N {
            out[i] = -z[i] * x[i] * (1.0 - x[i]) / temperature;
        }
        out
    }

    fn relax_jvp_dlogtemp(z: &[f32; N], x: &[f32; N], temperature: f32, u: &[f32; N]) -> [f32; N] {
        let mut out = [0.0; N];
        for i in 0..N {
            let s = x[i] * (1.0 - x[i]) / temperature;
            let ds = -s * (1.0 + (1.0 - 2.0 * x[i]) * z[i] / temperature);
            out[i] = ds * u[i];
        }
        out
    }

    fn is_valid_hard(b: &[f32; N]) -> bool {
        b.iter().all(|&v| v == 0.0 || v == 1.0)
    }
}
