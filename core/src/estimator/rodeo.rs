//! RODEO (Shi, Zhou, Hwang, Titsias & Mackey, NeurIPS 2022, arXiv 2202.09497, "Gradient
//! estimation with discrete Stein operators") for independent Bernoulli variables: RLOO with
//! control variates made by a discrete Stein operator from a small learned function.

use super::{checked_relaxed, Estimate, Estimator, RelaxedObjective};
use crate::dist::{Bernoulli, Relaxed};
use crate::math::{dot, sigmoid};
use crate::nn::{Mlp, MlpCache};
use crate::optim::{Adam, AdamConfig};
use crate::Error;
use rand_core::Rng;

/// RODEO (Shi et al., NeurIPS 2022) with `K >= 2` samples of `N` Bernoulli bits and the
/// control-variate network `Mlp<2, H, 2, L, P>`.
///
/// **The Stein operator.** For `N` independent bits, the Gibbs Stein operator of `q(b|l)`
/// (pick a coordinate uniformly, resample it from `q`) maps any function `h` to
/// `(A h)(b) = 1/N sum_i q(not b_i) (h(b^(i)) - h(b))`, with `b^(i)` the bits `b` with bit `i`
/// flipped and `q(not b_i)` the probability of the flipped value (`theta_i` if `b_i = 0`,
/// `1 - theta_i` if `b_i = 1`). `E_q[(A h)(b)] = 0` for every `h`: a control variate that costs
/// no evaluation of `f`. Applied coordinate-wise to `H(y) = h(y) (y - theta)` (the score
/// times a scalar function) it gives a vector control variate for the gradient itself.
///
/// **The estimator.** `K >= 2` independent samples `b_k`, their values `f_k` and gradients
/// `nabla_k = df/dx` at `x = b_k`. For each `k` a function of `y` built from the *other*
/// samples, the network `m` (2 inputs, 2 outputs) on the first-order Taylor expansion of `f`
/// around each other sample:
///
/// `(h_0, h_1)_k(y) = 1/(K-1) sum_{j != k} m(nabla_j . (y - b_j), f_j)`,
///
/// `S_k = (A h_{0,k})(b_k)` (scalar), `C_k = (A [h_{1,k} (. - theta)])(b_k)` (vector), and
///
/// `g = 1/K sum_k [ (f_k - 1/(K-1) sum_{j != k} (f_j + alpha S_j)) (b_k - theta) + beta C_k ]`.
///
/// `S_j` and `C_k` have mean zero given the samples their functions are built from, so `g`
/// is unbiased for every `alpha`, `beta` and network (trained or not). `alpha`, `beta` (Adam)
/// and the network's weights (its own Adam) are learned online on `|g|^2` from the same
/// samples, after the estimate, like RELAX's control variate; the derivatives are exact
/// (checked against finite differences in the tests).
///
/// Conventions. The paper text's general recipe was not available in full here; the form
/// above is the one its authors' code (`thjashin/rodeo`, `networks.py`) runs for the results
/// its README lists: `discrete_stein_avg` for `K = 2` and `discrete_stein_output_avg` for
/// `K > 2` (at `K = 2` the two are the same), with the default (Gibbs) operator, `alpha`,
/// `beta` initialised at 0 (plain RLOO until they learn), and the Taylor expansions fed to the
/// network without gradient. That code's network is `Dense(100)` on each input, summed,
/// LeakyReLU(0.3), `Dense(2)`: one hidden layer on the two inputs. Here it is any core
/// [`Mlp`] with two inputs and two outputs (the core has no LeakyReLU; tanh in the tests and
/// the host). Gradients here are of `f` itself (a loss in that code; the sign is absorbed by
/// `alpha`, `beta` and the network).
///
/// Each call evaluates the relaxed objective at the `K` hard samples (`x = b_k`; its value
/// there is taken as `f(b_k)`, so the relaxation must agree with `f` at the vertices),
/// returns the estimate, then, in training mode, takes one Adam step on `(alpha, beta)` and
/// one on the network down `|g|^2`. Unbiased whether trained or not; `K` evaluations of `f`
/// with its gradient, and `K (K-1) (N+1)` network evaluations (twice that when training).
/// Every `Ok` estimate is finite, and a call that fails changes no learnable state.
///
/// ```
/// use relax_core::estimator::{Estimator, Objective, RelaxedObjective, Rodeo};
/// use relax_core::nn::{mlp_param_count, Activation, Mlp};
/// use relax_core::optim::AdamConfig;
/// use rand_core::SeedableRng;
/// struct Sq;
/// impl Objective<2> for Sq {
///     fn value(&mut self, b: &[f32; 2]) -> f32 { (b[0] - 0.3).powi(2) + b[1] }
/// }
/// impl RelaxedObjective<2> for Sq {
///     fn relaxed(&mut self, x: &[f32; 2], g: &mut [f32; 2]) -> f32 {
///         *g = [2.0 * (x[0] - 0.3), 1.0];
///         self.value(x)
///     }
/// }
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// type Net = Mlp<2, 8, 2, 1, { mlp_param_count(2, 8, 2, 1) }>;
/// let net = Net::new_random(Activation::Tanh, 1.0, &mut rng);
/// let mut rodeo = Rodeo::<2, 2, 8, 1, _>::new(net, AdamConfig::new(1e-3), AdamConfig::new(1e-3)).unwrap();
/// let e = rodeo.estimate(&[0.0, 1.0], &mut Sq, &mut rng).unwrap();
/// assert_eq!((e.f_evals, e.relaxed_evals), (0, 2));
/// assert!(e.variance_loss.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Rodeo<const N: usize, const K: usize, const H: usize, const L: usize, const P: usize> {
    pub(crate) net: Mlp<2, H, 2, L, P>,
    /// `[alpha, beta]`.
    pub(crate) coef: [f32; 2],
    pub(crate) adam_net: Adam<P>,
    pub(crate) adam_coef: Adam<2>,
    training: bool,
}

