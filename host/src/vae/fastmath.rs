//! Branch-free `exp`, `sigmoid` and `softplus` in `f32` that the compiler vectorises: the
//! VAE's per-pixel loops take one per pixel per sample.

/// `e^y` for `y <= 0` (clamped at -87, where it is 1.6e-38) by range reduction and a
/// degree-6 polynomial: branch-free arithmetic the compiler vectorises, where a call to the
/// C library's `expf` per pixel dominated the evaluation. Relative error below 3e-7.
#[inline]
fn exp_nonpos(y: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to integer
    let y = y.clamp(-87.0, 0.0);
    let t = y * LOG2E + ROUND;
    let k = t - ROUND;
    // The integer k is in t's low mantissa bits (t = 1.5 * 2^23 + k, one unit per integer):
    // integer arithmetic the compiler vectorises, where `k as i32` (a saturating conversion)
    // kept the loops scalar. The same k, so the same value.
    let ki = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = y - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((ki + 127) as u32) << 23)
}

/// `ln(1 + e)` for `e` in [0, 1]: `2 atanh(t)`, `t = e / (2 + e) <= 1/3`, by its series to
/// `t^13` (absolute error below 1e-7).
#[inline]
fn ln_1p_unit(e: f32) -> f32 {
    let t = e / (2.0 + e);
    let t2 = t * t;
    2.0 * t
        * (1.0
            + t2 * (1.0 / 3.0
                + t2 * (1.0 / 5.0
                    + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0 + t2 * (1.0 / 11.0 + t2 / 13.0))))))
}

/// The logistic sigmoid, branch-free on [`exp_nonpos`] (absolute error below 1e-7).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp_nonpos(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 {
        s
    } else {
        e * s
    }
}

/// `log(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)` without overflow (absolute error below
/// 2e-7). The harness's hot loops take one per pixel per sample.
#[inline]
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + ln_1p_unit(exp_nonpos(-x.abs()))
}

crate::wide_fn! {
    /// `l(s; a) = sum s a - softplus(a)`, compiled for the widest vectors this CPU has
    /// ([`crate::simd`]; the same bits at every width).
    pub fn ll(s: &[f32], a: &[f32]) -> f32 {
        // Eight running sums, so the compiler may vectorise (a single f32 sum is a strict
        // in-order reduction it must not reorder).
        // The terms of sixteen elements at a time (one AVX-512 vector), each added to its
        // running sum in element order: the same sums as eight at a time.
        let n = s.len().min(a.len());
        let mut acc = [0.0f32; 8];
        let (sc, ac) = (s[..n].chunks_exact(16), a[..n].chunks_exact(16));
        let (sr, ar) = (sc.remainder(), ac.remainder());
        for (s16, a16) in sc.zip(ac) {
            let mut t = [0.0f32; 16];
            for i in 0..16 {
                t[i] = s16[i] * a16[i] - softplus(a16[i]);
            }
            for i in 0..8 {
                acc[i] += t[i];
                acc[i] += t[i + 8];
            }
        }
        let (s8, a8) = (sr.chunks_exact(8), ar.chunks_exact(8));
        let (sr, ar) = (s8.remainder(), a8.remainder());
        for (s8, a8) in s8.zip(a8) {
            for i in 0..8 {
                acc[i] += s8[i] * a8[i] - softplus(a8[i]);
            }
        }
        let tail: f32 = sr.iter().zip(ar).map(|(&s, &a)| s * a - softplus(a)).sum();
        acc.iter().sum::<f32>() + tail
    }
}

crate::wide_fn! {
    /// The pixels' `d(-l(x; a))/da = w (sigmoid(a) - x)` of each row into `dst`, flushed
    /// below 1e-30 (pixels that are always off drive their logits far below zero, where
    /// this is subnormal and slows the matrix products that follow), compiled for the
    /// widest vectors this CPU has (the same bits at every width).
    pub fn pixel_grad(dst: &mut [f32], out: &[f32], x: &[f32], w: &[f32], p: usize) {
        // Row slices zipped, not indexed: no bounds checks, so the loop vectorises.
        for (((dst, out), x), &wr) in dst
            .chunks_exact_mut(p)
            .zip(out.chunks_exact(p))
            .zip(x.chunks_exact(p))
            .zip(w)
        {
            for ((d, &a), &xi) in dst.iter_mut().zip(out).zip(x) {
                let v = wr * (sigmoid(a) - xi);
                *d = if v.abs() < 1e-30 { 0.0 } else { v };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ll` with eight running sums over eight elements at a time, as it was before it took
    /// sixteen: each sum adds its elements in the same order.
    fn ll_by_eight(s: &[f32], a: &[f32]) -> f32 {
        let n = s.len().min(a.len());
        let mut acc = [0.0f32; 8];
        let (sc, ac) = (s[..n].chunks_exact(8), a[..n].chunks_exact(8));
        let (sr, ar) = (sc.remainder(), ac.remainder());
        for (s8, a8) in sc.zip(ac) {
            for i in 0..8 {
                acc[i] += s8[i] * a8[i] - softplus(a8[i]);
            }
        }
        let tail: f32 = sr.iter().zip(ar).map(|(&s, &a)| s * a - softplus(a)).sum();
        acc.iter().sum::<f32>() + tail
    }

    /// The same bits as eight at a time, for every length up to 64 (a whole number of
    /// sixteens, an odd eight left, a tail) and the VAE's rows (200 latents, 784 pixels).
    #[test]
    fn ll_sixteen_at_a_time_is_eight_at_a_time() {
        let n = 784;
        let a: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 50.0 - 10.0)
            .collect();
        let s: Vec<f32> = (0..n).map(|i| ((i * 31) % 3) as f32 / 2.0).collect();
        for len in (0..=64).chain([199, 200, 783, 784]) {
            let (got, want) = (ll(&s[..len], &a[..len]), ll_by_eight(&s[..len], &a[..len]));
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "length {len}: {got} vs {want}"
            );
        }
        // The slices' shorter length.
        assert_eq!(
            ll(&s[..40], &a[..24]).to_bits(),
            ll_by_eight(&s[..24], &a[..24]).to_bits()
        );
    }
}
