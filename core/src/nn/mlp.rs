//! `Mlp`: `L` hidden layers of width `H`, input `I`, linear output `O`, parameters in one
//! flat array of `P` floats (so one optimizer state covers the whole network).
//!
//! Layout of the parameters: for each hidden layer the weight matrix (row-major, one row per
//! unit) then its bias; then the output weights and the output bias.

use super::Activation;
use crate::Error;
use rand_core::Rng;

/// Number of parameters of an [`Mlp`] with `inputs`, `hidden` units per layer, `outputs`
/// and `layers` hidden layers: use it to spell the `P` parameter, e.g.
/// `Mlp<4, 10, 2, 2, { mlp_param_count(4, 10, 2, 2) }>`.
pub const fn mlp_param_count(inputs: usize, hidden: usize, outputs: usize, layers: usize) -> usize {
    hidden * inputs
        + hidden
        + (layers - 1) * (hidden * hidden + hidden)
        + outputs * hidden
        + outputs
}

/// Activations of one forward pass, kept for the backward pass.
#[derive(Debug, Clone)]
pub struct MlpCache<const H: usize, const L: usize> {
    /// Pre-activations of each hidden layer.
    pub pre: [[f32; H]; L],
    /// Post-activations of each hidden layer.
    pub post: [[f32; H]; L],
}

impl<const H: usize, const L: usize> Default for MlpCache<H, L> {
    fn default() -> Self {
        Self {
            pre: [[0.0; H]; L],
            post: [[0.0; H]; L],
        }
    }
}

/// A fixed-size multilayer perceptron.
///
/// Besides the forward pass it gives the three derivatives the estimators need: the
/// vector-Jacobian product w.r.t. input and weights ([`Mlp::backward`]) and the weight- and
/// input-gradient of `alpha . m(x) + gamma . (J_x m(x) u)` ([`Mlp::mixed_backward`]), the mixed
/// second derivative of the variance loss `d(g^2)/dphi`.
///
/// ```
/// use relax_core::nn::{mlp_param_count, Activation, Mlp};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// let net: Mlp<3, 5, 1, 2, { mlp_param_count(3, 5, 1, 2) }> =
///     Mlp::new_random(Activation::Tanh, 1.0, &mut rng);
/// let y = net.forward(&[0.1, -0.2, 0.3]);
/// assert!(y[0].is_finite());
/// ```
#[derive(Debug, Clone)]
pub struct Mlp<const I: usize, const H: usize, const O: usize, const L: usize, const P: usize> {
    params: [f32; P],
    activation: Activation,
}

struct Tangent<const H: usize, const L: usize> {
    pre: [[f32; H]; L],
    post: [[f32; H]; L],
}