/// What one evaluation of the estimator gives (and, when asked, the variance-loss gradient);
/// the struct-level view of [`rodeo_combine`] the tests use.
pub(crate) struct RodeoEval<const N: usize, const P: usize> {
    pub grad: [f32; N],
    pub loss: f32,
    pub coef_grad: [f32; 2],
    pub net_grad: [f32; P],
}

/// One RODEO combination: the gradient, `|g|^2` and its derivative in `(alpha, beta)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RodeoStep<const N: usize> {
    /// The estimate of `d/dl E[f(b)]`.
    pub grad: [f32; N],
    /// `|g|^2`.
    pub variance_loss: f32,
    /// `d |g|^2 / d (alpha, beta)` (zero unless the network's gradient was asked for).
    pub coef_grad: [f32; 2],
}

impl<const N: usize, const K: usize, const H: usize, const L: usize, const P: usize>
    Rodeo<N, K, H, L, P>
{
    /// `alpha = beta = 0` (the reference code's start: plain RLOO until they learn), the
    /// network `net`, Adam with `net_config` for the network and `coef_config` for
    /// `(alpha, beta)`. Fails unless `K >= 2`, `N >= 1`, the configurations are valid and the
    /// network's parameters are finite.
    pub fn new(
        net: Mlp<2, H, 2, L, P>,
        net_config: AdamConfig,
        coef_config: AdamConfig,
    ) -> Result<Self, Error> {
        if K < 2 || N == 0 {
            return Err(Error::InvalidHyperparameter);
        }
        crate::check_finite(net.params(), Error::NonFiniteInput)?;
        Ok(Self {
            net,
            coef: [0.0, 0.0],
            adam_net: Adam::new(net_config)?,
            adam_coef: Adam::new(coef_config)?,
            training: true,
        })
    }

    /// The same with `(alpha, beta)` starting at `coef` (finite, else
    /// [`Error::NonFiniteInput`]).
    pub fn with_coefficients(mut self, coef: [f32; 2]) -> Result<Self, Error> {
        crate::check_finite(&coef, Error::NonFiniteInput)?;
        self.coef = coef;
        Ok(self)
    }

    /// `[alpha, beta]`: the scales of the scalar (baseline) and the vector control variate.
    pub fn coefficients(&self) -> [f32; 2] {
        self.coef
    }

    /// The control-variate network.
    pub fn net(&self) -> &Mlp<2, H, 2, L, P> {
        &self.net
    }

    /// Turns the learning of the coefficients and the network on or off.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }

    /// The step level, for callers that draw and evaluate themselves: the estimate from `K`
    /// independent Bernoulli samples `bs` at `logits`, their values `fs` and the gradients
    /// `grads` of `f` at them ([`rodeo_combine`]), then (in training mode) the learning step.
    /// Returns the gradient and, when it trained, `|g|^2`. Refuses non-finite input, samples
    /// that are not bits ([`Error::InvalidAction`]) and overflow, changing nothing.
    pub fn step(
        &mut self,
        logits: &[f32; N],
        bs: &[[f32; N]; K],
        fs: &[f32; K],
        grads: &[[f32; N]; K],
    ) -> Result<([f32; N], Option<f32>), Error> {
        let e = self.eval(logits, bs, fs, grads, self.training)?;
        if !self.training {
            return Ok((e.grad, None));
        }
        // All or nothing: both optimizers are checked before either steps.
        self.adam_coef.check_step(&self.coef, &e.coef_grad)?;
        self.adam_net.check_step(self.net.params(), &e.net_grad)?;
        self.adam_coef.step(&mut self.coef, &e.coef_grad)?;
        self.adam_net.step(self.net.params_mut(), &e.net_grad)?;
        Ok((e.grad, Some(e.loss)))
    }

    /// The estimate and, when `want_grad`, the gradient of `|g|^2` in `(alpha, beta)` and in
    /// the network's weights ([`rodeo_combine`] with this estimator's state).
    pub(crate) fn eval(
        &self,
        logits: &[f32; N],
        bs: &[[f32; N]; K],
        fs: &[f32; K],
        grads: &[[f32; N]; K],
        want_grad: bool,
    ) -> Result<RodeoEval<N, P>, Error> {
        let mut net_grad = [0.0f32; P];
        let s = rodeo_combine(
            logits,
            bs,
            fs,
            grads,
            &self.net,
            self.coef,
            want_grad.then_some(&mut net_grad),
        )?;
        Ok(RodeoEval {
            grad: s.grad,
            loss: s.variance_loss,
            coef_grad: s.coef_grad,
            net_grad,
        })
    }
}

