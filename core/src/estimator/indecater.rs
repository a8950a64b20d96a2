//! IndeCateR (De Smet, Sansone & Zuidberg Dos Martires, NeurIPS 2023, "Differentiable
//! sampling of categorical distributions using the CatLog-derivative trick").

use super::{checked_value, Estimate, Estimator, Objective};
use crate::dist::{CategoricalProduct, Relaxed};
use crate::Error;
use rand_core::Rng;

/// IndeCateR: the score function Rao-Blackwellised over each variable of `D` independent
/// categoricals with `K` classes (logits `[f32; N]`, `N = D * K`, laid out as in
/// [`CategoricalProduct`]).
///
/// The CatLog-derivative trick writes the gradient variable by variable,
/// `d/dl E_p[f(x)] = sum_d E_{x ~ p} [ sum_k d p_d(k)/dl f(x_{!=d}, x_d = k) ]`, and
/// IndeCateR estimates it with one sample `x ~ p` (the paper's estimator with `S = 1`):
///
/// `g_{d,j} = sum_k f(x^{d<-k}) d p_d(k) / d l_{d,j} = p_d(j) (f(x^{d<-j}) - sum_k p_d(k) f(x^{d<-k}))`
///
/// where `x^{d<-k}` is `x` with variable `d` set to class `k` and `p_d = softmax(l_d)`.
/// The sum over the classes of each variable is exact, so only the other variables are
/// sampled: unbiased, and for one variable (`IndeCateR<1, K, K>`, on the logits of a
/// [`Categorical<K>`](crate::dist::Categorical)) it *is* the exact gradient.
///
/// Cost: `1 + D (K - 1)` evaluations of `f` per estimate (the paper counts `D K`; the value at
/// `x` itself, `f(x^{d<-x_d}) = f(x)`, is evaluated once and reused for every variable). The
/// noise is `D K` uniforms (Gumbel-max per variable). Stateless; no relaxation, no learned
/// parameters. Every `Ok` estimate is finite; an objective value that is not finite gives
/// [`Error::NonFiniteObjective`], a gradient that overflows [`Error::NonFiniteGradient`].
///
/// ```
/// use relax_core::estimator::{Estimator, IndeCateR};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
/// let table = [1.0f32, -2.0, 0.5];
/// let mut f = |b: &[f32; 3]| (0..3).map(|k| table[k] * b[k]).sum::<f32>();
/// let l = [0.2f32, -0.4, 1.0];
/// let e = IndeCateR::<1, 3, 3>::new().estimate(&l, &mut f, &mut rng)?;
/// // One variable: the exact gradient p_j (table_j - sum_k p_k table_k).
/// let p = relax_core::dist::Categorical::<3>::probs(&l);
/// let mean: f32 = (0..3).map(|k| p[k] * table[k]).sum();
/// for j in 0..3 {
///     assert!((e.grad[j] - p[j] * (table[j] - mean)).abs() < 1e-6);
/// }
/// assert_eq!(e.f_evals, 3);
/// # Ok::<(), relax_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct IndeCateR<const D: usize, const K: usize, const N: usize>;

impl<const D: usize, const K: usize, const N: usize> IndeCateR<D, K, N> {
    /// The estimator (stateless). `N == D * K` is checked at compile time.
    pub fn new() -> Self {
        let () = CategoricalProduct::<D, K, N>::SHAPE;
        Self
    }

    /// Evaluations of `f` per estimate: `1 + D (K - 1)`.
    pub const fn f_evals() -> u32 {
        let () = CategoricalProduct::<D, K, N>::SHAPE;
        (1 + D * (K - 1)) as u32
    }
}

impl<const D: usize, const K: usize, const N: usize, O: Objective<N> + ?Sized> Estimator<N, O>
    for IndeCateR<D, K, N>
{
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        logits: &[f32; N],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<N>, Error> {
        type P<const D: usize, const K: usize, const N: usize> = CategoricalProduct<D, K, N>;
        crate::check_finite(logits, Error::NonFiniteInput)?;
        let x = P::<D, K, N>::harden(&P::<D, K, N>::sample_z(logits, rng));
        let classes = P::<D, K, N>::classes(&x);
        let probs = P::<D, K, N>::probs(logits);
        let fx = checked_value(f, &x)?;
        let mut grad = [0.0; N];
        for d in 0..D {
            let mut fk = [0.0f32; K];
            let mut xk = x;
            for k in 0..K {
                fk[k] = if k == classes[d] {
                    fx
                } else {
                    P::<D, K, N>::set_block(&mut xk, d, &crate::dist::Categorical::<K>::one_hot(k));
                    checked_value(f, &xk)?
                };
            }
            let p = P::<D, K, N>::block(&probs, d);
            let mean: f32 = (0..K).map(|k| p[k] * fk[k]).sum();
            for j in 0..K {
                grad[d * K + j] = p[j] * (fk[j] - mean);
            }
        }
        crate::check_finite(&grad, Error::NonFiniteGradient)?;
        Ok(Estimate {
            grad,
            value: fx,
            f_evals: Self::f_evals(),
            relaxed_evals: 0,
            variance_loss: None,
        })
    }
}

#[cfg(test)]
mod tests;
