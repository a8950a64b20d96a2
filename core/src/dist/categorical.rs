//! One categorical variable over `K` classes with unnormalised logits `l`
//! (`log theta = log_softmax(l)`), relaxed through the Gumbel-max construction
//! `z_i = log theta_i - log(-log u_i)`.

use super::{Conditional, Relaxed};
use crate::math::{dot, log_softmax, softmax, uniform_open};
use rand_core::Rng;

/// A categorical distribution over `K` classes; hard samples are one-hot `[f32; K]`.
///
/// ```
/// use relax_core::dist::{Categorical, Relaxed};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
/// let l = [0.5f32, -1.0, 2.0, 0.0];
/// let b = Categorical::<4>::harden(&Categorical::<4>::sample_z(&l, &mut rng));
/// assert_eq!(b.iter().sum::<f32>(), 1.0);
/// let zt = Categorical::<4>::sample_conditional(&l, &b, &mut rng);
/// assert_eq!(Categorical::<4>::harden(&zt.z), b); // argmax z~ = b
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Categorical<const K: usize>;

impl<const K: usize> Categorical<K> {
    /// Index of the largest entry (the first one on ties); the class of a one-hot vector.
    pub fn argmax(v: &[f32; K]) -> usize {
        let mut best = 0;
        for i in 1..K {
            if v[i] > v[best] {
                best = i;
            }
        }
        best
    }

    /// The one-hot vector of class `k` (all zeros when `k >= K`).
    pub fn one_hot(k: usize) -> [f32; K] {
        let mut b = [0.0; K];
        if k < K {
            b[k] = 1.0;
        }
        b
    }

    /// The class probabilities `softmax(l)`.
    pub fn probs(logits: &[f32; K]) -> [f32; K] {
        softmax(logits)
    }
}

impl<const K: usize> Relaxed<K> for Categorical<K> {
    fn sample_z<R: Rng + ?Sized>(logits: &[f32; K], rng: &mut R) -> [f32; K] {
        let lt = log_softmax(logits);
        let mut z = [0.0; K];
        for i in 0..K {
            let u = uniform_open(rng);
            z[i] = lt[i] - libm::logf(-libm::logf(u));
        }
        z
    }

    fn harden(z: &[f32; K]) -> [f32; K] {
        Self::one_hot(Self::argmax(z))
    }

    /// The paper's conditional (appendix B, from Tucker et al.): with `E_i = -log v_i`,
    /// `z~_b = -log E_b` and, for `i != b`, `z~_i = -log(E_i / theta_i + E_b)`, computed as
    /// `log theta_i - log(E_i + E_b theta_i)` so that tiny probabilities cannot overflow.
    /// `coef_i = dz~_i / d log theta_i = E_i / (E_i + E_b theta_i)` (0 at `b`).
    /// `v` outside `(0, 1)` is clamped (see [`Relaxed::conditional_from_noise`]).
    fn conditional_from_noise(logits: &[f32; K], b: &[f32; K], v: &[f32; K]) -> Conditional<K> {
        let lt = log_softmax(logits);
        let k = Self::argmax(b);
        let e: [f32; K] = core::array::from_fn(|i| -libm::logf(super::clamp_noise(v[i])));
        let mut out = Conditional {
            z: [0.0; K],
            coef: [0.0; K],
        };
        for i in 0..K {
            if i == k {
                out.z[i] = -libm::logf(e[k]);
            } else {
                let th = libm::expf(lt[i]);
                let den = e[i] + e[k] * th;
                out.z[i] = lt[i] - libm::logf(den);
                out.coef[i] = e[i] / den;
            }
        }
        out
    }

    /// Inverting the conditional map at `z`: `coef_i = 1 - e^{z_i - z_b}` for `i != b`.
    fn tie(_logits: &[f32; K], z: &[f32; K], b: &[f32; K]) -> Conditional<K> {
        let k = Self::argmax(b);
        let mut coef = [0.0; K];
        for i in 0..K {
            if i != k {
                coef[i] = (-libm::expm1f(z[i] - z[k])).clamp(0.0, 1.0);
            }
        }
        Conditional { z: *z, coef }
    }

    fn z_jvp(logits: &[f32; K], dl: &[f32; K]) -> [f32; K] {
        let th = softmax(logits);
        let m = dot(&th, dl);
        let mut out = [0.0; K];
        for i in 0..K {
            out[i] = dl[i] - m;
        }
        out
    }

    fn z_vjp(logits: &[f32; K], gz: &[f32; K]) -> [f32; K] {
        let th = softmax(logits);
        let s: f32 = gz.iter().sum();
        let mut out = [0.0; K];
        for j in 0..K {
            out[j] = gz[j] - th[j] * s;
        }
        out
    }

    fn zt_jvp(logits: &[f32; K], cond: &Conditional<K>, dl: &[f32; K]) -> [f32; K] {
        let th = softmax(logits);
        let m = dot(&th, dl);
        let mut out = [0.0; K];
        for i in 0..K {
            out[i] = cond.coef[i] * (dl[i] - m);
        }
        out
    }

    fn zt_vjp(logits: &[f32; K], cond: &Conditional<K>, gz: &[f32; K]) -> [f32; K] {
        let th = softmax(logits);
        let s = dot(gz, &cond.coef);
        let mut out = [0.0; K];
        for j in 0..K {
            out[j] = gz[j] * cond.coef[j] - th[j] * s;
        }
        out
    }

    fn log_prob(logits: &[f32; K], b: &[f32; K]) -> f32 {
        log_softmax(logits)[Self::argmax(b)]
    }

    fn score(logits: &[f32; K], b: &[f32; K]) -> [f32; K] {
        let th = softmax(logits);
        let k = Self::argmax(b);
        let mut s = [0.0; K];
        for i in 0..K {
            s[i] = if i == k { 1.0 } else { 0.0 } - th[i];
        }
        s
    }

    fn relax(z: &[f32; K], temperature: f32) -> [f32; K] {
        let mut y = [0.0; K];
        for i in 0..K {
            y[i] = z[i] / temperature;
        }
        softmax(&y)
    }

    fn relax_jvp(x: &[f32; K], temperature: f32, u: &[f32; K]) -> [f32; K] {
        let m = dot(x, u);
        let mut out = [0.0; K];
        for i in 0..K {
            out[i] = x[i] * (u[i] - m) / temperature;
        }
        out
    }

    fn relax_dlogtemp(z: &[f32; K], x: &[f32; K], temperature: f32) -> [f32; K] {
        let mut y = [0.0; K];
        for i in 0..K {
            y[i] = z[i] / temperature;
        }
        let m = dot(x, &y);
        let mut out = [0.0; K];
        for i in 0..K {
            out[i] = -x[i] * (y[i] - m);
        }
        out
    }

    fn relax_jvp_dlogtemp(z: &[f32; K], x: &[f32; K], temperature: f32, u: &[f32; K]) -> [f32; K] {
        let dx = Self::relax_dlogtemp(z, x, temperature);
        let xu = dot(x, u);
        let dxu = dot(&dx, u);
        let mut out = [0.0; K];
        for i in 0..K {
            let ju = x[i] * (u[i] - xu) / temperature;
            out[i] = (dx[i] * u[i] - dx[i] * xu - x[i] * dxu) / temperature - ju;
        }
        out
    }

    fn is_valid_hard(b: &[f32; K]) -> bool {
        b.iter().all(|&v| v == 0.0 || v == 1.0) && b.iter().sum::<f32>() == 1.0
    }
}