impl<const I: usize, const H: usize, const O: usize, const L: usize, const P: usize>
    Mlp<I, H, O, L, P>
{
    const SHAPE_OK: () = assert!(
        L >= 1 && H >= 1 && P == mlp_param_count(I, H, O, L),
        "Mlp: P must equal mlp_param_count(I, H, O, L) and L, H must be >= 1"
    );
    const OUT_OFFSET: usize = H * I + H + (L - 1) * (H * H + H);

    /// A network with all parameters zero.
    pub fn zeros(activation: Activation) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SHAPE_OK;
        Self {
            params: [0.0; P],
            activation,
        }
    }

    /// Variance-scaling uniform initialisation: weights `U(-a, a)` with `a = sqrt(3 / fan_in)`
    /// (tanh, identity) or `sqrt(6 / fan_in)` (ReLU, ELU), biases zero, and the output layer
    /// multiplied by `out_gain` (0 gives a network that starts at exactly zero output).
    pub fn new_random<R: Rng + ?Sized>(activation: Activation, out_gain: f32, rng: &mut R) -> Self {
        let mut net = Self::zeros(activation);
        let gain2 = match activation {
            Activation::Relu | Activation::Elu => 6.0,
            _ => 3.0,
        };
        for l in 0..=L {
            let (off, fan_in, fan_out) = Self::layer(l);
            let mut a = libm::sqrtf(gain2 / fan_in as f32);
            if l == L {
                a = libm::sqrtf(3.0 / fan_in as f32) * out_gain;
            }
            for w in net.params[off..off + fan_in * fan_out].iter_mut() {
                *w = a * (2.0 * crate::math::uniform_open(rng) - 1.0);
            }
        }
        net
    }

    /// (offset, fan_in, fan_out) of layer `l` (`L` is the output layer).
    #[inline]
    const fn layer(l: usize) -> (usize, usize, usize) {
        if l == 0 {
            (0, I, if L == 0 { O } else { H })
        } else if l < L {
            (H * I + H + (l - 1) * (H * H + H), H, H)
        } else {
            (Self::OUT_OFFSET, H, O)
        }
    }

    /// The activation of the hidden layers.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// All parameters, flat.
    pub fn params(&self) -> &[f32; P] {
        &self.params
    }

    /// All parameters, flat and mutable (for an optimizer).
    pub fn params_mut(&mut self) -> &mut [f32; P] {
        &mut self.params
    }

    /// Replaces the parameters; refuses non-finite values.
    pub fn set_params(&mut self, params: &[f32; P]) -> Result<(), Error> {
        crate::check_finite(params, Error::NonFiniteInput)?;
        self.params = *params;
        Ok(())
    }

    /// `y = W x + b` for layer `l` into `out`.
    #[inline]
    fn affine(&self, l: usize, input: &[f32], out: &mut [f32], with_bias: bool) {
        let (off, fan_in, fan_out) = Self::layer(l);
        let w = &self.params[off..off + fan_in * fan_out];
        let b = &self.params[off + fan_in * fan_out..off + fan_in * fan_out + fan_out];
        for (j, o) in out.iter_mut().enumerate().take(fan_out) {
            let row = &w[j * fan_in..(j + 1) * fan_in];
            let mut s = if with_bias { b[j] } else { 0.0 };
            for (wk, xk) in row.iter().zip(input) {
                s += wk * xk;
            }
            *o = s;
        }
    }

    /// `in_bar += W^T out_bar` and `grad_W += out_bar input^T`, `grad_b += out_bar`.
    #[inline]
    fn affine_back(
        &self,
        l: usize,
        input: &[f32],
        out_bar: &[f32],
        grad: &mut [f32; P],
        mut in_bar: Option<&mut [f32]>,
        bias_grad: bool,
    ) {
        let (off, fan_in, fan_out) = Self::layer(l);
        let w = &self.params[off..off + fan_in * fan_out];
        for (j, &ob) in out_bar.iter().enumerate().take(fan_out) {
            if ob == 0.0 {
                continue;
            }
            let row = &w[j * fan_in..(j + 1) * fan_in];
            let grow = &mut grad[off + j * fan_in..off + (j + 1) * fan_in];
            match in_bar.as_deref_mut() {
                Some(in_bar) => {
                    for k in 0..fan_in {
                        grow[k] += ob * input[k];
                        in_bar[k] += row[k] * ob;
                    }
                }
                // Nobody wants the input gradient (the first layer of a weight-only pass).
                None => {
                    for k in 0..fan_in {
                        grow[k] += ob * input[k];
                    }
                }
            }
            if bias_grad {
                grad[off + fan_in * fan_out + j] += ob;
            }
        }
    }

    /// The network output.
    pub fn forward(&self, x: &[f32; I]) -> [f32; O] {
        let mut cache = MlpCache::default();
        self.forward_cached(x, &mut cache)
    }

    /// The network output, keeping the activations in `cache` for [`Mlp::backward`].
    pub fn forward_cached(&self, x: &[f32; I], cache: &mut MlpCache<H, L>) -> [f32; O] {
        for l in 0..L {
            let (pre_l, rest) = cache.pre.split_at_mut(l + 1);
            let pre = &mut pre_l[l];
            if l == 0 {
                self.affine(0, x, pre, true);
            } else {
                self.affine(l, &cache.post[l - 1], pre, true);
            }
            let _ = rest;
            cache.post[l] = self.activation.eval_layer(pre);
        }
        let mut out = [0.0; O];
        self.affine(L, &cache.post[L - 1], &mut out, true);
        out
    }

    /// Vector-Jacobian product: adds `out_bar^T dm/dw` into `grad` and returns
    /// `out_bar^T dm/dx`. `cache` must hold the forward pass at `x`.
    pub fn backward(
        &self,
        x: &[f32; I],
        cache: &MlpCache<H, L>,
        out_bar: &[f32; O],
        grad: &mut [f32; P],
    ) -> [f32; I] {
        let mut x_bar = [0.0; I];
        self.backward_into(x, cache, out_bar, grad, Some(&mut x_bar));
        x_bar
    }

    /// [`Mlp::backward`] without the input gradient: adds `out_bar^T dm/dw` into `grad`
    /// (the same numbers, bit for bit) and skips the first layer's `W^T a_bar`.
    pub fn backward_weights(
        &self,
        x: &[f32; I],
        cache: &MlpCache<H, L>,
        out_bar: &[f32; O],
        grad: &mut [f32; P],
    ) {
        self.backward_into(x, cache, out_bar, grad, None);
    }

    fn backward_into(
        &self,
        x: &[f32; I],
        cache: &MlpCache<H, L>,
        out_bar: &[f32; O],
        grad: &mut [f32; P],
        x_bar: Option<&mut [f32; I]>,
    ) {
        let mut h_bar = [0.0; H];
        self.affine_back(L, &cache.post[L - 1], out_bar, grad, Some(&mut h_bar), true);
        for l in (0..L).rev() {
            let mut a_bar = [0.0; H];
            let d = self.derivatives(cache, l);
            for j in 0..H {
                a_bar[j] = h_bar[j] * d[j];
            }
            if l == 0 {
                let x_bar = x_bar.map(|b| &mut b[..]);
                self.affine_back(0, x, &a_bar, grad, x_bar, true);
                return;
            }
            h_bar = [0.0; H];
            self.affine_back(l, &cache.post[l - 1], &a_bar, grad, Some(&mut h_bar), true);
        }
        unreachable!("L >= 1 is checked at compile time")
    }

    /// Output and input gradient `sum_o out_bar_o dm_o/dx`, without weight gradients.
    pub fn value_and_input_grad(&self, x: &[f32; I], out_bar: &[f32; O]) -> ([f32; O], [f32; I]) {
        let mut cache = MlpCache::default();
        let out = self.forward_cached(x, &mut cache);
        (out, self.input_grad(&cache, out_bar))
    }

    /// `sum_o out_bar_o dm_o/dx` from a forward pass kept in `cache` (no weight gradients):
    /// the input gradient of [`Mlp::value_and_input_grad`] without its forward pass.
    pub fn input_grad(&self, cache: &MlpCache<H, L>, out_bar: &[f32; O]) -> [f32; I] {
        let mut h_bar = [0.0; H];
        for (j, &ob) in out_bar.iter().enumerate() {
            let (off, fan_in, _) = Self::layer(L);
            for k in 0..H {
                h_bar[k] += self.params[off + j * fan_in + k] * ob;
            }
        }
        for l in (0..L).rev() {
            let (off, fan_in, _) = Self::layer(l);
            let mut a_bar = [0.0; H];
            let d = self.derivatives(cache, l);
            for j in 0..H {
                a_bar[j] = h_bar[j] * d[j];
            }
            if l == 0 {
                let mut x_bar = [0.0; I];
                for (j, &ab) in a_bar.iter().enumerate() {
                    for k in 0..I {
                        x_bar[k] += self.params[off + j * fan_in + k] * ab;
                    }
                }
                return x_bar;
            }
            h_bar = [0.0; H];
            for (j, &ab) in a_bar.iter().enumerate() {
                for k in 0..H {
                    h_bar[k] += self.params[off + j * fan_in + k] * ab;
                }
            }
        }
        unreachable!("L >= 1 is checked at compile time")
    }

    /// The activation's derivatives at hidden layer `l` of a forward pass.
    #[inline]
    fn derivatives(&self, cache: &MlpCache<H, L>, l: usize) -> [f32; H] {
        self.activation.d_layer(&cache.pre[l], &cache.post[l])
    }

    /// Forward-mode derivative along a parameter direction: returns `(m(x), (dm/dw) dw)`,
    /// the Jacobian-vector product of the output w.r.t. the parameters.
    pub fn param_jvp(&self, x: &[f32; I], dw: &[f32; P]) -> ([f32; O], [f32; O]) {
        let mut h = [0.0; H];
        let mut hd = [0.0; H];
        for l in 0..=L {
            let (off, fan_in, fan_out) = Self::layer(l);
            let input: &[f32] = if l == 0 { x } else { &h };
            let w = &self.params[off..off + fan_in * fan_out];
            let dwl = &dw[off..off + fan_in * fan_out];
            let b = &self.params[off + fan_in * fan_out..off + fan_in * fan_out + fan_out];
            let db = &dw[off + fan_in * fan_out..off + fan_in * fan_out + fan_out];
            let mut a = [0.0; H];
            let mut ad = [0.0; H];
            let mut out = [0.0; O];
            let mut out_d = [0.0; O];
            for j in 0..fan_out {
                let row = &w[j * fan_in..(j + 1) * fan_in];
                let drow = &dwl[j * fan_in..(j + 1) * fan_in];
                let mut s = b[j];
                let mut sd = db[j];
                for k in 0..fan_in {
                    s += row[k] * input[k];
                    sd += drow[k] * input[k];
                    if l > 0 {
                        sd += row[k] * hd[k];
                    }
                }
                if l == L {
                    out[j] = s;
                    out_d[j] = sd;
                } else {
                    a[j] = s;
                    ad[j] = sd;
                }
            }
            if l == L {
                return (out, out_d);
            }
            let hd_pairs = self.activation.eval_d_layer(&a);
            for j in 0..H {
                h[j] = hd_pairs[j].0;
                hd[j] = hd_pairs[j].1 * ad[j];
            }
        }
        unreachable!("the loop returns at the output layer")
    }

    /// The mixed second derivative of the variance loss.
    ///
    /// With `m(x)` the output and `m_dot = J_x m(x) u` its directional derivative along `u`,
    /// let `Q = alpha . m(x) + gamma . m_dot`. Adds `dQ/dw` into `grad` and returns `dQ/dx`
    /// (which is `alpha^T J + H[gamma . m] u`, the Hessian-vector product included).
    /// Also returns `(m(x), m_dot)`.
    pub fn mixed_backward(
        &self,
        x: &[f32; I],
        u: &[f32; I],
        alpha: &[f32; O],
        gamma: &[f32; O],
        grad: &mut [f32; P],
    ) -> ([f32; I], [f32; O], [f32; O]) {
        let mut c = MlpCache::<H, L>::default();
        self.mixed_backward_cached(x, u, alpha, gamma, grad, &mut c)
    }

    /// [`Mlp::mixed_backward`], keeping the forward pass at `x` in `cache` (for example for
    /// [`Mlp::input_grad`] at the same point, without a second forward pass).
    pub fn mixed_backward_cached(
        &self,
        x: &[f32; I],
        u: &[f32; I],
        alpha: &[f32; O],
        gamma: &[f32; O],
        grad: &mut [f32; P],
        cache: &mut MlpCache<H, L>,
    ) -> ([f32; I], [f32; O], [f32; O]) {
        // Forward pass with tangents (forward mode along u).
        let c = cache;
        let mut t = Tangent::<H, L> {
            pre: [[0.0; H]; L],
            post: [[0.0; H]; L],
        };
        for l in 0..L {
            if l == 0 {
                self.affine(0, x, &mut c.pre[0], true);
                self.affine(0, u, &mut t.pre[0], false);
            } else {
                let (prev, cur) = c.post.split_at_mut(l);
                let _ = cur;
                let mut tmp = [0.0; H];
                self.affine(l, &prev[l - 1], &mut c.pre[l], true);
                self.affine(l, &t.post[l - 1], &mut tmp, false);
                t.pre[l] = tmp;
            }
            let hd_pairs = self.activation.eval_d_layer(&c.pre[l]);
            for j in 0..H {
                c.post[l][j] = hd_pairs[j].0;
                t.post[l][j] = hd_pairs[j].1 * t.pre[l][j];
            }
        }
        self.mixed_reverse(x, u, alpha, gamma, grad, c, &t)
    }

    /// [`Mlp::mixed_backward`] from the forward pass at `x` that `cache` already holds
    /// ([`Mlp::forward_cached`]): only the tangent's forward pass and the reverse pass run.
    /// The same numbers, bit for bit.
    pub fn mixed_backward_at(
        &self,
        x: &[f32; I],
        u: &[f32; I],
        alpha: &[f32; O],
        gamma: &[f32; O],
        grad: &mut [f32; P],
        cache: &MlpCache<H, L>,
    ) -> ([f32; I], [f32; O], [f32; O]) {
        // The tangent's forward pass (forward mode along u) beside the primal one in cache.
        let c = cache;
        let mut t = Tangent::<H, L> {
            pre: [[0.0; H]; L],
            post: [[0.0; H]; L],
        };
        for l in 0..L {
            if l == 0 {
                self.affine(0, u, &mut t.pre[0], false);
            } else {
                let mut tmp = [0.0; H];
                self.affine(l, &t.post[l - 1], &mut tmp, false);
                t.pre[l] = tmp;
            }
            let d = self.activation.d_layer(&c.pre[l], &c.post[l]);
            for j in 0..H {
                t.post[l][j] = d[j] * t.pre[l][j];
            }
        }
        self.mixed_reverse(x, u, alpha, gamma, grad, c, &t)
    }

    /// The reverse pass of [`Mlp::mixed_backward`] over the primal forward pass `c` and
    /// its tangent `t`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn mixed_reverse(
        &self,
        x: &[f32; I],
        u: &[f32; I],
        alpha: &[f32; O],
        gamma: &[f32; O],
        grad: &mut [f32; P],
        c: &MlpCache<H, L>,
        t: &Tangent<H, L>,
    ) -> ([f32; I], [f32; O], [f32; O]) {
        let mut out = [0.0; O];
        let mut out_dot = [0.0; O];
        self.affine(L, &c.post[L - 1], &mut out, true);
        self.affine(L, &t.post[L - 1], &mut out_dot, false);

        // Reverse pass over both the primal and the tangent computation.
        let mut h_bar = [0.0; H]; // adjoint of primal post-activation
        let mut hd_bar = [0.0; H]; // adjoint of tangent post-activation
        self.affine_back(L, &c.post[L - 1], alpha, grad, Some(&mut h_bar), true);
        self.affine_back(L, &t.post[L - 1], gamma, grad, Some(&mut hd_bar), false);
        for l in (0..L).rev() {
            let mut a_bar = [0.0; H];
            let mut ad_bar = [0.0; H];
            let d_dd = self.activation.derivatives_layer(&c.pre[l], &c.post[l]);
            for j in 0..H {
                let (d, dd) = d_dd[j];
                ad_bar[j] = d * hd_bar[j];
                a_bar[j] = d * h_bar[j] + dd * t.pre[l][j] * hd_bar[j];
            }
            if l == 0 {
                let mut x_bar = [0.0; I];
                self.affine_back(0, x, &a_bar, grad, Some(&mut x_bar), true);
                // The tangent's input adjoint is not part of dQ/dx: weights only.
                self.affine_back(0, u, &ad_bar, grad, None, false);
                return (x_bar, out, out_dot);
            }
            h_bar = [0.0; H];
            hd_bar = [0.0; H];
            self.affine_back(l, &c.post[l - 1], &a_bar, grad, Some(&mut h_bar), true);
            self.affine_back(l, &t.post[l - 1], &ad_bar, grad, Some(&mut hd_bar), false);
        }
        unreachable!("L >= 1 is checked at compile time")
    }
}

#[cfg(test)]
mod tests;