/// The network input for the expansion around sample `j` evaluated at `y`:
/// `(nabla_j . (y - b_j), f_j)`, with `y = b_k` (`flip = None`) or `b_k^(i)`.
fn input<const N: usize>(
    bk: &[f32; N],
    flip: Option<usize>,
    gj: &[f32; N],
    fj: f32,
    base: f32,
) -> [f32; 2] {
    let mut lin = base;
    if let Some(i) = flip {
        lin += gj[i] * (1.0 - 2.0 * bk[i]);
    }
    [lin, fj]
}

/// The samples, their values and gradients, and `base[k][j] = nabla_j . (b_k - b_j)`.
struct Samples<'a, const N: usize, const K: usize> {
    bs: &'a [[f32; N]; K],
    fs: &'a [f32; K],
    grads: &'a [[f32; N]; K],
    base: [[f32; K]; K],
}

impl<const N: usize, const K: usize> Samples<'_, N, K> {
    /// The network's inputs for `h_k` at `y` (`b_k`, bit `flip` flipped): one per other
    /// sample `j`, in the order of `j`.
    fn inputs(&self, k: usize, flip: Option<usize>) -> impl Iterator<Item = [f32; 2]> + '_ {
        (0..K).filter(move |&j| j != k).map(move |j| {
            input(
                &self.bs[k],
                flip,
                &self.grads[j],
                self.fs[j],
                self.base[k][j],
            )
        })
    }

    /// `h_k(y)`: the mean of the network over the other samples.
    fn h<const H: usize, const L: usize, const P: usize>(
        &self,
        net: &Mlp<2, H, 2, L, P>,
        k: usize,
        flip: Option<usize>,
    ) -> [f32; 2] {
        let mut out = [0.0f32; 2];
        for x in self.inputs(k, flip) {
            let y = net.forward(&x);
            out[0] += y[0];
            out[1] += y[1];
        }
        let inv = 1.0 / (K - 1) as f32;
        [out[0] * inv, out[1] * inv]
    }

    /// Adds the weight gradient of `cot . h_k(y)` into `grad`.
    fn h_backward<const H: usize, const L: usize, const P: usize>(
        &self,
        net: &Mlp<2, H, 2, L, P>,
        k: usize,
        flip: Option<usize>,
        cot: [f32; 2],
        grad: &mut [f32; P],
    ) {
        if cot == [0.0, 0.0] {
            return;
        }
        let inv = 1.0 / (K - 1) as f32;
        let cot = [cot[0] * inv, cot[1] * inv];
        let mut cache = MlpCache::<H, L>::default();
        for x in self.inputs(k, flip) {
            net.forward_cached(&x, &mut cache);
            net.backward(&x, &cache, &cot, grad);
        }
    }
}

