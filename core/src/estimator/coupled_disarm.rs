//! Coupled categorical DisARM (Dong, Mnih & Tucker, NeurIPS 2021, "Coupled gradient
//! estimators for discrete latent variables", arXiv 2106.08056): DisARM's antithetic pair
//! drawn through a stick-breaking construction of each categorical, made unbiased by
//! importance weighting.

use super::{checked_value, Estimate, Estimator, Objective};
use crate::dist::{Categorical, CategoricalProduct};
use crate::math::{sigmoid, uniform_open};
use crate::Error;
use rand_core::Rng;

/// A coupled pair `(b, b~)` of hard samples of `D` categorical variables (one-hot blocks of
/// `K` in `[f32; N]`, as [`CategoricalProduct`] lays them out), with each variable's
/// importance weight `q(c_d) q(c~_d) / Q(c_d, c~_d)` (0 where `c_d = c~_d`: that variable's
/// term vanishes). Drawn by [`CoupledDisArm::draw`], combined by [`CoupledDisArm::combine`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CoupledPair<const D: usize, const N: usize> {
    /// The first sample `b` (its value is the estimate's `value`).
    pub b: [f32; N],
    /// The antithetic sample `b~`.
    pub bt: [f32; N],
    /// Per variable, `q(c) q(c~) / Q(c, c~)`, or 0 when the two classes agree.
    pub weight: [f32; D],
}

/// Coupled categorical DisARM with the stick-breaking coupling and importance weighting
/// (the paper's DisARM-IW; [`CoupledVariant::StickBreaking`] gives its DisARM-SB), for `D`
/// independent categoricals of `K` classes (logits `[f32; N]`, `N = D * K`, laid out as in
/// [`CategoricalProduct`]; `D = 1`, `N = K` is one
/// [`Categorical<K>`](crate::dist::Categorical)). Unbiased; 2 evaluations of `f`; no
/// relaxation and no learned parameters.
///
/// **The estimator.** For any coupling `Q(b, b~)` of `q` with itself, importance-weighting
/// the two-sample leave-one-out REINFORCE estimator (independent `b, b~ ~ q`) to the coupled
/// pair gives
///
/// `g = q(b) q(b~) / Q(b, b~) * 1/2 (f(b) - f(b~)) (d log q(b)/dl - d log q(b~)/dl)`,
///
/// unbiased wherever `Q > 0` on every pair `b != b~` (pairs with `b = b~` contribute 0). For
/// a categorical `d log q(c)/dl - d log q(c~)/dl = e_c - e_c~`.
///
/// **The stick-breaking coupling.** Order the classes `pi(0), ..., pi(K-1)` by ascending
/// probability. Class `pi(i)` is reached if the binaries `b_0 .. b_{i-1}` are 0 and `b_i` is
/// 1, with `P(b_i = 1) = sigma_i = theta_{pi(i)} / sum_{j >= i} theta_{pi(j)}`, i.e. logit
/// `phi_i = l_{pi(i)} - logsumexp_{j > i} l_{pi(j)}` (the last class takes what is left). Each
/// binary is drawn as DisARM's antithetic pair from one uniform: `b_i = 1[u_i < sigma_i]`,
/// `b~_i = 1[1 - u_i < sigma_i]`. With `z`, `z~` the first indices whose binary is 1 and
/// `m = min(z, z~)`, the importance weight of a pair with `z != z~` is
///
/// `q(c) q(c~) / Q(c, c~) = prod_{i < m} (1 - sigma_i)^2 / (1 - 2 sigma_i) * sigma(|phi_m|)`
///
/// (both chains pass the binaries before `m`, which an antithetic pair does with probability
/// `1 - 2 sigma_i`; they split at `m` with probability `min(sigma_m, 1 - sigma_m)`; after `m`
/// only one chain is running and its binaries cancel against `q`). For `K = 2` this is
/// DisARM exactly.
///
/// **Why ascending order.** `Q` covers every pair `c != c~` only if `sigma_i < 1/2` for
/// `i <= K - 3`: with `sigma_i > 1/2` both chains cannot pass binary `i` together, so pairs
/// that split later are never drawn and their share of the gradient is lost. Ascending order
/// gives `sigma_i <= 1 / (K - i) <= 1/3` there, for any logits. The reference code
/// (google-research `disarm/categorical`) draws its importance-weighted pair with no ordering
/// (`logits_sorting_order=None`) and sets the weight to 0 where `sigma_i >= 1/2`; that is
/// biased whenever an early stick-breaking probability passes 1/2 (a test measures it).
///
/// **Several variables.** Each variable `d` gets its own weight, `g_d = w_d 1/2 (f(b) -
/// f(b~)) (e_{c_d} - e_{c~_d})`: conditioned on the other variables' pair, variable `d`'s term
/// is the one-variable estimator at `f(., b_{-d})` and `f(., b~_{-d})`, and each of
/// `b_{-d}`, `b~_{-d}` has the law `q`, as binary DisARM's per-coordinate weights.
///
/// Noise: `K - 1` uniforms per variable. Every `Ok` estimate is finite; objective values
/// whose difference overflows `f32` give [`Error::NonFiniteGradient`].
///
/// ```
/// use relax_core::estimator::{CoupledDisArm, Estimator};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
/// let table = [1.0f32, -2.0, 0.5, 0.0];
/// let mut f = |b: &[f32; 4]| (0..4).map(|k| table[k] * b[k]).sum::<f32>();
/// let e = CoupledDisArm::<1, 4, 4>::new().estimate(&[0.2, -0.4, 1.0, 0.0], &mut f, &mut rng)?;
/// assert_eq!(e.f_evals, 2);
/// assert!(e.grad.iter().sum::<f32>().abs() < 1e-6); // e_c - e_c~ sums to zero
/// # Ok::<(), relax_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CoupledDisArm<const D: usize, const K: usize, const N: usize> {
    variant: CoupledVariant,
}

