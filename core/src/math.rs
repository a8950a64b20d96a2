//! Numerically stable scalar functions on `libm`, and uniform noise on the open interval.
//!
//! Everything that reaches a log-probability, a noise transform or a derivative is computed
//! here with `libm`, which gives the same bits on the desktop and on a Cortex-M.

use rand_core::Rng;

/// Logistic sigmoid `1 / (1 + e^-x)`, stable for any finite `x`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// `log(1 + e^x)` without overflow.
#[inline]
pub fn softplus(x: f32) -> f32 {
    if x > 0.0 {
        x + libm::log1pf(libm::expf(-x))
    } else {
        libm::log1pf(libm::expf(x))
    }
}

/// `log sigmoid(x) = -softplus(-x)`.
#[inline]
pub fn log_sigmoid(x: f32) -> f32 {
    -softplus(-x)
}

/// `log(p / (1 - p))` for `p` in (0, 1).
#[inline]
pub fn logit(p: f32) -> f32 {
    libm::logf(p) - libm::log1pf(-p)
}

/// `log(sum_i e^{x_i})`, shifted by the maximum. Returns `-inf` for an empty slice.
pub fn logsumexp(x: &[f32]) -> f32 {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return m;
    }
    let s: f32 = x.iter().map(|&v| libm::expf(v - m)).sum();
    m + libm::logf(s)
}

/// `log softmax(x)`.
pub fn log_softmax<const K: usize>(x: &[f32; K]) -> [f32; K] {
    let lse = logsumexp(x);
    let mut out = [0.0; K];
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v - lse;
    }
    out
}

/// `softmax(x)`.
pub fn softmax<const K: usize>(x: &[f32; K]) -> [f32; K] {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = [0.0; K];
    let mut s = 0.0;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = libm::expf(v - m);
        s += *o;
    }
    for o in out.iter_mut() {
        *o /= s;
    }
    out
}

/// A uniform draw on the open interval (0, 1): `(k + 1/2) / 2^23` for a 23-bit `k`.
///
/// Never 0 and never 1, so `log u` and `log(1 - u)` are always finite (|logit u| <= 16.6).
/// All 2^23 values are exactly representable in f32.
#[inline]
pub fn uniform_open<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    let k = rng.next_u32() >> 9;
    (k as f32 + 0.5) * (1.0 / 8_388_608.0)
}

/// A standard normal draw (Box-Muller on two open-interval uniforms).
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    let u1 = uniform_open(rng);
    let u2 = uniform_open(rng);
    libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(core::f32::consts::TAU * u2)
}

/// `a . b`, summed left to right in `f32` (the estimators' and learners' inner product).
#[inline]
pub(crate) fn dot<const D: usize>(a: &[f32; D], b: &[f32; D]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests;