/// The RODEO estimate ([`Rodeo`]'s equation) from `K` samples `bs` at `logits`, their values
/// `fs`, the gradients `grads` of `f` at them, the control-variate network `net` and
/// `coef = [alpha, beta]`: the step level of [`Rodeo`], for callers that keep the learned
/// parts themselves (a VAE that updates them once per minibatch on the batch's mean
/// `|g|^2`). With `net_grad`, also the variance-loss gradient: `d|g|^2/d(alpha, beta)` in
/// the result and `d|g|^2/d(weights)` *added* into `net_grad` (so a caller can sum over a
/// batch); without it the coefficient gradient is zero and only the estimate is computed.
/// Allocation-free; `K (K-1) (N+1)` network evaluations, plus as many forward and backward
/// passes with `net_grad`.
///
/// Refuses non-finite input ([`Error::NonFiniteInput`] for `logits`, `coef` and the network,
/// [`Error::NonFiniteObjective`] for `fs` and `grads`), `K < 2` or `N = 0`
/// ([`Error::InvalidHyperparameter`]), samples that are not bits ([`Error::InvalidAction`])
/// and results that overflow ([`Error::NonFiniteGradient`]). On an error `net_grad` may hold
/// part of this call's sum: discard it (every `Ok` leaves it finite if it was).
pub fn rodeo_combine<
    const N: usize,
    const K: usize,
    const H: usize,
    const L: usize,
    const P: usize,
