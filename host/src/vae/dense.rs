//! One dense layer's parameters in the flat vector and its matrix products over a minibatch,
//! with each weight matrix stored in column blocks, one for each product thread (see
//! [`Dense`]).

use super::linalg::{
    account, by_column_blocks, column_cut, gemm, gemm_view, row_chunks, threads, timed,
    worth_splitting, SCRATCH_MIN,
};
use ndarray::{ArrayView2, ArrayViewMut2};
use rand_core::Rng;
use rayon::prelude::*;
use relax_core::math::uniform_open;
use std::cell::RefCell;
use std::ops::Range;

thread_local! {
    /// [`Dense::input_grad_cols`]'s buffers for the partial sums of the blocks after the
    /// first (on the calling thread; each block's task writes its own part): one taken for
    /// each call and given back after, so that a call nested in a task this thread runs
    /// while it waits takes another.
    static PARTIALS: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers [`PARTIALS`] starts with on a thread made ready ([`prepare_thread`]): calls
/// nested this deep at once find theirs without allocating.
const PARTIALS_FIRST: usize = 4;

/// Fills this thread's [`PARTIALS`] with [`PARTIALS_FIRST`] buffers at their least size
/// (see [`super::linalg::prepare_thread`]).
pub(crate) fn prepare_thread() {
    PARTIALS.with(|p| {
        let mut pool = p.borrow_mut();
        while pool.len() < PARTIALS_FIRST {
            pool.push(vec![0.0; SCRATCH_MIN]);
        }
    });
}

/// One affine layer: offsets of its weights (`inputs x outputs`) and bias in the flat
/// parameter vector.
///
/// The weight matrix is stored as `parts` column blocks, one after another, each row-major
/// (`inputs x` its width; the blocks cut as [`column_cut`] says): with `parts` threads, thread
/// `q` computes block `q`'s columns of every product with the layer, its gradient and its
/// Adam step, on memory no other thread writes. With one part this is the plain row-major
/// matrix. The input gradient `dy W^T` is then a sum over the blocks, added in block order
/// (the numbers depend on `parts`, not on which thread computes what).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Offset of the weight matrix.
    pub w: usize,
    /// Offset of the bias.
    pub b: usize,
    /// Column blocks of the weight matrix (at least 1).
    pub parts: usize,
}

/// Allocates parameters for new layers.
#[derive(Debug)]
pub struct ParamLayout {
    /// Parameters allocated so far.
    pub len: usize,
    /// Column blocks of each new layer's weights ([`Dense`]; at least 1).
    pub parts: usize,
}

impl Default for ParamLayout {
    /// One block: plain row-major weights.
    fn default() -> Self {
        Self::with_parts(1)
    }
}

impl ParamLayout {
    /// A layout whose layers' weights are stored in `parts` column blocks ([`Dense`]).
    pub fn with_parts(parts: usize) -> Self {
        Self {
            len: 0,
            parts: parts.max(1),
        }
    }

    /// A new dense layer.
    pub fn dense(&mut self, inputs: usize, outputs: usize) -> Dense {
        let w = self.len;
        let b = w + inputs * outputs;
        self.len = b + outputs;
        Dense {
            inputs,
            outputs,
            w,
            b,
            parts: self.parts,
        }
    }

    /// A plain vector of `n` parameters; returns its offset.
    pub fn vector(&mut self, n: usize) -> usize {
        let off = self.len;
        self.len += n;
        off
    }
}

impl Dense {
    /// Block `q` of the weights: its first column, its width and its offset.
    fn block(&self, q: usize) -> (usize, usize, usize) {
        let c0 = column_cut(self.outputs, self.parts, q);
        let c1 = column_cut(self.outputs, self.parts, q + 1);
        (c0, c1 - c0, self.w + self.inputs * c0)
    }

