//! CARMS (Dimitriev & Zhou, NeurIPS 2021, "CARMS: Categorical-Antithetic-REINFORCE
//! Multi-Sample gradient estimator"), with the stick-breaking construction of each
//! categorical.

use super::{checked_value, Estimate, Estimator, Objective};
use crate::dist::CategoricalProduct;
use crate::math::{sigmoid, uniform_open};
use crate::Error;
use rand_core::Rng;

/// CARMS with the stick-breaking construction: `S >= 2` jointly antithetic samples of `D`
/// independent categoricals of `K` classes (logits `[f32; N]`, `N = D * K`, laid out as in
/// [`CategoricalProduct`]), and the leave-one-out REINFORCE estimator importance-weighted
/// pair by pair. Unbiased; `S` evaluations of `f`; no relaxation, no learned parameters.
/// With `S = 2` it is [`CoupledDisArm`](super::CoupledDisArm) in distribution (the same
/// coupling and weights, from other noise).
///
/// **The estimator.** With independent samples, leave-one-out REINFORCE is
/// `1/(S(S-1)) sum_{a != b} (f(b_a) - f(b_b)) d log q(b_a)/dl`; each pair's term has the
/// expectation of two independent samples, so with coupled samples each pair is weighted by
/// `w_ab = q(c_a) q(c_b) / Q(c_a, c_b)`, `Q` the pair's joint law. Symmetrised (the weights
/// are symmetric), for each variable `d`:
///
/// `g_d = 1/(S(S-1)) sum_{a < b} w_ab (f(b_a) - f(b_b)) (e_{c_a} - e_{c_b})`.
///
/// **The coupling.** Each categorical is a sequence of binaries in ascending order of
/// probability (as [`CoupledDisArm`](super::CoupledDisArm)): class `pi(i)` is taken at the
/// first `i` with `u_i < sigma_i = theta_{pi(i)} / sum_{j >= i} theta_{pi(j)}`. Each binary's
/// `S` uniforms come from the Dirichlet copula: `x ~ Dirichlet(1, ..., 1)` (normalised
/// exponentials) and `u_s = (1 - x_s)^{S-1}`, uniform each, jointly antithetic (for `S = 2`,
/// `u_2 = 1 - u_1`), with the bivariate copula `C(x, y) = (x^{1/(S-1)} + y^{1/(S-1)} - 1)_+^{S-1}`.
/// With `Phi_i = C(sigma_i, sigma_i)`, two chains both pass binary `i` with probability
/// `1 - 2 sigma_i + Phi_i` and split there with probability `sigma_i - Phi_i` each way, so
/// for stopping indices `z_a != z_b` and `m = min(z_a, z_b)`
///
/// `w_ab = prod_{i < m} (1 - sigma_i)^2 / (1 - 2 sigma_i + Phi_i) * sigma_m (1 - sigma_m) / (sigma_m - Phi_m)`.
///
/// The ascending order keeps `sigma_i <= 1/3` for `i <= K - 3`, so every pair of distinct
/// classes can be drawn and the weights are finite: unbiased for any logits.
///
/// **Where this differs from the reference code** (alekdimi/carms): its stick-breaking
/// variant (`sbcarms`) adds `1e-8` and `1e-6` inside the weights' denominators, and its main
/// `carms` (the inverse-CDF construction over random class orders) clips the weights to
/// `[0.01, 10]` after adding `1e-3`, which bias the estimate; it also appears to draw an
/// independent class order per sample while computing the pair law for a shared order. Here
/// the weights are exact. The inverse-CDF construction is not implemented.
///
/// Noise: `S (K - 1)` uniforms per variable. Every `Ok` estimate is finite; objective values
/// whose differences overflow `f32` give [`Error::NonFiniteGradient`].
///
/// ```
/// use relax_core::estimator::{Carms, Estimator};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
/// let table = [1.0f32, -2.0, 0.5, 0.0];
/// let mut f = |b: &[f32; 4]| (0..4).map(|k| table[k] * b[k]).sum::<f32>();
/// let mut carms = Carms::<1, 4, 4, 3>::new()?; // one categorical, 3 samples
/// let e = carms.estimate(&[0.2, -0.4, 1.0, 0.0], &mut f, &mut rng)?;
/// assert_eq!(e.f_evals, 3);
/// # Ok::<(), relax_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Carms<const D: usize, const K: usize, const N: usize, const S: usize> {
    _private: (),
}

