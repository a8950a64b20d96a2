//! Adam over a flat parameter vector, vectorised and split over the product threads.

use super::linalg::threads;
use rayon::prelude::*;

thread_local! {
    static ADAM_SECONDS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Wall seconds this thread has spent in [`AdamVec::step`] so far (the model's and the
/// control variates' steps).
pub fn thread_adam_seconds() -> f64 {
    ADAM_SECONDS.with(|c| c.get())
}

/// Values below this are flushed to zero by [`AdamVec::step`].
const TINY: f32 = 1e-30;
/// Parameters below this are flushed to zero by [`AdamVec::step`].
const TINY_PARAM: f32 = 1e-12;

/// Adam over a flat parameter vector (the core's `Adam` keeps fixed-size arrays, fine on a
/// chip, not for 300k VAE parameters).
#[derive(Debug, Clone)]
pub struct AdamVec {
    /// Step size.
    pub lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl AdamVec {
    /// Adam with `beta1 = 0.9`, the given `beta2` and `eps = 1e-8`.
    pub fn new(n: usize, lr: f32, beta2: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2,
            eps: 1e-8,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// The moments and the step count (for a checkpoint).
    pub fn state(&self) -> (&[f32], &[f32], i32) {
        (&self.m, &self.v, self.t)
    }

    /// Restores [`AdamVec::state`]; the lengths must match.
    pub fn set_state(&mut self, m: &[f32], v: &[f32], t: i32) -> crate::Result<()> {
        if m.len() != self.m.len() || v.len() != self.v.len() {
            return Err("Adam state of another size".into());
        }
        self.m.copy_from_slice(m);
        self.v.copy_from_slice(v);
        self.t = t;
        Ok(())
    }

    /// One descent step on `grad`; a non-finite gradient is refused (returns false) and
    /// changes nothing. Split over [`threads`] rayon tasks (each element's update alone, so
    /// the same bits).
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) -> bool {
        let t0 = std::time::Instant::now();
        let ok = self.step_timed(params, grad);
        let dt = t0.elapsed().as_secs_f64();
        ADAM_SECONDS.with(|c| c.set(c.get() + dt));
        ok
    }

    fn step_timed(&mut self, params: &mut [f32], grad: &[f32]) -> bool {
        let parts = threads();
        let chunk = params.len().div_ceil(parts).div_ceil(64) * 64;
        let ok = if parts > 1 {
            grad.par_chunks(chunk).all(all_finite)
        } else {
            all_finite(grad)
        };
        if !ok {
            return false;
        }
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t);
        let bc2 = 1.0 - self.beta2.powi(self.t);
        let c = AdamConsts {
            step: self.lr * bc2.sqrt() / bc1,
            b1: self.beta1,
            b2: self.beta2,
            eps: self.eps * bc2.sqrt(),
        };
        if parts > 1 {
            params
                .par_chunks_mut(chunk)
                .zip(grad.par_chunks(chunk))
                .zip(self.m.par_chunks_mut(chunk))
                .zip(self.v.par_chunks_mut(chunk))
                .for_each(|(((p, g), m), v)| adam_apply(c, p, g, m, v));
        } else {
            adam_apply(c, params, grad, &mut self.m, &mut self.v);
        }
        true
    }
}

/// One Adam step's constants.
#[derive(Debug, Clone, Copy)]
struct AdamConsts {
    step: f32,
    b1: f32,
    b2: f32,
    eps: f32,
}

crate::wide_fn! {
    /// Whether every element is finite; no early exit, so the check vectorises (compiled
    /// for the widest vectors this CPU has, [`crate::simd`]).
    fn all_finite(g: &[f32]) -> bool {
        g.iter().fold(true, |ok, g| ok & g.is_finite())
    }
}

crate::wide_fn! {
    /// One Adam step over equal-length slices, compiled for the widest vectors this CPU has
    /// ([`crate::simd`]): sqrt and division are exactly rounded at every width, so the same
    /// bits.
    fn adam_apply(c: AdamConsts, params: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
        let AdamConsts { step, b1, b2, eps } = c;
        let n = params.len();
        let (p, g, m, v) = (&mut params[..n], &grad[..n], &mut m[..n], &mut v[..n]);
        // Branch-free (selects, not jumps) over equal-length slices, so the compiler
        // vectorises it: the same operations on each element in the same order as a scalar
        // loop, so the same bits, 16 elements at a time with AVX-512.
        for i in 0..n {
            // g^2 of a gradient below 1e-19 is subnormal, and subnormal arithmetic is tens
            // of times slower; such a gradient is rounding noise next to any other term.
            let gi = if g[i].abs() < 1e-19 { 0.0 } else { g[i] };
            let mi = b1 * m[i] + (1.0 - b1) * gi;
            let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
            let pi = p[i] - step * mi / (vi.sqrt() + eps);
            // Flush what decays towards zero before it turns subnormal: a first moment
            // that shrinks by beta1 every step reaches 1e-38 in ~800 steps, and subnormal
            // arithmetic (here and in the matrix products) is tens of times slower.
            m[i] = if mi.abs() < TINY { 0.0 } else { mi };
            v[i] = if vi < TINY { 0.0 } else { vi };
            // A weight under weight decay can shrink towards zero for thousands of steps
            // (RELAX's network does during pre-training); products of two such values are
            // subnormal and made RELAX's matrix products four times slower. 1e-12 is zero
            // for any weight here.
            p[i] = if pi.abs() < TINY_PARAM { 0.0 } else { pi };
        }
    }
}
