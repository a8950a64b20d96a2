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
        in_bar: &mut [f32],
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
            for k in 0..fan_in {
                grow[k] += ob * input[k];
                in_bar[k] += row[k] * ob;
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
            for j in 0..H {
                cache.post[l][j] = self.activation.eval(pre[j]).0;
            }
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
        let mut h_bar = [0.0; H];
        self.affine_back(L, &cache.post[L - 1], out_bar, grad, &mut h_bar, true);
        for l in (0..L).rev() {
            let mut a_bar = [0.0; H];
            for j in 0..H {
                a_bar[j] = h_bar[j] * self.activation.eval(cache.pre[l][j]).1;
            }
            if l == 0 {
                let mut x_bar = [0.0; I];
                self.affine_back(0, x, &a_bar, grad, &mut x_bar, true);
                return x_bar;
            }
            h_bar = [0.0; H];
            self.affine_back(l, &cache.post[l - 1], &a_bar, grad, &mut h_bar, true);
        }
        unreachable!("L >= 1 is checked at compile time")
    }

    /// Output and input gradient `sum_o out_bar_o dm_o/dx`, without weight gradients.
    pub fn value_and_input_grad(&self, x: &[f32; I], out_bar: &[f32; O]) -> ([f32; O], [f32; I]) {
        let mut cache = MlpCache::default();
        let out = self.forward_cached(x, &mut cache);
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
            for j in 0..H {
                a_bar[j] = h_bar[j] * self.activation.eval(cache.pre[l][j]).1;
            }
            if l == 0 {
                let mut x_bar = [0.0; I];
                for (j, &ab) in a_bar.iter().enumerate() {
                    for k in 0..I {
                        x_bar[k] += self.params[off + j * fan_in + k] * ab;
                    }
                }
                return (out, x_bar);
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
            for j in 0..H {
                let (v, d, _) = self.activation.eval(a[j]);
                h[j] = v;
                hd[j] = d * ad[j];
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
        // Forward pass with tangents (forward mode along u).
        let mut c = MlpCache::<H, L>::default();
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
            for j in 0..H {
                let (h, d, _) = self.activation.eval(c.pre[l][j]);
                c.post[l][j] = h;
                t.post[l][j] = d * t.pre[l][j];
            }
        }
        let mut out = [0.0; O];
        let mut out_dot = [0.0; O];
        self.affine(L, &c.post[L - 1], &mut out, true);
        self.affine(L, &t.post[L - 1], &mut out_dot, false);

        // Reverse pass over both the primal and the tangent computation.
        let mut h_bar = [0.0; H]; // adjoint of primal post-activation
        let mut hd_bar = [0.0; H]; // adjoint of tangent post-activation
        self.affine_back(L, &c.post[L - 1], alpha, grad, &mut h_bar, true);
        self.affine_back(L, &t.post[L - 1], gamma, grad, &mut hd_bar, false);
        for l in (0..L).rev() {
            let mut a_bar = [0.0; H];
            let mut ad_bar = [0.0; H];
            for j in 0..H {
                let (_, d, dd) = self.activation.eval(c.pre[l][j]);
                ad_bar[j] = d * hd_bar[j];
                a_bar[j] = d * h_bar[j] + dd * t.pre[l][j] * hd_bar[j];
            }
            if l == 0 {
                let mut x_bar = [0.0; I];
                let mut u_bar = [0.0; I];
                self.affine_back(0, x, &a_bar, grad, &mut x_bar, true);
                self.affine_back(0, u, &ad_bar, grad, &mut u_bar, false);
                return (x_bar, out, out_dot);
            }
            h_bar = [0.0; H];
            hd_bar = [0.0; H];
            self.affine_back(l, &c.post[l - 1], &a_bar, grad, &mut h_bar, true);
            self.affine_back(l, &t.post[l - 1], &ad_bar, grad, &mut hd_bar, false);
        }
        unreachable!("L >= 1 is checked at compile time")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    type Net = Mlp<3, 4, 2, 2, { mlp_param_count(3, 4, 2, 2) }>;

    fn nets() -> [Net; 4] {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
        [
            Net::new_random(Activation::Tanh, 1.0, &mut rng),
            Net::new_random(Activation::Elu, 1.0, &mut rng),
            Net::new_random(Activation::Relu, 1.0, &mut rng),
            Net::new_random(Activation::Identity, 1.0, &mut rng),
        ]
    }

    const X: [f32; 3] = [0.3, -0.7, 0.45];
    const U: [f32; 3] = [0.2, 0.5, -0.9];
    const ALPHA: [f32; 2] = [0.6, -1.3];
    const GAMMA: [f32; 2] = [1.1, 0.4];

    /// Q(w, x) = alpha . m(x) + gamma . (J m(x) u), with J m u by a central difference of
    /// f64-accumulated... here evaluated through mixed_backward's own m_dot; the finite
    /// differences below are taken of Q computed from forward passes only.
    fn q_fd(net: &Net, x: &[f32; 3]) -> f64 {
        let eps = 1e-3f32;
        let mut xp = *x;
        let mut xm = *x;
        for k in 0..3 {
            xp[k] += eps * U[k];
            xm[k] -= eps * U[k];
        }
        let m = net.forward(x);
        let mp = net.forward(&xp);
        let mm = net.forward(&xm);
        let mut q = 0.0f64;
        for o in 0..2 {
            let mdot = (mp[o] as f64 - mm[o] as f64) / (2.0 * eps as f64);
            q += ALPHA[o] as f64 * m[o] as f64 + GAMMA[o] as f64 * mdot;
        }
        q
    }

    #[test]
    fn backward_matches_finite_differences() {
        for net in nets() {
            let mut cache = MlpCache::default();
            let out = net.forward_cached(&X, &mut cache);
            let mut grad = [0.0; Net::OUT_OFFSET + 2 * 4 + 2];
            let x_bar = net.backward(&X, &cache, &ALPHA, &mut grad);
            let obj = |n: &Net, x: &[f32; 3]| {
                let m = n.forward(x);
                ALPHA[0] as f64 * m[0] as f64 + ALPHA[1] as f64 * m[1] as f64
            };
            let eps = 1e-3;
            for k in 0..3 {
                let mut xp = X;
                let mut xm = X;
                xp[k] += eps;
                xm[k] -= eps;
                let fd = (obj(&net, &xp) - obj(&net, &xm)) / (2.0 * eps as f64);
                assert!(
                    (fd - x_bar[k] as f64).abs() < 2e-3,
                    "x {k}: {fd} vs {}",
                    x_bar[k]
                );
            }
            for i in 0..grad.len() {
                let mut p = net.clone();
                let mut m = net.clone();
                p.params[i] += eps;
                m.params[i] -= eps;
                let fd = (obj(&p, &X) - obj(&m, &X)) / (2.0 * eps as f64);
                assert!(
                    (fd - grad[i] as f64).abs() < 2e-3,
                    "w {i}: {fd} vs {}",
                    grad[i]
                );
            }
            let (o2, xb2) = net.value_and_input_grad(&X, &ALPHA);
            assert_eq!(out, o2);
            for k in 0..3 {
                assert!((xb2[k] - x_bar[k]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn mixed_second_derivative_matches_finite_differences() {
        for net in nets() {
            let mut grad = [0.0; Net::OUT_OFFSET + 2 * 4 + 2];
            let (x_bar, _, m_dot) = net.mixed_backward(&X, &U, &ALPHA, &GAMMA, &mut grad);
            // m_dot is the directional derivative
            let eps = 1e-3f32;
            let mut xp = X;
            let mut xm = X;
            for k in 0..3 {
                xp[k] += eps * U[k];
                xm[k] -= eps * U[k];
            }
            let (mp, mm) = (net.forward(&xp), net.forward(&xm));
            for o in 0..2 {
                let fd = (mp[o] - mm[o]) / (2.0 * eps);
                assert!((fd - m_dot[o]).abs() < 2e-3, "m_dot {o}");
            }
            // dQ/dw and dQ/dx against differences of Q (itself built from forward passes).
            let h = 2e-2f32;
            for i in 0..grad.len() {
                let mut p = net.clone();
                let mut m = net.clone();
                p.params[i] += h;
                m.params[i] -= h;
                let fd = (q_fd(&p, &X) - q_fd(&m, &X)) / (2.0 * h as f64);
                let tol = 3e-3 + 3e-2 * fd.abs();
                assert!(
                    (fd - grad[i] as f64).abs() < tol,
                    "w {i}: {fd} vs {}",
                    grad[i]
                );
            }
            for k in 0..3 {
                let mut xp = X;
                let mut xm = X;
                xp[k] += h;
                xm[k] -= h;
                let fd = (q_fd(&net, &xp) - q_fd(&net, &xm)) / (2.0 * h as f64);
                let tol = 3e-3 + 3e-2 * fd.abs();
                assert!(
                    (fd - x_bar[k] as f64).abs() < tol,
                    "x {k}: {fd} vs {}",
                    x_bar[k]
                );
            }
        }
    }

    #[test]
    fn param_jvp_matches_finite_differences() {
        for net in nets() {
            let dw: [f32; Net::OUT_OFFSET + 2 * 4 + 2] =
                core::array::from_fn(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1);
            let (out, out_d) = net.param_jvp(&X, &dw);
            assert_eq!(out, net.forward(&X));
            let eps = 1e-3f32;
            let (mut p, mut m) = (net.clone(), net.clone());
            for i in 0..dw.len() {
                p.params[i] += eps * dw[i];
                m.params[i] -= eps * dw[i];
            }
            let (fp, fm) = (p.forward(&X), m.forward(&X));
            for o in 0..2 {
                let fd = (fp[o] - fm[o]) / (2.0 * eps);
                assert!(
                    (fd - out_d[o]).abs() < 2e-3 + 1e-2 * fd.abs(),
                    "{fd} vs {}",
                    out_d[o]
                );
            }
        }
    }

    #[test]
    fn zero_output_gain_starts_at_zero() {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(9);
        let net = Net::new_random(Activation::Tanh, 0.0, &mut rng);
        assert_eq!(net.forward(&X), [0.0, 0.0]);
        let mut bad = net.params;
        bad[0] = f32::NAN;
        let mut n2 = net.clone();
        assert_eq!(n2.set_params(&bad), Err(Error::NonFiniteInput));
        assert_eq!(n2.params, net.params);
    }
}