/// Which of the paper's two stick-breaking estimators [`CoupledDisArm`] computes. Both draw
/// the same pair from the same noise and cost 2 evaluations of `f`; both are unbiased; for
/// `K = 2` they are the same (DisARM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CoupledVariant {
    /// DisARM-IW (the default): the importance-weighted two-sample estimator above; each
    /// variable's gradient is `w 1/2 (f(b) - f(b~)) (e_c - e_c~)`.
    #[default]
    ImportanceWeighted,
    /// DisARM-SB: binary DisARM on the stick-breaking binaries (logits `phi`), with the
    /// binaries only one chain reads Rao-Blackwellised, then the chain rule to `l`. With
    /// `m = min(z, z~)`, `M = max(z, z~)` and `(b^L, f^L)` the chain that runs to `M`:
    ///
    /// `g_phi_m = 1/2 (f(b) - f(b~)) (-1)^{b~_m} sigma(|phi_m|)`,
    /// `g_phi_i = 1/2 (f^L - f^S) (b^L_i - sigma(phi_i))` for `m < i <= M`, 0 elsewhere
    ///
    /// (integrating DisARM's `u_i` given the longer chain's bit turns its term
    /// `(-1)^{b~_i} 1[b_i != b~_i] sigma(|phi_i|)` into `b^L_i - sigma(phi_i)`; binaries past
    /// `M` drop out). Any order of the classes keeps DisARM-SB unbiased; the ascending one is
    /// used for both variants. The [`CoupledDisArm::draw`] and [`CoupledDisArm::combine`]
    /// steps are DisARM-IW's.
    StickBreaking,
}

/// `log(e^a + e^b)` for finite `a`, `b`.
fn logaddexp(a: f32, b: f32) -> f32 {
    let m = if a > b { a } else { b };
    m + libm::log1pf(libm::expf(-libm::fabsf(a - b)))
}

/// One variable's stick-breaking pair: the order `pi`, the binaries' logits `phi` (`phi[K-1]`
/// unused), and the two chains' stopping indices `z`, `zt` (`K - 1` when a chain passes every
/// binary). Ascending order of probability, or (`ascending = false`) the classes' own order,
/// the reference code's biased importance-weighted variant, for the test that shows the bias.
/// Draws `K - 1` uniforms.
struct Sticks<const K: usize> {
    pi: [usize; K],
    phi: [f32; K],
    z: usize,
    zt: usize,
}

fn draw_sticks<const K: usize, R: Rng + ?Sized>(
    l: &[f32; K],
    rng: &mut R,
    ascending: bool,
) -> Sticks<K> {
    let mut pi: [usize; K] = core::array::from_fn(|i| i);
    if ascending {
        // Insertion sort: stable, no allocation, K is small.
        for i in 1..K {
            let mut j = i;
            while j > 0 && l[pi[j - 1]] > l[pi[j]] {
                pi.swap(j - 1, j);
                j -= 1;
            }
        }
    }
    // s[i] = logsumexp_{j >= i} l[pi[j]]; phi_i = l[pi[i]] - s[i + 1].
    let mut s = [0.0f32; K];
    let mut phi = [0.0f32; K];
    if K > 0 {
        s[K - 1] = l[pi[K - 1]];
        for i in (0..K - 1).rev() {
            s[i] = logaddexp(l[pi[i]], s[i + 1]);
            phi[i] = l[pi[i]] - s[i + 1];
        }
    }
    let (mut z, mut zt) = (None, None);
    for i in 0..K.saturating_sub(1) {
        // u < sigma(phi)  <=>  logit(u) < phi; the antithetic 1 - u has logit -logit(u).
        let u = uniform_open(rng);
        let lu = libm::logf(u) - libm::log1pf(-u);
        if z.is_none() && lu < phi[i] {
            z = Some(i);
        }
        if zt.is_none() && -lu < phi[i] {
            zt = Some(i);
        }
    }
    let last = K.saturating_sub(1);
    Sticks {
        pi,
        phi,
        z: z.unwrap_or(last),
        zt: zt.unwrap_or(last),
    }
}

