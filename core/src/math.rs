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
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        for &x in &[-100.0f32, -20.0, -1.0, 0.0, 0.5, 20.0, 100.0] {
            let s = sigmoid(x);
            assert!(s.is_finite() && (0.0..=1.0).contains(&s));
            assert!((s + sigmoid(-x) - 1.0).abs() < 1e-6);
        }
        assert_eq!(sigmoid(0.0), 0.5);
    }

    #[test]
    fn softplus_matches_definition_and_does_not_overflow() {
        for &x in &[-30.0f32, -2.0, 0.0, 2.0, 30.0] {
            let direct = libm::log(1.0 + libm::exp(x as f64)) as f32;
            assert!((softplus(x) - direct).abs() < 1e-5, "{x}");
        }
        assert_eq!(softplus(1000.0), 1000.0);
        assert!((log_sigmoid(0.0) + core::f32::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn logit_inverts_sigmoid() {
        for &p in &[0.01f32, 0.3, 0.5, 0.9, 0.999] {
            assert!((sigmoid(logit(p)) - p).abs() < 1e-6);
        }
    }

    #[test]
    fn softmax_and_log_softmax_agree() {
        let x = [1.0f32, -2.0, 300.0, 0.5];
        let p = softmax(&x);
        let lp = log_softmax(&x);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for i in 0..4 {
            assert!((libm::expf(lp[i]) - p[i]).abs() < 1e-6);
        }
    }

    #[test]
    fn uniform_is_open_and_has_the_right_mean() {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
        let n = 200_000;
        let mut sum = 0.0f64;
        for _ in 0..n {
            let u = uniform_open(&mut rng);
            assert!(u > 0.0 && u < 1.0);
            sum += u as f64;
        }
        // mean 1/2, standard error sqrt(1/12/n) = 6.5e-4
        assert!((sum / n as f64 - 0.5).abs() < 4.0 * 6.5e-4);
    }

    /// A generator that always returns the same word, to reach the extremes.
    struct Constant(u32);
    impl rand_core::TryRng for Constant {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.0)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(self.0 as u64)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.fill(0);
            Ok(())
        }
    }

    #[test]
    fn uniform_extremes_stay_inside_and_logs_are_finite() {
        let lo = uniform_open(&mut Constant(0));
        let hi = uniform_open(&mut Constant(u32::MAX));
        assert!(lo > 0.0 && hi < 1.0, "{lo} {hi}");
        for u in [lo, hi] {
            let z = libm::logf(u) - libm::log1pf(-u);
            assert!(z.is_finite() && z.abs() < 16.7, "{z}");
        }
    }
}
