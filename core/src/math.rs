//! Numerically stable scalar functions on `libm`, and uniform noise on the open interval.
//!
//! Everything that reaches a log-probability, a noise transform or a derivative is computed
//! here with `libm`, which gives the same bits on the desktop and on a Cortex-M.

use rand_core::Rng;

/// `e^x` with the bits of `libm::expf` for every input.
///
/// On x86-64 it is the same algorithm (FreeBSD's `e_expf.c`: the same reduction, polynomial
/// and scaling, each operation exactly rounded as there) written without branches or calls,
/// so it inlines into the callers' loops, where the compiler may vectorise it; an exhaustive
/// test over all 2^32 inputs checks it against `libm::expf` bit for bit. Elsewhere (the
/// microcontrollers) it is `libm::expf` itself.
#[inline]
pub fn expf(x: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        expf_branch_free(x)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        libm::expf(x)
    }
}

/// `libm::expf`'s algorithm with selects for its branches (see [`expf`]).
#[inline]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn expf_branch_free(x: f32) -> f32 {
    // libm's constants, by their bits.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    #[allow(clippy::excessive_precision)]
    const P1: f32 = 1.6666625440e-1;
    #[allow(clippy::excessive_precision)]
    const P2: f32 = -2.7667332906e-3;
    let bits = x.to_bits();
    let neg = bits >> 31 != 0;
    let hx = bits & 0x7fff_ffff;
    // Argument reduction: x = k ln2 + r, |r| <= ln2 / 2 (k = 0 leaves r = x, as libm's
    // branch for |x| <= ln2 / 2 does: x - 0 ln2_hi - 0 ln2_lo is x).
    let k_far = (INV_LN2 * x + if neg { -0.5 } else { 0.5 }) as i32;
    let k_near = if neg { -1 } else { 1 };
    let k = if hx > 0x3f85_1592 {
        k_far
    } else if hx > 0x3eb1_7218 {
        k_near
    } else {
        0
    };
    let kf = k as f32;
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // scalbnf(y, k) for k in [-150, 128]: y 2^a is exact (a normal result), so the second
    // product is the one rounding, as in scalbnf.
    let a = k >> 1;
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let mut out = y * pow2(a) * pow2(k - a);
    if hx <= 0x3900_0000 {
        out = 1.0 + x; // |x| <= 2^-14
    }
    if neg && hx >= 0x42cf_f1b5 {
        out = 0.0; // x <= -103.97: underflow
    }
    if !neg && hx >= 0x42b1_7218 {
        out = x * f32::from_bits(0x7f00_0000); // x >= 88.72: overflow
    }
    if hx > 0x7f80_0000 {
        out = x; // NaN
    }
    out
}

/// Logistic sigmoid `1 / (1 + e^-x)`, stable for any finite `x`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // One exponential of -|x| (= -x or x, the same argument as below) and a select:
        // branch-free, so the callers' loops vectorise; the same bits.
        let e = expf(-libm::fabsf(x));
        if x >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if x >= 0.0 {
            1.0 / (1.0 + expf(-x))
        } else {
            let e = expf(x);
            e / (1.0 + e)
        }
    }
}

/// `log(1 + e^x)` without overflow.
#[inline]
pub fn softplus(x: f32) -> f32 {
    if x > 0.0 {
        x + libm::log1pf(expf(-x))
    } else {
        libm::log1pf(expf(x))
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