/// One variable's coupled pair of classes `(c, c~)` and its importance weight (0 when
/// `c = c~`); see [`draw_sticks`] for `ascending`.
pub(crate) fn draw_one<const K: usize, R: Rng + ?Sized>(
    l: &[f32; K],
    rng: &mut R,
    ascending: bool,
) -> (usize, usize, f32) {
    let Sticks { pi, phi, z, zt } = draw_sticks(l, rng, ascending);
    if z == zt {
        return (pi[z], pi[zt], 0.0);
    }
    let m = z.min(zt);
    let mut w = sigmoid(libm::fabsf(phi[m]));
    for &p in &phi[..m] {
        // (1 - sigma)^2 / (1 - 2 sigma), with 1 - sigma = sigma(-phi).
        let q0 = sigmoid(-p);
        w *= q0 * q0 / (q0 - sigmoid(p));
    }
    (pi[z], pi[zt], w)
}

/// DisARM-SB's gradient for one variable w.r.t. its `K` logits, from its sticks and the two
/// joint values `f(b)`, `f(b~)`: the gradient w.r.t. the binaries' logits `phi` (DisARM at
/// `m = min(z, z~)`, Rao-Blackwellised REINFORCE on the binaries only the longer chain reads),
/// through `dphi_i / dl_{pi(i)} = 1` and, for `j > i`,
/// `dphi_i / dl_{pi(j)} = -theta_{pi(j)} / sum_{k > i} theta_{pi(k)}`.
fn stick_breaking_grad<const K: usize>(
    l: &[f32; K],
    st: &Sticks<K>,
    fb: f32,
    fbt: f32,
) -> [f32; K] {
    let mut g = [0.0f32; K];
    if st.z == st.zt {
        return g;
    }
    let (m, top) = (st.z.min(st.zt), st.z.max(st.zt));
    // The chain that runs on past m, and the sign that makes its term (f_long - f_short).
    let half_long = if st.zt > st.z {
        0.5 * (fbt - fb)
    } else {
        0.5 * (fb - fbt)
    };
    let mut gphi = [0.0f32; K];
    // At m the chains split: b_m != b~_m, (-1)^{b~_m} = -1 iff the tilde chain stopped.
    let sign = if st.zt == m { -1.0 } else { 1.0 };
    gphi[m] = 0.5 * (fb - fbt) * sign * sigmoid(libm::fabsf(st.phi[m]));
    for i in m + 1..=top.min(K.saturating_sub(2)) {
        let bit = if i == top { 1.0 } else { 0.0 };
        gphi[i] = half_long * (bit - sigmoid(st.phi[i]));
    }
    // Chain rule, with the tail masses T_i = sum_{k > i} theta_{pi(k)} (>= 1/K in ascending
    // order, as the largest class is in every tail).
    let theta = crate::math::softmax(l);
    let mut tail = [0.0f32; K];
    for i in (0..K.saturating_sub(1)).rev() {
        tail[i] = tail[i + 1] + theta[st.pi[i + 1]];
    }
    let mut acc = 0.0f32; // sum_{i < j} gphi_i / T_i
    for j in 0..K {
        let pj = st.pi[j];
        g[pj] = gphi[j] - theta[pj] * acc;
        if j + 1 < K {
            acc += gphi[j] / tail[j];
        }
    }
    g
}

impl<const D: usize, const K: usize, const N: usize> CoupledDisArm<D, K, N> {
    /// The estimator (stateless), DisARM-IW. `N == D * K` is checked at compile time.
    pub fn new() -> Self {
        let () = CategoricalProduct::<D, K, N>::SHAPE;
        Self::default()
    }

    /// The same estimator computing `variant`.
    pub fn with_variant(self, variant: CoupledVariant) -> Self {
        Self { variant }
    }

    /// The variant it computes.
    pub fn variant(&self) -> CoupledVariant {
        self.variant
    }

