//! Adam over a flat parameter vector, vectorised and split over the product threads: each
//! thread updates the columns of every weight matrix that it computes in the matrix products
//! (see [`AdamVec::set_matrices`]), so a weight's cache line stays on one core.

use super::linalg::{column_cut, threads};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::ops::Range;

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
    /// The stretches of the vector in order, each with the thread that updates it (see
    /// [`AdamVec::set_matrices`]; empty, with one part: equal blocks).
    owned: Vec<(usize, Range<usize>)>,
    /// Threads of `owned`.
    parts: usize,
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
            owned: Vec::new(),
            parts: 1,
        }
    }

    /// The weight matrices and bias vectors of the parameters as `(offset, rows, columns)`,
    /// each stored in `parts` column blocks ([`super::layers::Dense`]): with `parts` threads,
    /// thread `q` updates block `q` of each, the columns it computes in the products; the
    /// parameters in no matrix go to the first thread. The threads' shares are then evened
    /// out ([`balance`]): a column cut of uneven blocks (a 200-wide layer's 112/88, when
    /// blocks were cut at multiples of 16) and the biases left the first thread 54% of
    /// linear1's elements, and the step waits for the longest share. Without matrices (or
    /// with one part), the vector is cut in equal blocks; below [`SMALL_STEP`] elements it
    /// is not cut. The bits are the same either way (each element's update is alone).
    pub fn set_matrices(&mut self, matrices: &[(usize, usize, usize)], parts: usize) {
        let n = self.m.len();
        self.owned.clear();
        self.parts = parts.max(1);
        if self.parts == 1 || n < SMALL_STEP {
            return;
        }
        let mut mats = matrices.to_vec();
        mats.sort_unstable();
        let mut all: Vec<(usize, Range<usize>)> = Vec::new();
        let mut at = 0;
        for (off, rows, cols) in mats {
            if off > at {
                all.push((0, at..off));
            }
            for q in 0..parts {
                let (c0, c1) = (column_cut(cols, parts, q), column_cut(cols, parts, q + 1));
                if c0 < c1 {
                    all.push((q, off + rows * c0..off + rows * c1));
                }
            }
            at = at.max(off + rows * cols);
        }
        if at < n {
            all.push((0, at..n));
        }
        self.owned = balance(all, self.parts);
    }

    /// Sets `grad` (as long as the parameters) to zero, each thread its own stretches (see
    /// [`AdamVec::set_matrices`]), so that the gradient's memory stays with the thread that
    /// computes and uses it.
    pub fn zero(&self, grad: &mut [f32]) {
        if !self.owned.is_empty() {
            self.split_owned(grad)
                .par_iter_mut()
                .with_max_len(1)
                .for_each(|w| w.iter_mut().for_each(|g| g.fill(0.0)));
        } else {
            grad.fill(0.0);
        }
    }

    /// `grad[i] += wd * params[i]` for `i` in `range` (a weight decay's gradient), each
    /// thread on its own stretches (see [`AdamVec::set_matrices`]): the lines stay on the
    /// core that computes and steps them. Each element alone: the same bits.
    pub fn add_decay(&self, grad: &mut [f32], params: &[f32], range: Range<usize>, wd: f32) {
        let decay = |g: &mut [f32], p: &[f32]| {
            for (g, &p) in g.iter_mut().zip(p) {
                *g += wd * p;
            }
        };
        if self.owned.is_empty() {
            decay(&mut grad[range.clone()], &params[range]);
            return;
        }
        let owned = &self.owned;
        self.split_owned(grad)
            .par_iter_mut()
            .enumerate()
            .with_max_len(1)
            .for_each(|(q, gs)| {
                let mine = owned.iter().filter(|(t, _)| *t == q);
                for ((_, r), g) in mine.zip(gs) {
                    let (lo, hi) = (r.start.max(range.start), r.end.min(range.end));
                    if lo < hi {
                        decay(&mut g[lo - r.start..hi - r.start], &params[lo..hi]);
                    }
                }
            });
    }

    /// `v` cut in each thread's stretches, in order.
    fn split_owned<'a>(&self, v: &'a mut [f32]) -> Stretches<'a> {
        split_owned(&self.owned, self.parts, v)
    }

    /// The threads (and column blocks) of [`AdamVec::set_matrices`] (1 if not set).
    pub fn parts(&self) -> usize {
        self.parts
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

    /// One descent step on `grad`, which it leaves zero, ready for the next gradient's sums
    /// (set as each element is read: no second pass over it); a non-finite gradient is
    /// refused (returns false) and changes nothing, `grad` included. Split over
    /// [`threads`] rayon tasks (each element's update alone, so the same bits); a vector
    /// below [`SMALL_STEP`] elements stays on this thread.
    pub fn step(&mut self, params: &mut [f32], grad: &mut [f32]) -> bool {
        let t0 = std::time::Instant::now();
        let ok = self.step_timed(params, grad);
        let dt = t0.elapsed().as_secs_f64();
        ADAM_SECONDS.with(|c| c.set(c.get() + dt));
        ok
    }

    fn step_timed(&mut self, params: &mut [f32], grad: &mut [f32]) -> bool {
        let threads = threads();
        let n = params.len();
        // Equal blocks, unless the matrices' blocks are known.
        let chunk = n.div_ceil(threads).div_ceil(64) * 64;
        let owned = !self.owned.is_empty();
        // Cut in equal blocks on the threads (when the matrices' blocks are not known).
        let equal = threads > 1 && n >= SMALL_STEP;
        let ok = if owned {
            // Each thread checks its own stretches (the lines it wrote and will update).
            let owned = &self.owned;
            (0..self.parts).into_par_iter().with_max_len(1).all(|q| {
                owned
                    .iter()
                    .filter(|(t, _)| *t == q)
                    .all(|(_, r)| all_finite(&grad[r.clone()]))
            })
        } else if equal {
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
        if owned {
            let (mut ps, mut gs, mut ms, mut vs) = (
                self.split_owned(params),
                split_owned(&self.owned, self.parts, grad),
                split_owned(&self.owned, self.parts, &mut self.m),
                split_owned(&self.owned, self.parts, &mut self.v),
            );
            ps.par_iter_mut()
                .zip(gs.par_iter_mut())
                .zip(ms.par_iter_mut())
                .zip(vs.par_iter_mut())
                .with_max_len(1)
                .for_each(|(((p, g), m), v)| {
                    for (((p, g), m), v) in p.into_iter().zip(g).zip(m).zip(v) {
                        adam_apply(c, p, g, m, v);
                    }
                });
        } else if equal {
            params
                .par_chunks_mut(chunk)
                .zip(grad.par_chunks_mut(chunk))
                .zip(self.m.par_chunks_mut(chunk))
                .zip(self.v.par_chunks_mut(chunk))
                .for_each(|(((p, g), m), v)| adam_apply(c, p, g, m, v));
        } else {
            adam_apply(c, params, grad, &mut self.m, &mut self.v);
        }
        true
    }
}

/// Evens out the threads' shares of `owned` (stretches in vector order, each with its
/// thread): while the largest share exceeds the smallest by more than [`BALANCE_SLACK`]
/// elements, the tail of the largest share's longest stretch, half the difference (a whole
/// number of 64-byte lines), goes to the smallest. Those elements' cache lines were
/// computed on the other core; measured against the uneven shares (docs/results.md,
/// twelfth round), two threads ran RELAX faster in 21 of 28 interleaved pairs and REBAR
/// in 15 of 36.
fn balance(mut owned: Vec<(usize, Range<usize>)>, parts: usize) -> Vec<(usize, Range<usize>)> {
    for _ in 0..4 * parts {
        let mut share = vec![0usize; parts];
        for (q, r) in &owned {
            share[*q] += r.len();
        }
        let (big, small) = (
            (0..parts).max_by_key(|&q| share[q]).unwrap_or(0),
            (0..parts).min_by_key(|&q| share[q]).unwrap_or(0),
        );
        let d = (share[big] - share[small]) / 2 / 16 * 16;
        if share[big] - share[small] <= BALANCE_SLACK || d == 0 {
            break;
        }
        let Some(i) = (0..owned.len())
            .filter(|&i| owned[i].0 == big)
            .max_by_key(|&i| owned[i].1.len())
        else {
            break;
        };
        let r = owned[i].1.clone();
        let d = d.min(r.len() / 16 * 16);
        if d == 0 {
            break;
        }
        owned[i].1 = r.start..r.end - d;
        owned.insert(i + 1, (small, r.end - d..r.end));
        owned.retain(|(_, r)| !r.is_empty());
    }
    owned
}

/// Shares of [`balance`] this close are left as they are.
const BALANCE_SLACK: usize = 1024;

/// Vectors shorter than this are stepped (and zeroed) on the calling thread, whatever the
/// threads: REBAR's control variates (a scale and a temperature a layer) took three forks
/// an iteration (zeroing, the finiteness check, the update) for a few numbers, each fork
/// costing microseconds.
const SMALL_STEP: usize = 1 << 12;

/// Each thread's stretches of a vector ([`split_owned`]): held inline (no allocation) up to
/// 4 threads of 16 stretches each (a stretch a weight matrix, bias or gap, and a few more
/// from [`balance`]); beyond, they spill to the heap.
type Stretches<'a> = SmallVec<[SmallVec<[&'a mut [f32]; 16]>; 4]>;

