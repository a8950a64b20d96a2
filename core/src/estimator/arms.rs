//! ARMS (Dimitriev & Zhou, ICML 2021, "ARMS: Antithetic-REINFORCE-Multi-Sample gradient for
//! binary variables") for independent Bernoulli variables.

use super::{checked_value, Estimate, Estimator, Objective};
use crate::dist::{Bernoulli, Relaxed};
use crate::math::{log_sigmoid, sigmoid, uniform_open};
use crate::Error;
use rand_core::Rng;

/// ARMS (Dimitriev & Zhou, ICML 2021, "ARMS: Antithetic-REINFORCE-Multi-Sample gradient
/// for binary variables") with `S >= 2` antithetic samples of `N` Bernoulli bits (equation
/// below). Unbiased; `S` evaluations of `f`; no relaxation and no learned parameters.
/// `S = 2` is [`super::DisArm`], sample for sample.
///
/// `S >= 2` samples `b_1 .. b_S` share, in every coordinate `i`, uniforms `u_{1,i} .. u_{S,i}`
/// that are each `U(0, 1)` but mutually antithetic: they come from the Dirichlet copula,
/// `u_k = (1 - d_k)^{S-1}` with `d ~ Dirichlet(1, .., 1)` (`S` components), drawn afresh and
/// independently for every coordinate. Then `b_{k,i} = 1[u_{k,i} < theta_i]`. Because the
/// samples are dependent, the leave-one-out estimator (LOORF) is rescaled by the paper's
/// debiasing factor:
///
/// `g_i = S/(S-1) * 1/S sum_k (f(b_k) - fbar) (b_{k,i} - theta_i) * theta_i (1 - theta_i) / (theta_i - C(theta_i, theta_i))`
///
/// with `fbar` the mean of the `S` values and `C(p, q) = P(u_1 < p, u_2 < q)
/// = max(p^{1/(S-1)} + q^{1/(S-1)} - 1, 0)^{S-1}` the copula's bivariate CDF. Unbiased for any
/// `f`: `E[b_{k,i} - theta_i | b_j] = rho_i (b_{j,i} - theta_i)` with
/// `rho_i = (C - theta_i^2) / (theta_i (1 - theta_i))`, and the factor is `1 / (1 - rho_i)`.
///
/// Conventions, checked against the authors' code (`alekdimi/arms`, `networks.py` and
/// `toy_problem.py`; the paper's full text was not retrievable here, so the factor above is
/// derived in these docs and proved by the enumeration tests rather than quoted):
/// - where `theta_i >= 1/2` (`l_i >= 0`) the coordinate uses `1 - u` instead of `u` (the copula
///   is most antithetic in its lower tail, so the rarer value of the bit gets it); the factor
///   is then `theta (1 - theta) / (q - C(q, q))` with `q = 1 - theta`. In both cases
///   `q = sigmoid(-|l_i|)` and the factor is `sigmoid(|l_i|) / (1 - C(q, q) / q)`, computed so.
/// - the sum is computed in the equivalent pairwise form
///   `sum_k (f_k - fbar) b_{k,i} = 1/S sum_{k<j} (f_k - f_j)(b_{k,i} - b_{j,i})`, exact in
///   floating point when bits agree and free of the cancellation of `b - theta`.
/// - `S = 2`: `Dirichlet(1, 1)` is `(v, 1 - v)` with `v ~ U(0, 1)`, so the pair is
///   `u` and `1 - u` and `C(q, q) = 0`: the estimator is DisARM's
///   `1/2 (f(b_1) - f(b_2)) (b_{1,i} - b_{2,i}) sigmoid(|l_i|)`. [`Arms`] with `S = 2` draws
///   one uniform per bit exactly as [`super::DisArm`] does (and flips no coordinate: for
///   `S = 2` the flip only swaps the two samples), so with the same generator it returns
///   DisARM's gradient bit for bit.
/// - `S >= 3`: `d` is drawn as normalised exponentials `e_k = -log v_k` (`S` uniforms per bit,
///   as in the reference code).
///
/// ```
/// use relax_core::estimator::{Arms, Estimator};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// let mut f = |b: &[f32; 3]| b.iter().map(|x| (x - 0.4) * (x - 0.4)).sum::<f32>();
/// let e = Arms::<3, 4>::new().unwrap().estimate(&[0.0, 1.0, -2.0], &mut f, &mut rng).unwrap();
/// assert_eq!(e.f_evals, 4);
/// ```
///
/// Every `Ok` estimate is finite: values whose differences overflow `f32` give
/// [`Error::NonFiniteGradient`].
#[derive(Debug, Clone, Copy)]
pub struct Arms<const N: usize, const S: usize>;

impl<const N: usize, const S: usize> Arms<N, S> {
    /// The estimator (stateless); fails unless `S >= 2`.
    pub fn new() -> Result<Self, Error> {
        if S < 2 {
            return Err(Error::InvalidHyperparameter);
        }
        Ok(Self)
    }
}