/// One variable's stick-breaking order (`pi`, ascending probability) and stick probabilities
/// `sigma_i` (the last is 1).
pub(crate) fn sticks<const K: usize>(l: &[f32; K]) -> ([usize; K], [f32; K]) {
    let mut pi: [usize; K] = core::array::from_fn(|i| i);
    for i in 1..K {
        let mut j = i;
        while j > 0 && l[pi[j - 1]] > l[pi[j]] {
            pi.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut sigma = [1.0f32; K];
    if K > 0 {
        // s = logsumexp_{j > i} l[pi[j]], accumulated from the end.
        let mut s = l[pi[K - 1]];
        for i in (0..K - 1).rev() {
            let a = l[pi[i]];
            sigma[i] = sigmoid(a - s);
            let m = if a > s { a } else { s };
            s = m + libm::log1pf(libm::expf(-libm::fabsf(a - s)));
        }
    }
    (pi, sigma)
}

/// The Dirichlet copula's bivariate CDF at `(x, x)`: `(2 x^{1/(S-1)} - 1)_+^{S-1}`.
pub(crate) fn copula_diagonal(x: f32, s: usize) -> f32 {
    let r = libm::powf(x, 1.0 / (s - 1) as f32);
    let t = 2.0 * r - 1.0;
    if t > 0.0 {
        libm::powf(t, (s - 1) as f32)
    } else {
        0.0
    }
}

/// `S` jointly antithetic uniforms from the Dirichlet copula: `x ~ Dirichlet(1, ..., 1)` as
/// normalised exponentials, `u_s = (1 - x_s)^{S-1}`.
pub(crate) fn dirichlet_copula<const S: usize, R: Rng + ?Sized>(rng: &mut R) -> [f32; S] {
    let e: [f32; S] = core::array::from_fn(|_| -libm::logf(uniform_open(rng)));
    let total: f32 = e.iter().sum();
    core::array::from_fn(|s| libm::powf((total - e[s]) / total, (S - 1) as f32))
}

/// `q(c_a) q(c_b) / Q(c_a, c_b)` for stopping indices `za != zb` of two of `s` chains.
pub(crate) fn pair_weight(sigma: &[f32], phi: &[f32], za: usize, zb: usize) -> f32 {
    let m = za.min(zb);
    let (sm, pm) = (sigma[m], phi[m]);
    let split = sm - pm;
    // A drawn pair has a positive probability; a denominator rounded to 0 (a stick
    // probability rounded to 1 in f32) gives weight 0 rather than NaN.
    if split.is_nan() || split <= 0.0 {
        return 0.0;
    }
    let mut w = sm * (1.0 - sm) / split;
    for i in 0..m {
        let q0 = 1.0 - sigma[i];
        let pass = 1.0 - 2.0 * sigma[i] + phi[i];
        if pass.is_nan() || pass <= 0.0 {
            return 0.0;
        }
        w *= q0 * q0 / pass;
    }
    w
}

impl<const D: usize, const K: usize, const N: usize, const S: usize> Carms<D, K, N, S> {
    /// The estimator (stateless). Fails unless `S >= 2`; `N == D * K` is checked at compile
    /// time.
    pub fn new() -> Result<Self, Error> {
        let () = CategoricalProduct::<D, K, N>::SHAPE;
        if S < 2 {
            return Err(Error::InvalidHyperparameter);
        }
        Ok(Self { _private: () })
    }
}

impl<const D: usize, const K: usize, const N: usize, const S: usize, O: Objective<N> + ?Sized>
    Estimator<N, O> for Carms<D, K, N, S>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        type P<const D: usize, const K: usize, const N: usize> = CategoricalProduct<D, K, N>;
        crate::check_finite(logits, Error::NonFiniteInput)?;
        if S < 2 {
            return Err(Error::InvalidHyperparameter);
        }
        // Per variable: the order, the stick probabilities, Phi_i, and each chain's stop.
        let mut order = [[0usize; K]; D];
        let mut sigma = [[0.0f32; K]; D];
        let mut phi = [[0.0f32; K]; D];
        let mut stop = [[0usize; S]; D];
        for d in 0..D {
            let (pi, sg) = sticks(&P::<D, K, N>::block(logits, d));
            order[d] = pi;
            sigma[d] = sg;
            for i in 0..K {
                phi[d][i] = copula_diagonal(sg[i], S);
            }
            let mut stopped = [false; S];
            stop[d] = [K - 1; S];
            for i in 0..K - 1 {
                let u = dirichlet_copula::<S, R>(rng);
                for s in 0..S {
                    if !stopped[s] && u[s] < sg[i] {
                        stopped[s] = true;
                        stop[d][s] = i;
                    }
                }
            }
        }
        let mut fs = [0.0f32; S];
        let mut classes = [[0usize; D]; S];
        for s in 0..S {
            classes[s] = core::array::from_fn(|d| order[d][stop[d][s]]);
            fs[s] = checked_value(f, &P::<D, K, N>::one_hot(&classes[s]))?;
        }
        let scale = 1.0 / (S * (S - 1)) as f32;
        let mut grad = [0.0f32; N];
        for d in 0..D {
            for a in 0..S {
                for b in a + 1..S {
                    let (za, zb) = (stop[d][a], stop[d][b]);
                    if za == zb {
                        continue;
                    }
                    let w = pair_weight(&sigma[d], &phi[d], za, zb);
                    let g = scale * w * (fs[a] - fs[b]);
                    grad[d * K + classes[a][d]] += g;
                    grad[d * K + classes[b][d]] -= g;
                }
            }
        }
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
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