    /// Draws the coupled pair and its weights (`K - 1` uniforms per variable), for callers
    /// that evaluate `f` themselves (e.g. for a whole minibatch). Refuses non-finite logits.
    pub fn draw<R: Rng + ?Sized>(
        logits: &[f32; N],
        rng: &mut R,
    ) -> Result<CoupledPair<D, N>, Error> {
        Self::draw_ordered(logits, rng, true)
    }

    pub(crate) fn draw_ordered<R: Rng + ?Sized>(
        logits: &[f32; N],
        rng: &mut R,
        ascending: bool,
    ) -> Result<CoupledPair<D, N>, Error> {
        let () = CategoricalProduct::<D, K, N>::SHAPE;
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let mut c = [0usize; D];
        let mut ct = [0usize; D];
        let mut weight = [0.0f32; D];
        for d in 0..D {
            let l = CategoricalProduct::<D, K, N>::block(logits, d);
            (c[d], ct[d], weight[d]) = draw_one(&l, rng, ascending);
        }
        Ok(CoupledPair {
            b: CategoricalProduct::<D, K, N>::one_hot(&c),
            bt: CategoricalProduct::<D, K, N>::one_hot(&ct),
            weight,
        })
    }

    /// The gradient from a pair and its values `f(b)`, `f(b~)`:
    /// `g_d = w_d 1/2 (f(b) - f(b~)) (e_{c_d} - e_{c~_d})`. Refuses non-finite values or
    /// weights, and a gradient that overflows ([`Error::NonFiniteGradient`]).
    pub fn combine(pair: &CoupledPair<D, N>, f_b: f32, f_bt: f32) -> Result<[f32; N], Error> {
        let () = CategoricalProduct::<D, K, N>::SHAPE;
        if !(f_b.is_finite() && f_bt.is_finite()) {
            return Err(Error::NonFiniteObjective);
        }
        crate::check_finite(&pair.weight, Error::NonFiniteInput)?;
        let half = 0.5 * (f_b - f_bt);
        let mut grad = [0.0f32; N];
        for d in 0..D {
            let c = Categorical::<K>::argmax(&CategoricalProduct::<D, K, N>::block(&pair.b, d));
            let ct = Categorical::<K>::argmax(&CategoricalProduct::<D, K, N>::block(&pair.bt, d));
            if c != ct && pair.weight[d] != 0.0 {
                let g = half * pair.weight[d];
                grad[d * K + c] += g;
                grad[d * K + ct] -= g;
            }
        }
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        Ok(grad)
    }
}

impl<const D: usize, const K: usize, const N: usize> CoupledDisArm<D, K, N> {
    /// DisARM-SB: the gradient and `f(b)`.
    fn stick_breaking<O: Objective<N> + ?Sized, R: Rng + ?Sized>(
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<([f32; N], f32), Error> {
        type P<const D: usize, const K: usize, const N: usize> = CategoricalProduct<D, K, N>;
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let sticks: [Sticks<K>; D] =
            core::array::from_fn(|d| draw_sticks(&P::<D, K, N>::block(logits, d), rng, true));
        let c: [usize; D] = core::array::from_fn(|d| sticks[d].pi[sticks[d].z]);
        let ct: [usize; D] = core::array::from_fn(|d| sticks[d].pi[sticks[d].zt]);
        let fb = checked_value(f, &P::<D, K, N>::one_hot(&c))?;
        let fbt = checked_value(f, &P::<D, K, N>::one_hot(&ct))?;
        let mut grad = [0.0f32; N];
        for d in 0..D {
            let l = P::<D, K, N>::block(logits, d);
            P::<D, K, N>::set_block(&mut grad, d, &stick_breaking_grad(&l, &sticks[d], fb, fbt));
        }
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        Ok((grad, fb))
    }
}

impl<const D: usize, const K: usize, const N: usize, O: Objective<N> + ?Sized> Estimator<N, O>
    for CoupledDisArm<D, K, N>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        let (grad, fb) = match self.variant {
            CoupledVariant::ImportanceWeighted => {
                let pair = Self::draw(logits, rng)?;
                let fb = checked_value(f, &pair.b)?;
                let fbt = checked_value(f, &pair.bt)?;
                (Self::combine(&pair, fb, fbt)?, fb)
            }
            CoupledVariant::StickBreaking => Self::stick_breaking(logits, f, rng)?,
        };
        Ok(Estimate {
            grad,
            value: fb,
            f_evals: 2,
            relaxed_evals: 0,
            variance_loss: None,
        })
    }
}

#[cfg(test)]
mod tests;
