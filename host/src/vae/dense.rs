//! One dense layer's parameters in the flat vector and its matrix products over a minibatch,
//! with each weight matrix stored in column blocks, one for each product thread (see
//! [`Dense`]).

use super::linalg::{account, column_cut, gemm, gemm_view, timed, worth_splitting};
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rand_core::Rng;
use rayon::prelude::*;
use relax_core::math::uniform_open;
use std::cell::RefCell;
use std::ops::Range;

thread_local! {
    /// [`Dense::input_grad_cols`]'s partial sums of the blocks after the first (on the
    /// calling thread; each block's task writes its own part).
    static PARTIALS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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

/// `run` on each block, on the product threads when a product of `work` multiply-adds is
/// worth splitting (rayon gives the first block to the calling thread), else in order here.
fn run_blocks<T: Send>(work: usize, blocks: Vec<T>, run: impl Fn(T) + Sync + Send) {
    if blocks.len() > 1 && worth_splitting(work) {
        blocks.into_par_iter().for_each(run);
    } else {
        blocks.into_iter().for_each(run);
    }
}

impl Dense {
    /// Block `q` of the weights: its first column, its width and its offset.
    fn block(&self, q: usize) -> (usize, usize, usize) {
        let c0 = column_cut(self.outputs, self.parts, q);
        let c1 = column_cut(self.outputs, self.parts, q + 1);
        (c0, c1 - c0, self.w + self.inputs * c0)
    }

    /// `f(c0, rows)` for each column block of the first `rows` rows of `y` (`rows x
    /// outputs`, row-major): `rows` holds the block's part of each row, whose first column
    /// is `c0`. Each block on the thread that computes those columns in the products (the
    /// element-wise work on a layer's outputs stays on the core that wrote them); one block
    /// is one call with whole rows.
    pub fn by_blocks(
        &self,
        y: &mut [f32],
        rows: usize,
        f: impl Fn(usize, &mut [&mut [f32]]) + Sync + Send,
    ) {
        let o = self.outputs;
        let mut blocks: Vec<(usize, Vec<&mut [f32]>)> = (0..self.parts)
            .map(|q| (self.block(q).0, Vec::with_capacity(rows)))
            .collect();
        for row in y[..rows * o].chunks_mut(o) {
            let mut rest = row;
            for (q, (_, segs)) in blocks.iter_mut().enumerate() {
                let (here, after) = std::mem::take(&mut rest).split_at_mut(self.block(q).1);
                segs.push(here);
                rest = after;
            }
        }
        // A block of no columns (a layer narrower than a tile per thread) has nothing to do.
        blocks.retain(|(_, segs)| segs.first().is_some_and(|s| !s.is_empty()));
        run_blocks(usize::MAX, blocks, |(c0, mut segs)| f(c0, &mut segs));
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
        if self.parts == 1 {
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
            let mut yv = ArrayViewMut2::from_shape((rows, o), &mut y[..rows * o]).expect("y");
            let mut blocks = Vec::with_capacity(self.parts);
            for q in 0..self.parts {
                let (_, wq, _) = self.block(q);
                let (here, rest) = yv.split_at(Axis(1), wq);
                blocks.push((q, here));
                yv = rest;
            }
            let xv = ArrayView2::from_shape((rows, k), &x[..rows * k]).expect("x");
            let run = |(q, mut c): (usize, ArrayViewMut2<'_, f32>)| {
                let (c0, wq, off) = self.block(q);
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
                    let mut rs: Vec<&mut [f32]> = c
                        .rows_mut()
                        .into_iter()
                        .map(|r| r.into_slice().expect("a row of y"))
                        .collect();
                    super::skinny::product_rows(rows, k, x, k, 1, w, wq, 0, beta, &mut rs);
                } else {
                    let wv = ArrayView2::from_shape((k, wq), w).expect("w");
                    gemm_view(xv.view(), wv, beta, c);
                }
            };
            run_blocks(rows * o * k, blocks, run);
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
        if self.parts == 1 {
            let g = &mut gw[rin.start * o..rin.end * o];
            gemm(k, o, rows, 1.0, x, true, dy, false, 1.0, g);
            if bias {
                bias_grad(gb, 0);
            }
            return;
        }
        account(k, o, rows, true, false);
        timed(|| {
            let mut blocks = Vec::with_capacity(self.parts);
            let (mut rest, mut brest) = (gw, gb);
            let mut at = 0;
            for q in 0..self.parts {
                let (c0, wq, _) = self.block(q);
                let (here, after) = std::mem::take(&mut rest).split_at_mut(self.inputs * wq);
                let (bhere, bafter) = std::mem::take(&mut brest).split_at_mut(wq);
                (rest, brest) = (after, bafter);
                blocks.push((c0, wq, &mut here[rin.start * wq..rin.end * wq], bhere));
                at += wq;
            }
            debug_assert_eq!(at, o);
            let xt = ArrayView2::from_shape((rows, k), &x[..rows * k])
                .expect("x")
                .reversed_axes();
            let dyv = ArrayView2::from_shape((rows, o), &dy[..rows * o]).expect("dy");
            let run = |(c0, wq, g, gb): (usize, usize, &mut [f32], &mut [f32])| {
                if wq == 0 {
                    return;
                }
                if super::skinny::takes(k, wq, rows, 1.0, true, false, 1.0) {
                    // x^T (element (i, r) at x[r k + i]) times dy's columns c0.. of the block.
                    let mut gr: Vec<&mut [f32]> = g.chunks_mut(wq).collect();
                    super::skinny::product_rows(k, rows, x, 1, k, dy, o, c0, 1.0, &mut gr);
                } else {
                    let gv = ArrayViewMut2::from_shape((k, wq), g).expect("grad");
                    let b = dyv.slice(ndarray::s![.., c0..c0 + wq]);
                    gemm_view(xt.view(), b, 1.0, gv);
                }
                if bias {
                    bias_grad(gb, c0);
                }
            };
            run_blocks(rows * o * k, blocks, run);
        });
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
        if self.parts == 1 {
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
            PARTIALS.with(|buf| {
                let first = &mut dx[..rows * n];
                // The other blocks' parts, one after another (reused: no allocation a call;
                // a call nested in a task this thread runs while it waits gets its own).
                let (mut guard, mut own) = (buf.try_borrow_mut().ok(), Vec::new());
                let buf = guard.as_deref_mut().unwrap_or(&mut own);
                let len = rows * n;
                if buf.len() < (self.parts - 1) * len {
                    buf.resize((self.parts - 1) * len, 0.0);
                }
                let partials = &mut buf[..(self.parts - 1) * len];
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
            });
        });
    }
}

#[cfg(test)]
mod tests;