>(
    logits: &[f32; N],
    bs: &[[f32; N]; K],
    fs: &[f32; K],
    grads: &[[f32; N]; K],
    net: &Mlp<2, H, 2, L, P>,
    coef: [f32; 2],
    net_grad: Option<&mut [f32; P]>,
) -> Result<RodeoStep<N>, Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    if K < 2 || N == 0 {
        return Err(Error::InvalidHyperparameter);
    }
    super::double_cv::check_samples_with_grads(bs, fs, grads)?;
    crate::check_finite(&coef, Error::NonFiniteInput)?;
    crate::check_finite(net.params(), Error::NonFiniteInput)?;
    let inv_n = 1.0 / N as f32;
    let inv_k = 1.0 / K as f32;
    let inv_k1 = 1.0 / (K - 1) as f32;
    let [alpha, beta] = coef;
    let scores: [[f32; N]; K] = core::array::from_fn(|k| Bernoulli::<N>::score(logits, &bs[k]));
    // w_{k,i} = q(not b_{k,i}); W_k = sum_i w_{k,i}.
    let w: [[f32; N]; K] = core::array::from_fn(|k| {
        core::array::from_fn(|i| {
            if bs[k][i] > 0.5 {
                sigmoid(-logits[i])
            } else {
                sigmoid(logits[i])
            }
        })
    });
    // base[k][j] = nabla_j . (b_k - b_j)
    let base: [[f32; K]; K] = core::array::from_fn(|k| {
        core::array::from_fn(|j| {
            let mut d = 0.0;
            for i in 0..N {
                d += grads[j][i] * (bs[k][i] - bs[j][i]);
            }
            d
        })
    });
    let sm = Samples {
        bs,
        fs,
        grads,
        base,
    };
    let mut s_cv = [0.0f32; K];
    let mut c_cv = [[0.0f32; N]; K];
    // Per sample: h at b_k and at its N neighbours.
    let mut h_nbr_w1 = [[0.0f32; N]; K]; // w_i h1(b^(i)), kept for the backward pass
    for k in 0..K {
        let hb = sm.h(net, k, None);
        let wsum: f32 = w[k].iter().sum();
        let mut s = 0.0f32;
        let mut t = 0.0f32; // sum_i w_i h1(b^(i))
        for i in 0..N {
            let hn = sm.h(net, k, Some(i));
            s += w[k][i] * (hn[0] - hb[0]);
            h_nbr_w1[k][i] = w[k][i] * hn[1];
            t += h_nbr_w1[k][i];
        }
        s_cv[k] = s * inv_n;
        let common = (t - wsum * hb[1]) * inv_n;
        for m in 0..N {
            let flip = 1.0 - 2.0 * bs[k][m];
            c_cv[k][m] = common * scores[k][m] + h_nbr_w1[k][m] * flip * inv_n;
        }
    }
    let fsum: f32 = fs.iter().sum();
    let ssum: f32 = s_cv.iter().sum();
    let mut grad = [0.0f32; N];
    let mut dalpha = [0.0f32; N];
    let mut dbeta = [0.0f32; N];
    for k in 0..K {
        let rl = fs[k] - (fsum - fs[k]) * inv_k1;
        let sa = -(ssum - s_cv[k]) * inv_k1;
        for i in 0..N {
            dalpha[i] += sa * scores[k][i] * inv_k;
            dbeta[i] += c_cv[k][i] * inv_k;
            grad[i] += rl * scores[k][i] * inv_k;
        }
    }
    for i in 0..N {
        grad[i] += alpha * dalpha[i] + beta * dbeta[i];
    }
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    let loss: f32 = grad.iter().map(|g| g * g).sum();
    let mut out = RodeoStep {
        grad,
        variance_loss: loss,
        coef_grad: [0.0; 2],
    };
    let Some(net_grad) = net_grad else {
        return Ok(out);
    };
    let u: [f32; N] = core::array::from_fn(|i| 2.0 * grad[i]);
    out.coef_grad = [dot(&u, &dalpha), dot(&u, &dbeta)];
    let mut score_sum = [0.0f32; N];
    for s in &scores {
        for i in 0..N {
            score_sum[i] += s[i];
        }
    }
    for k in 0..K {
        // dL/dS_k = -alpha / (K (K-1)) u . (sum_{m != k} s_m)
        let mut us = 0.0f32;
        for i in 0..N {
            us += u[i] * (score_sum[i] - scores[k][i]);
        }
        let a_k = -alpha * inv_k * inv_k1 * us;
        // dL/dC_k = beta / K u
        let v: [f32; N] = core::array::from_fn(|i| beta * inv_k * u[i]);
        let vs = dot(&v, &scores[k]);
        let wsum: f32 = w[k].iter().sum();
        let cot_b = [-a_k * wsum * inv_n, -wsum * vs * inv_n];
        sm.h_backward(net, k, None, cot_b, net_grad);
        for i in 0..N {
            let flip = 1.0 - 2.0 * bs[k][i];
            let cot = [a_k * w[k][i] * inv_n, w[k][i] * (vs + v[i] * flip) * inv_n];
            sm.h_backward(net, k, Some(i), cot, net_grad);
        }
    }
    crate::check_finite(&[out.variance_loss], Error::NonFiniteGradient)?;
    crate::check_finite(&out.coef_grad, Error::NonFiniteGradient)?;
    crate::check_finite(net_grad, Error::NonFiniteGradient)?;
    Ok(out)
}

impl<
        const N: usize,
        const K: usize,
        const H: usize,
        const L: usize,
        const P: usize,
        O: RelaxedObjective<N> + ?Sized,
    > Estimator<N, O> for Rodeo<N, K, H, L, P>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        crate::check_finite(logits, Error::NonFiniteInput)?;
        if K < 2 || N == 0 {
            return Err(Error::InvalidHyperparameter);
        }
        let mut bs = [[0.0f32; N]; K];
        let mut fs = [0.0f32; K];
        let mut grads = [[0.0f32; N]; K];
        for k in 0..K {
            bs[k] = Bernoulli::<N>::harden(&Bernoulli::<N>::sample_z(logits, rng));
            (fs[k], grads[k]) = checked_relaxed(f, &bs[k])?;
        }
        let (grad, variance_loss) = self.step(logits, &bs, &fs, &grads)?;
        Ok(Estimate {
            grad,
            value: fs[0],
            f_evals: 0,
            relaxed_evals: K as u32,
            variance_loss,
        })
    }
}

#[cfg(test)]
mod tests;