/// Draws the `S` antithetic samples of [`Arms`] for callers that evaluate `f` themselves
/// (then [`arms_combine`]): per bit, `S` Dirichlet-copula uniforms, reflected where
/// `l_i >= 0` (for `S >= 3`). Compared in logit space: `u < sigmoid(l)` iff
/// `log u - log(1 - u) < l`. Non-finite logits give [`Error::NonFiniteInput`]; `S < 2`
/// gives [`Error::InvalidHyperparameter`].
pub fn arms_draw<const N: usize, const S: usize, R: Rng + ?Sized>(
    logits: &[f32; N],
    rng: &mut R,
) -> Result<[[f32; N]; S], Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    if S < 2 {
        return Err(Error::InvalidHyperparameter);
    }
    let mut bs = [[0.0f32; N]; S];
    for i in 0..N {
        let l = logits[i];
        if S == 2 {
            // DisArm's draw: u and 1 - u, whose logit is -logit(u).
            let u = uniform_open(rng);
            let lu = libm::logf(u) - libm::log1pf(-u);
            bs[0][i] = if lu < l { 1.0 } else { 0.0 };
            bs[1][i] = if -lu < l { 1.0 } else { 0.0 };
            continue;
        }
        let mut e = [0.0f32; S];
        for ek in e.iter_mut() {
            *ek = -libm::logf(uniform_open(rng));
        }
        let total: f32 = e.iter().sum();
        let log_total = libm::logf(total);
        let flip = l >= 0.0;
        for k in 0..S {
            // 1 - d_k = (sum of the other exponentials) / total, summed directly.
            let rest: f32 = (0..S).filter(|&j| j != k).map(|j| e[j]).sum();
            let log_u = (S - 1) as f32 * (libm::logf(rest) - log_total);
            // logit(u) = log u - log(1 - u); u = 1 gives +inf (bit 0), never NaN.
            let lam = log_u - libm::logf(-libm::expm1f(log_u));
            let lam = if flip { -lam } else { lam };
            bs[k][i] = if lam < l { 1.0 } else { 0.0 };
        }
    }
    Ok(bs)
}

/// The debiasing factor `theta (1 - theta) / (q - C(q, q))`, `q = sigmoid(-|l|)`, written as
/// `sigmoid(|l|) / (1 - C(q, q) / q)`; `C(q, q) = 0` for `S = 2`.
fn debias<const S: usize>(l: f32) -> f32 {
    let big = sigmoid(libm::fabsf(l));
    if S == 2 {
        return big;
    }
    // a = q^{1/(S-1)}; C(q, q) / q = ((2a - 1) / a)^{S-1} where 2a > 1, else 0.
    let a = libm::expf(log_sigmoid(-libm::fabsf(l)) / (S - 1) as f32);
    let r = if 2.0 * a > 1.0 {
        libm::powf(2.0 - 1.0 / a, (S - 1) as f32)
    } else {
        0.0
    };
    big / (1.0 - r)
}

/// The ARMS gradient from the samples of [`arms_draw`] and their values `fs`:
/// `g_i = debias_i / (S (S-1)) sum_{k<j} (f_k - f_j)(b_{k,i} - b_{j,i})` ([`Arms`]'s
/// equation). Refuses non-finite input, samples that are not bits
/// ([`Error::InvalidAction`]), and a gradient that overflows ([`Error::NonFiniteGradient`]).
pub fn arms_combine<const N: usize, const S: usize>(
    logits: &[f32; N],
    bs: &[[f32; N]; S],
    fs: &[f32; S],
) -> Result<[f32; N], Error> {
    crate::check_finite(logits, Error::NonFiniteInput)?;
    if S < 2 {
        return Err(Error::InvalidHyperparameter);
    }
    crate::check_finite(fs, Error::NonFiniteObjective)?;
    if !bs.iter().all(Bernoulli::<N>::is_valid_hard) {
        return Err(Error::InvalidAction);
    }
    let coef = 1.0 / (S * (S - 1)) as f32;
    let grad = core::array::from_fn(|i| {
        let mut sum = 0.0f32;
        for k in 0..S {
            for j in k + 1..S {
                if bs[k][i] != bs[j][i] {
                    sum += (fs[k] - fs[j]) * (bs[k][i] - bs[j][i]);
                }
            }
        }
        sum * coef * debias::<S>(logits[i])
    });
    crate::check_finite(&grad, Error::NonFiniteGradient)?;
    Ok(grad)
}

impl<const N: usize, const S: usize, O: Objective<N> + ?Sized> Estimator<N, O> for Arms<N, S> {
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        let bs = arms_draw::<N, S, R>(logits, rng)?;
        let mut fs = [0.0f32; S];
        for k in 0..S {
            fs[k] = checked_value(f, &bs[k])?;
        }
        let grad = arms_combine(logits, &bs, &fs)?;
        Ok(Estimate {
            grad,
            value: fs[0],
            f_evals: S as u32,
            relaxed_evals: 0,
            variance_loss: None,
        })
    }
}

#[cfg(test)]
mod tests;