/// `v` cut in the stretches of `owned` (in order), gathered by thread.
fn split_owned<'a>(
    owned: &[(usize, Range<usize>)],
    parts: usize,
    mut v: &'a mut [f32],
) -> Stretches<'a> {
    let mut out: Stretches<'a> = (0..parts).map(|_| SmallVec::new()).collect();
    let mut at = 0;
    for (q, r) in owned {
        let (here, rest) = std::mem::take(&mut v)[r.start - at..].split_at_mut(r.len());
        v = rest;
        out[*q].push(here);
        at = r.end;
    }
    out
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
    /// bits. Leaves the gradient zero.
    fn adam_apply(c: AdamConsts, params: &mut [f32], grad: &mut [f32], m: &mut [f32], v: &mut [f32]) {
        let AdamConsts { step, b1, b2, eps } = c;
        let n = params.len();
        let (p, g, m, v) = (&mut params[..n], &mut grad[..n], &mut m[..n], &mut v[..n]);
        // Branch-free (selects, not jumps) over equal-length slices, so the compiler
        // vectorises it: the same operations on each element in the same order as a scalar
        // loop, so the same bits, 16 elements at a time with AVX-512.
        for i in 0..n {
            // g^2 of a gradient below 1e-19 is subnormal, and subnormal arithmetic is tens
            // of times slower; such a gradient is rounding noise next to any other term.
            let gi = if g[i].abs() < 1e-19 { 0.0 } else { g[i] };
            g[i] = 0.0;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam by each thread's column blocks takes the same steps, bit for bit, as over the
    /// whole vector: each element's update is alone.
    #[test]
    fn the_blocks_step_gives_the_bits_of_the_whole() {
        // Two matrices (one with rows that are not whole cache lines), a bias, and a
        // parameter in no matrix.
        // (Past `SMALL_STEP` elements, so that the vector is cut.)
        let mats = [(1, 7, 200), (1401, 1, 200), (1601, 5, 33), (1766, 12, 200)];
        let n = 1766 + 12 * 200 + 3;
        assert!(n >= SMALL_STEP);
        let grad_at = |i: usize, t: usize| ((i * 31 + t * 17) % 97) as f32 * 1e-3 - 0.048;
        let run = |parts: usize| {
            let mut adam = AdamVec::new(n, 1e-2, 0.999);
            adam.set_matrices(&mats, parts);
            let mut p: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.1).collect();
            let mut g = vec![1.0f32; n];
            adam.zero(&mut g);
            assert!(g.iter().all(|&v| v == 0.0), "zero left something");
            for t in 0..20 {
                for (i, g) in g.iter_mut().enumerate() {
                    *g += grad_at(i, t);
                }
                assert!(adam.step(&mut p, &mut g));
                assert!(g.iter().all(|&v| v == 0.0), "the step left a gradient");
            }
            let (m, v, _) = adam.state();
            (p, m.to_vec(), v.to_vec())
        };
        let whole = run(1);
        for parts in [2, 3] {
            let blocks = run(parts);
            let same =
                |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same(&whole.0, &blocks.0), "parameters, {parts} parts");
            assert!(
                same(&whole.1, &blocks.1) && same(&whole.2, &blocks.2),
                "moments, {parts} parts"
            );
        }
        // Every element is some thread's: the stretches cover the vector once, in order.
        let mut adam = AdamVec::new(n, 1e-2, 0.999);
        adam.set_matrices(&mats, 2);
        let mut at = 0;
        for (_, r) in &adam.owned {
            assert_eq!(r.start, at);
            at = r.end;
        }
        assert_eq!(at, n);
        // A vector below `SMALL_STEP` is not cut (stepped on the calling thread).
        let mut small = AdamVec::new(300, 1e-2, 0.999);
        small.set_matrices(&[(0, 10, 20), (200, 1, 20)], 2);
        assert!(small.owned.is_empty() && small.parts() == 2);
        // linear1's shapes (a 784 x 200 encoder cut 104/96, a 200 x 784 decoder, biases):
        // the shares are even, the stretches still cover the vector once, in order.
        let (enc, dec) = ((0, 784, 200), (784 * 200 + 200, 200, 784));
        let n1 = 2 * 784 * 200 + 200 + 784 + 200;
        for parts in [2, 3] {
            let mut a = AdamVec::new(n1, 1e-2, 0.999);
            a.set_matrices(&[enc, dec], parts);
            let mut share = vec![0usize; parts];
            let mut at = 0;
            for (q, r) in &a.owned {
                assert_eq!(r.start, at);
                at = r.end;
                share[*q] += r.len();
            }
            assert_eq!(at, n1);
            let (lo, hi) = (share.iter().min().unwrap(), share.iter().max().unwrap());
            assert!(hi - lo <= BALANCE_SLACK, "{parts} parts: shares {share:?}");
        }
        // The weight decay by owner: the same bits as over the whole vector, and only in
        // its range (which cuts stretches in the middle).
        let (params, g0): (Vec<f32>, Vec<f32>) = (
            (0..n).map(|i| (i % 17) as f32 * 0.3 - 2.0).collect(),
            (0..n).map(|i| grad_at(i, 3)).collect(),
        );
        let range = 900..1650;
        let mut whole = g0.clone();
        AdamVec::new(n, 1e-2, 0.999).add_decay(&mut whole, &params, range.clone(), 0.37);
        for parts in [2, 3] {
            let mut a = AdamVec::new(n, 1e-2, 0.999);
            a.set_matrices(&mats, parts);
            let mut g = g0.clone();
            a.add_decay(&mut g, &params, range.clone(), 0.37);
            assert!(g
                .iter()
                .zip(&whole)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        assert!(whole[..900] == g0[..900] && whole[1650..] == g0[1650..]);
        assert!(whole[900..1650] != g0[900..1650]);
        // A non-finite gradient changes nothing.
        let mut p = vec![0.5f32; n];
        let mut g = vec![0.1f32; n];
        g[1500] = f32::NAN;
        assert!(!adam.step(&mut p, &mut g));
        assert!(p.iter().all(|&v| v == 0.5));
        assert!(
            g[..1500].iter().all(|&v| v == 0.1),
            "a refused step kept the gradient"
        );
    }
}
