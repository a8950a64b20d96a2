//! Dense layers and multilayer mappings over a minibatch, with their parameters in one flat
//! vector (so one Adam state and one "best parameters" copy cover a whole model), and the
//! derivatives the VAE needs: the backward pass (parameters and input) and, for the RELAX
//! control variate's ReLU network, the mixed second derivative of the variance loss.
//!
//! Row-major everywhere: a batch is `rows x width`; a weight matrix is `in x out`, so a
//! layer is `y = x W + b`.

pub use super::adam::AdamVec;
pub use super::dense::{Dense, ParamLayout};
use rand_core::Rng;
use std::ops::Range;

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `tanh`: the VAE's nonlinear mappings.
    Tanh,
    /// `max(0, x)`: the RELAX control variate `r_rho`.
    Relu,
}

impl Act {
    fn apply(self, x: f32) -> f32 {
        match self {
            Act::Tanh => x.tanh(),
            Act::Relu => x.max(0.0),
        }
    }

    /// The derivative, from the pre-activation `a` and the output `h`.
    fn deriv(self, a: f32, h: f32) -> f32 {
        match self {
            Act::Tanh => 1.0 - h * h,
            Act::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// A mapping: dense layers with `act` between them and a linear output.
#[derive(Debug, Clone)]
pub struct Net {
    /// The layers, input first.
    pub layers: Vec<Dense>,
    /// The hidden nonlinearity.
    pub act: Act,
}

/// The activations of one forward pass (and scratch for the backward passes), for up to
/// `capacity` rows; allocated once and reused, so training allocates nothing per step.
#[derive(Debug, Clone)]
pub struct NetCache {
    /// Pre-activations of each hidden layer.
    pre: Vec<Vec<f32>>,
    /// Outputs of each hidden layer.
    post: Vec<Vec<f32>>,
    /// The network output.
    pub out: Vec<f32>,
    /// Backward scratch, one per layer output.
    d: Vec<Vec<f32>>,
    /// Tangent scratch (mixed backward).
    t_pre: Vec<Vec<f32>>,
    dt: Vec<Vec<f32>>,
}

impl Net {
    /// `widths[0] -> widths[1] -> ... -> widths.last()`, allocated in `layout`.
    pub fn new(layout: &mut ParamLayout, widths: &[usize], act: Act) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| layout.dense(w[0], w[1]))
            .collect();
        Self { layers, act }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.last().expect("a layer").outputs
    }

    /// Each layer's weight matrix and bias as `(offset, rows, columns)` in the flat vector
    /// (for [`AdamVec::set_matrices`]).
    pub fn matrices(&self) -> Vec<(usize, usize, usize)> {
        self.layers
            .iter()
            .flat_map(|l| [(l.w, l.inputs, l.outputs), (l.b, 1, l.outputs)])
            .collect()
    }

    /// Glorot-uniform weights, zero biases; the output layer's weights times `out_gain`.
    pub fn init<R: Rng + ?Sized>(&self, params: &mut [f32], out_gain: f32, rng: &mut R) {
        let n = self.layers.len();
        for (k, l) in self.layers.iter().enumerate() {
            l.init(params, if k + 1 == n { out_gain } else { 1.0 }, rng);
        }
    }

    /// Buffers for up to `capacity` rows.
    pub fn cache(&self, capacity: usize) -> NetCache {
        let hidden: Vec<Vec<f32>> = self.layers[..self.layers.len() - 1]
            .iter()
            .map(|l| vec![0.0; capacity * l.outputs])
            .collect();
        NetCache {
            pre: hidden.clone(),
            post: hidden.clone(),
            out: vec![0.0; capacity * self.outputs()],
            d: self
                .layers
                .iter()
                .map(|l| vec![0.0; capacity * l.outputs])
                .collect(),
            t_pre: hidden.clone(),
            dt: self
                .layers
                .iter()
                .map(|l| vec![0.0; capacity * l.outputs])
                .collect(),
        }
    }

    /// Forward pass of `rows` rows of `x`; the output is in `cache.out`.
    pub fn forward(&self, p: &[f32], x: &[f32], rows: usize, cache: &mut NetCache) {
        let n = self.layers.len();
        for k in 0..n {
            let l = &self.layers[k];
            if k + 1 == n {
                let input: &[f32] = if k == 0 { x } else { &cache.post[k - 1] };
                l.forward(p, input, rows, &mut cache.out);
            } else {
                let (before, rest) = cache.post.split_at_mut(k);
                let input: &[f32] = if k == 0 { x } else { &before[k - 1] };
                let pre = &mut cache.pre[k];
                l.forward(p, input, rows, pre);
                let (o, act) = (l.outputs, self.act);
                // By column blocks, on the threads that computed them.
                l.by_blocks(&mut rest[0], rows, |c0, r0, segs| {
                    for (i, seg) in segs.iter_mut().enumerate() {
                        let r = r0 + i;
                        let a = &pre[r * o + c0..r * o + c0 + seg.len()];
                        for (h, &a) in seg.iter_mut().zip(a) {
                            *h = act.apply(a);
                        }
                    }
                });
            }
        }
    }

    /// Backward pass from `dout` (`rows x outputs`) after [`Net::forward`] on the same `x`:
    /// adds the parameter gradient into `grad` (when given) and writes the input gradient
    /// into `dx` (when given).
    pub fn backward(
        &self,
        p: &[f32],
        x: &[f32],
        rows: usize,
        cache: &mut NetCache,
        dout: &[f32],
        mut grad: Option<&mut [f32]>,
        mut dx: Option<&mut [f32]>,
    ) {
        let n = self.layers.len();
        // cache.d[k] holds the gradient w.r.t. the pre-activation of hidden layer k; the
        // output layer's is `dout` itself, read where the caller left it (not copied: a
        // copy of a batch's pixels took about 4 us, on the product threads, in each of the
        // iteration's five passes through a one-layer network).
        for k in (0..n).rev() {
            let l = &self.layers[k];
            let input: &[f32] = if k == 0 { x } else { &cache.post[k - 1] };
            let (lo, hi) = cache.d.split_at_mut(k);
            let dk: &[f32] = if k + 1 == n { dout } else { &hi[0] };
            if let Some(g) = grad.as_deref_mut() {
                l.param_grad(input, dk, rows, g);
            }
            if k > 0 {
                let dprev = &mut lo[k - 1];
                l.input_grad(p, dk, rows, dprev);
                let (pre, post) = (&cache.pre[k - 1], &cache.post[k - 1]);
                let (o, act) = (l.inputs, self.act);
                // By the column blocks of the layer below, which computed pre and post.
                self.layers[k - 1].by_blocks(dprev, rows, |c0, r0, segs| {
                    for (i, seg) in segs.iter_mut().enumerate() {
                        let r = r0 + i;
                        let at = r * o + c0..r * o + c0 + seg.len();
                        for ((d, &a), &h) in seg.iter_mut().zip(&pre[at.clone()]).zip(&post[at]) {
                            *d *= act.deriv(a, h);
                        }
                    }
                });
            } else if let Some(dx) = dx.as_deref_mut() {
                l.input_grad(p, dk, rows, dx);
            }
        }
    }

    /// After [`Net::backward`] from `dout`: the columns `cols` of the input gradient (`rows x
    /// cols.len()`), the same numbers as those columns of `backward`'s `dx`.
    pub fn input_grad_cols(
        &self,
        p: &[f32],
        rows: usize,
        cache: &NetCache,
        dout: &[f32],
        cols: Range<usize>,
        dx: &mut [f32],
    ) {
        let d0: &[f32] = if self.layers.len() == 1 {
            dout
        } else {
            &cache.d[0]
        };
        self.layers[0].input_grad_cols(p, d0, rows, cols, dx);
    }

    /// For a one-output ReLU network after [`Net::forward`] on `x`: adds to `grad` the
    /// parameter gradient of `sum_r alpha_r m(x_r) + (J_x m(x_r)) u_r`, the mixed second
    /// derivative (forward-over-reverse) that the control variate's variance loss needs.
    /// The input tangent is zero but in the input columns `u_cols`, where it is `u` (`rows x
    /// u_cols.len()`): the products with it skip the zero columns (RELAX's tangent is in `z`
    /// only, 200 of `r`'s 984 inputs). ReLU's second derivative is zero almost everywhere, so
    /// the tangent does not feed back into the primal pre-activations.
    pub fn mixed_backward(
        &self,
        p: &[f32],
        x: &[f32],
        u: &[f32],
        u_cols: Range<usize>,
        alpha: &[f32],
        rows: usize,
        cache: &mut NetCache,
        grad: &mut [f32],
    ) {
        assert_eq!(self.act, Act::Relu, "mixed_backward: ReLU networks only");
        assert_eq!(self.outputs(), 1, "mixed_backward: one output");
        let (n, act) = (self.layers.len(), self.act);
        // Each element-wise pass over a hidden layer runs by its column blocks, on the
        // threads that computed them (`Dense::by_blocks`; each element alone: the same bits).
        let relu_times = |layer: &Dense, v: &mut [f32], pre: &[f32]| {
            let w = layer.outputs;
            layer.by_blocks(v, rows, |c0, r0, segs| {
                for (i, seg) in segs.iter_mut().enumerate() {
                    let r = r0 + i;
                    let at = r * w + c0..r * w + c0 + seg.len();
                    for (v, &a) in seg.iter_mut().zip(&pre[at]) {
                        *v *= act.deriv(a, 0.0);
                    }
                }
            });
        };
        // Tangent forward: t_pre[k] = d(pre_k) in direction u (no bias).
        for k in 0..n - 1 {
            let l = &self.layers[k];
            let (before, rest) = cache.t_pre.split_at_mut(k);
            let dst = &mut rest[0];
            if k == 0 {
                l.mul_rows(p, u, rows, u_cols.clone(), dst, 0.0);
            } else {
                // Tangent of the previous layer's output: relu'(pre) * t_pre, kept in
                // cache.dt[k - 1] as scratch.
                let th = &mut cache.dt[k - 1];
                let (pre, tan) = (&cache.pre[k - 1], &before[k - 1]);
                self.layers[k - 1].by_blocks(th, rows, |c0, r0, segs| {
                    for (i, seg) in segs.iter_mut().enumerate() {
                        let r = r0 + i;
                        let at = r * l.inputs + c0..r * l.inputs + c0 + seg.len();
                        for ((t, &a), &u) in seg.iter_mut().zip(&pre[at.clone()]).zip(&tan[at]) {
                            *t = act.deriv(a, 0.0) * u;
                        }
                    }
                });
                l.mul_rows(p, th, rows, 0..l.inputs, dst, 0.0);
            }
        }
        // Reverse over (primal, tangent): d[k] = adjoint of pre_k (primal), dt[k] = adjoint
        // of the tangent pre_k. Output: d out = alpha, d out_dot = 1.
        for r in 0..rows {
            cache.d[n - 1][r] = alpha[r];
            cache.dt[n - 1][r] = 1.0;
        }
        for k in (0..n).rev() {
            let l = &self.layers[k];
            // Weight gradient: h_in^T d + h_in_dot^T dt; bias gets d only.
            if k == 0 {
                l.param_grad(x, &cache.d[0], rows, grad);
                l.weight_grad_rows(u, u_cols.clone(), &cache.dt[0], rows, grad);
            } else {
                l.param_grad(&cache.post[k - 1], &cache.d[k], rows, grad);
                // Tangent of h_{k-1}: relu'(pre) * t_pre (recomputed into the scratch of
                // the layer below, which is free until we get there).
                let mut th = std::mem::take(&mut cache.t_pre[k - 1]);
                relu_times(&self.layers[k - 1], &mut th, &cache.pre[k - 1]);
                l.weight_grad_rows(&th, 0..l.inputs, &cache.dt[k], rows, grad);
                cache.t_pre[k - 1] = th;
                // Adjoints of the layer below.
                let (lo, hi) = cache.d.split_at_mut(k);
                l.input_grad(p, &hi[0], rows, &mut lo[k - 1]);
                let (tlo, thi) = cache.dt.split_at_mut(k);
                l.input_grad(p, &thi[0], rows, &mut tlo[k - 1]);
                relu_times(&self.layers[k - 1], &mut lo[k - 1], &cache.pre[k - 1]);
                relu_times(&self.layers[k - 1], &mut tlo[k - 1], &cache.pre[k - 1]);
            }
        }
    }
}