    /// `f(c0, r0, segs)` for each column block of the first `rows` rows of `y` (`rows x
    /// outputs`, row-major): `segs` holds the block's part of rows `r0..r0 + segs.len()` (up
    /// to [`super::linalg::ROW_CHUNK`] rows a call), whose first column is `c0`. Each block
    /// on the thread that computes those columns in the products (the element-wise work on a
    /// layer's outputs stays on the core that wrote them); one block is whole rows. Nothing
    /// is allocated (the blocks are views, the rows' slices on the stack).
    pub fn by_blocks(
        &self,
        y: &mut [f32],
        rows: usize,
        f: impl Fn(usize, usize, &mut [&mut [f32]]) + Sync + Send,
    ) {
        let o = self.outputs;
        let yv = ArrayViewMut2::from_shape((rows, o), &mut y[..rows * o]).expect("y");
        let run = |_q: usize, c0: usize, block: ArrayViewMut2<'_, f32>| {
            // A block of no columns (a layer narrower than a tile per thread) has nothing to do.
            if block.ncols() > 0 {
                row_chunks(block, |r0, segs| f(c0, r0, segs));
            }
        };
        by_column_blocks(yv, o, self.parts, self.split() && threads() > 1, &run);
    }

    /// Whether the weights are in more than one column block with columns: a layer of at
    /// most 8 outputs (a network's single output) has them all in the first block, stored
    /// as with one part: its products take the one-part path and its element-wise passes
    /// are not split.
    fn split(&self) -> bool {
        self.parts > 1 && column_cut(self.outputs, self.parts, 1) < self.outputs
    }

    /// Where `W[i][j]` is in the flat vector.
    pub fn index(&self, i: usize, j: usize) -> usize {
        let q = (0..self.parts)
            .find(|&q| j < column_cut(self.outputs, self.parts, q + 1))
            .unwrap_or(self.parts - 1);
        let (c0, wq, off) = self.block(q);
        off + i * wq + (j - c0)
    }

    /// Glorot-uniform weights (TensorFlow's default for dense layers), zero bias; drawn row
    /// by row whatever the blocks, so the same weights for any `parts`.
    pub fn init<R: Rng + ?Sized>(&self, params: &mut [f32], gain: f32, rng: &mut R) {
        let a = gain * (6.0 / (self.inputs + self.outputs) as f32).sqrt();
        for i in 0..self.inputs {
            for j in 0..self.outputs {
                params[self.index(i, j)] = a * (2.0 * uniform_open(rng) - 1.0);
            }
        }
        params[self.b..self.b + self.outputs].fill(0.0);
    }

    /// `y = x W[rin, ..] + beta y` for `rows` rows (`x` is `rows x rin.len()`, `y` `rows x
    /// outputs`): each block's columns on its own thread.
    pub fn mul_rows(
        &self,
        p: &[f32],
        x: &[f32],
        rows: usize,
        rin: Range<usize>,
        y: &mut [f32],
        beta: f32,
    ) {
        self.mul_rows_from(p, x, rows, rin, y, beta, false);
    }

    /// [`Dense::mul_rows`]; with `bias`, each block first sets its columns of `y` to the
    /// bias (on its own thread), and adds the product to them (`beta` is then 1).
    #[allow(clippy::too_many_arguments)]
    fn mul_rows_from(
        &self,
        p: &[f32],
        x: &[f32],
        rows: usize,
        rin: Range<usize>,
        y: &mut [f32],
        beta: f32,
        bias: bool,
    ) {
        let (k, o) = (rin.len(), self.outputs);
        let beta = if bias { 1.0 } else { beta };
        let bias = bias.then(|| &p[self.b..self.b + o]);
        if !self.split() {
            if let Some(bias) = bias {
                for r in 0..rows {
                    y[r * o..(r + 1) * o].copy_from_slice(bias);
                }
            }
            let w = &p[self.w + rin.start * o..self.w + rin.end * o];
            gemm(rows, o, k, 1.0, x, false, w, false, beta, y);
            return;
        }
        account(rows, o, k, false, false);
        timed(|| {
            let yv = ArrayViewMut2::from_shape((rows, o), &mut y[..rows * o]).expect("y");
            let xv = ArrayView2::from_shape((rows, k), &x[..rows * k]).expect("x");
            let run = |q: usize, c0: usize, mut c: ArrayViewMut2<'_, f32>| {
                let (_, wq, off) = self.block(q);
                if wq == 0 {
                    return;
                }
                if let Some(bias) = bias {
                    for mut r in c.rows_mut() {
                        r.as_slice_mut()
                            .expect("a row of y")
                            .copy_from_slice(&bias[c0..c0 + wq]);
                    }
                }
                let w = &p[off + rin.start * wq..off + rin.end * wq];
                if super::skinny::takes(rows, wq, k, 1.0, false, false, beta) {
                    super::skinny::product_view(k, x, k, 1, w, wq, 0, beta, c);
                } else {
                    let wv = ArrayView2::from_shape((k, wq), w).expect("w");
                    gemm_view(xv.view(), wv, beta, c);
                }
            };
            by_column_blocks(yv, o, self.parts, worth_splitting(rows * o * k), &run);
        });
    }

    /// `grad_W[rin, ..] += x^T dy` (`x` is `rows x rin.len()`, `dy` `rows x outputs`).
    pub fn weight_grad_rows(
        &self,
        x: &[f32],
        rin: Range<usize>,
        dy: &[f32],
        rows: usize,
        grad: &mut [f32],
    ) {
        self.weight_grad_from(x, rin, dy, rows, grad, false);
    }

    /// [`Dense::weight_grad_rows`]; with `bias`, also `grad_b += colsum(dy)`, each block's
    /// columns on its own thread (each element adds the rows in order: the same bits).
    fn weight_grad_from(
        &self,
        x: &[f32],
        rin: Range<usize>,
        dy: &[f32],
        rows: usize,
        grad: &mut [f32],
        bias: bool,
    ) {
        let (k, o) = (rin.len(), self.outputs);
        let bias_grad = |gb: &mut [f32], c0: usize| {
            let w = gb.len();
            for r in 0..rows {
                for (g, d) in gb.iter_mut().zip(&dy[r * o + c0..r * o + c0 + w]) {
                    *g += d;
                }
            }
        };
        // The weights' gradient, then the bias's (right after it in the vector).
        let (gw, gb) = grad[self.w..self.b + o].split_at_mut(self.inputs * o);
        if !self.split() {
            let g = &mut gw[rin.start * o..rin.end * o];
            gemm(k, o, rows, 1.0, x, true, dy, false, 1.0, g);
            if bias {
                bias_grad(gb, 0);
            }
            return;
        }
        account(k, o, rows, true, false);
        timed(|| {
            let xt = ArrayView2::from_shape((rows, k), &x[..rows * k])
                .expect("x")
                .reversed_axes();
            let dyv = ArrayView2::from_shape((rows, o), &dy[..rows * o]).expect("dy");
            let run = |c0: usize, wq: usize, g: &mut [f32], gb: &mut [f32]| {
                if wq == 0 {
                    return;
                }
                let g = &mut g[rin.start * wq..rin.end * wq];
                let gv = ArrayViewMut2::from_shape((k, wq), g).expect("grad");
                if super::skinny::takes(k, wq, rows, 1.0, true, false, 1.0) {
                    // x^T (element (i, r) at x[r k + i]) times dy's columns c0.. of the block.
                    super::skinny::product_view(rows, x, 1, k, dy, o, c0, 1.0, gv);
                } else {
                    let b = dyv.slice(ndarray::s![.., c0..c0 + wq]);
                    gemm_view(xt.view(), b, 1.0, gv);
                }
                if bias {
                    bias_grad(gb, c0);
                }
            };
            let par = worth_splitting(rows * o * k);
            self.grad_blocks(gw, gb, par, &run);
        });
    }

    /// `run(c0, wq, g, gb)` for each column block of a weight gradient: `g` the block's
    /// `inputs x wq` weights' gradient (stored one block after another, see [`Dense`]), `gb`
    /// its bias's, `gw` and `gb` all the blocks' stretches; halving the blocks
    /// ([`super::linalg::by_halves`]) on the product threads with `par` (else in order
    /// here). Nothing is allocated.
    fn grad_blocks<'g, F>(&self, gw: &'g mut [f32], gb: &'g mut [f32], par: bool, run: &F)
    where
        F: Fn(usize, usize, &mut [f32], &mut [f32]) + Sync,
    {
        type Part<'g> = (&'g mut [f32], &'g mut [f32]);
        let split = |(gw, gb): Part<'g>, q0: usize, qm: usize| -> (Part<'g>, Part<'g>) {
            let cut = self.block(qm).0 - self.block(q0).0;
            let (gw0, gw1) = gw.split_at_mut(self.inputs * cut);
            let (gb0, gb1) = gb.split_at_mut(cut);
            ((gw0, gb0), (gw1, gb1))
        };
        let one = |q: usize, (gw, gb): Part<'g>| {
            let (c0, wq, _) = self.block(q);
            run(c0, wq, gw, gb);
        };
        super::linalg::by_halves((gw, gb), 0, self.parts, par, &split, &one);
    }

    /// `y = x W + b` for `rows` rows.
    pub fn forward(&self, p: &[f32], x: &[f32], rows: usize, y: &mut [f32]) {
        self.mul_rows_from(p, x, rows, 0..self.inputs, y, 1.0, true);
    }

    /// `grad_W += x^T dy`, `grad_b += colsum(dy)`.
    pub fn param_grad(&self, x: &[f32], dy: &[f32], rows: usize, grad: &mut [f32]) {
        self.weight_grad_from(x, 0..self.inputs, dy, rows, grad, true);
    }

    /// `dx = dy W^T` (overwrites `dx`).
    pub fn input_grad(&self, p: &[f32], dy: &[f32], rows: usize, dx: &mut [f32]) {
        self.input_grad_cols(p, dy, rows, 0..self.inputs, dx);
    }

    /// The columns `cols` of `dy W^T` into `dx` (`rows x cols.len()`): the same numbers as
    /// those columns of [`Dense::input_grad`] (each is the same sum in the same order), for
    /// a fraction of the work when only some inputs' gradients are needed. With more than
    /// one block, each block's part of the sum on its own thread, added in block order.
    pub fn input_grad_cols(
        &self,
        p: &[f32],
        dy: &[f32],
        rows: usize,
        cols: Range<usize>,
        dx: &mut [f32],
    ) {
        let (o, n) = (self.outputs, cols.len());
        if n == 0 {
            return;
        }
        if o == 1 {
            // One output (a control variate's last layer): each element is one product, as
            // the products compute it (added to zero: a negative zero comes out positive),
            // on this thread. Through `gemm` it took 3-4 us; this 0.75-1.6 (the probe of
            // docs/results.md's twenty-first round, its timing included).
            account(rows, n, o, false, true);
            let w0 = self.index(cols.start, 0);
            let w = &p[w0..w0 + n];
            timed(|| {
                for (row, &d) in dx[..rows * n].chunks_mut(n).zip(&dy[..rows]) {
                    for (x, &wj) in row.iter_mut().zip(w) {
                        *x = 0.0 + d * wj;
                    }
                }
            });
            return;
        }
        if !self.split() {
            // One block with columns (the first): stored as with one part.
            let w = &p[self.w + cols.start * o..self.w + cols.end * o];
            gemm(rows, n, o, 1.0, dy, false, w, true, 0.0, dx);
            return;
        }
        account(rows, n, o, false, true);
        timed(|| {
            let dyv = ArrayView2::from_shape((rows, o), &dy[..rows * o]).expect("dy");
            // Block q's part of the sum into c (`rows x n`).
            let part = |q: usize, c: &mut [f32]| {
                let (c0, wq, off) = self.block(q);
                let w = &p[off + cols.start * wq..off + cols.end * wq];
                if super::skinny_t::takes(rows, n, wq, 0.0) {
                    super::skinny_t::product(rows, n, wq, &dy[c0..], o, w, wq, 0.0, c, n);
                } else {
                    let wt = ArrayView2::from_shape((n, wq), w)
                        .expect("w")
                        .reversed_axes();
                    let c = ArrayViewMut2::from_shape((rows, n), c).expect("c");
                    gemm_view(dyv.slice(ndarray::s![.., c0..c0 + wq]), wt, 0.0, c);
                }
            };
            // The other blocks' parts, one after another, in a buffer of this thread's.
            let mut buf = PARTIALS.with(|p| p.borrow_mut().pop()).unwrap_or_default();
            let first = &mut dx[..rows * n];
            let len = rows * n;
            let partials = super::linalg::scratch(&mut buf, (self.parts - 1) * len);
            let others = |(i, t): (usize, &mut [f32])| {
                let q = i + 1;
                if self.block(q).1 > 0 {
                    part(q, t);
                } else {
                    t.fill(0.0);
                }
            };
            if worth_splitting(rows * o * n) {
                rayon::join(
                    || part(0, first),
                    || {
                        partials
                            .par_chunks_mut(len.max(1))
                            .enumerate()
                            .for_each(others)
                    },
                );
            } else {
                part(0, first);
                partials.chunks_mut(len.max(1)).enumerate().for_each(others);
            }
            // Added in block order, by rows on the threads (each element alone: the same
            // bits as one thread adding them; half of each sum's reads are local).
            let partials = &*partials;
            super::rows::par_rows(dx, rows, n, |r, row| {
                for t in partials.chunks(len.max(1)) {
                    for (d, v) in row.iter_mut().zip(&t[r * n..(r + 1) * n]) {
                        *d += v;
                    }
                }
            });
            PARTIALS.with(|p| p.borrow_mut().push(buf));
        });
    }
}

#[cfg(test)]
mod tests;
