//! `D` independent categorical variables of `K` classes each, over `N = D * K` logits laid
//! out variable by variable (`l[d * K + k]` is the logit of class `k` of variable `d`).
//! Every operation is [`Categorical<K>`](super::Categorical) applied block by block.

use super::{Categorical, Conditional, Relaxed};
use rand_core::Rng;

/// `D` independent categorical variables with `K` classes each; logits, samples and
/// gradients are `[f32; N]` with `N = D * K`, variable `d` in `[d * K, (d + 1) * K)`. A hard
/// sample is `D` one-hot blocks. `N == D * K` (and `K >= 1`) is checked at compile time:
/// using the type with other sizes does not build (const generic arithmetic such as
/// `[f32; D * K]` is not stable Rust, hence the third parameter).
///
/// ```
/// use relax_core::dist::{CategoricalProduct, Relaxed};
/// use rand_core::SeedableRng;
/// type Two3 = CategoricalProduct<2, 3, 6>; // two variables, three classes each
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
/// let l = [0.5f32, -1.0, 2.0, 0.0, 0.3, -0.2];
/// let b = Two3::harden(&Two3::sample_z(&l, &mut rng));
/// assert!(Two3::is_valid_hard(&b));
/// assert_eq!(Two3::one_hot(&Two3::classes(&b)), b);
/// ```
///
/// ```compile_fail
/// use relax_core::dist::{CategoricalProduct, Relaxed};
/// // N != D * K: refused when the type is used.
/// let _ = CategoricalProduct::<2, 3, 5>::probs(&[0.0; 5]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CategoricalProduct<const D: usize, const K: usize, const N: usize>;

impl<const D: usize, const K: usize, const N: usize> CategoricalProduct<D, K, N> {
    /// Evaluated wherever the type is used: a build error unless `N == D * K` and `K >= 1`.
    pub(crate) const SHAPE: () = assert!(
        K >= 1 && N == D * K,
        "CategoricalProduct<D, K, N> needs N == D * K and K >= 1"
    );

    /// Variable `d`'s block of `v` (`v[d * K..(d + 1) * K]`).
    pub fn block(v: &[f32; N], d: usize) -> [f32; K] {
        let () = Self::SHAPE;
        core::array::from_fn(|k| v[d * K + k])
    }

    /// Writes `blk` into variable `d`'s block of `v`.
    pub fn set_block(v: &mut [f32; N], d: usize, blk: &[f32; K]) {
        let () = Self::SHAPE;
        v[d * K..(d + 1) * K].copy_from_slice(blk);
    }

    /// The class of each variable of a hard sample (the argmax of each block).
    pub fn classes(b: &[f32; N]) -> [usize; D] {
        core::array::from_fn(|d| Categorical::<K>::argmax(&Self::block(b, d)))
    }

    /// The hard sample with the given classes (a class `>= K` gives an all-zero block).
    pub fn one_hot(classes: &[usize; D]) -> [f32; N] {
        let mut b = [0.0; N];
        for d in 0..D {
            Self::set_block(&mut b, d, &Categorical::<K>::one_hot(classes[d]));
        }
        b
    }

    /// The class probabilities, `softmax` of each block.
    pub fn probs(logits: &[f32; N]) -> [f32; N] {
        Self::map(logits, Categorical::<K>::probs)
    }

    /// `out_d = g(v_d)` block by block.
    fn map(v: &[f32; N], mut g: impl FnMut(&[f32; K]) -> [f32; K]) -> [f32; N] {
        let mut out = [0.0; N];
        for d in 0..D {
            Self::set_block(&mut out, d, &g(&Self::block(v, d)));
        }
        out
    }

    /// `out_d = g(v_d, w_d)` block by block.
    fn map2(
        v: &[f32; N],
        w: &[f32; N],
        mut g: impl FnMut(&[f32; K], &[f32; K]) -> [f32; K],
    ) -> [f32; N] {
        let mut out = [0.0; N];
        for d in 0..D {
            Self::set_block(&mut out, d, &g(&Self::block(v, d), &Self::block(w, d)));
        }
        out
    }

    /// `out_d = g(v_d, w_d, x_d)` block by block.
    fn map3(
        v: &[f32; N],
        w: &[f32; N],
        x: &[f32; N],
        mut g: impl FnMut(&[f32; K], &[f32; K], &[f32; K]) -> [f32; K],
    ) -> [f32; N] {
        let mut out = [0.0; N];
        for d in 0..D {
            let r = g(&Self::block(v, d), &Self::block(w, d), &Self::block(x, d));
            Self::set_block(&mut out, d, &r);
        }
        out
    }

    /// Variable `d`'s block of a conditional sample.
    fn cond_block(c: &Conditional<N>, d: usize) -> Conditional<K> {
        Conditional {
            z: Self::block(&c.z, d),
            coef: Self::block(&c.coef, d),
        }
    }

    /// Joins per-variable conditional samples.
    fn cond_join(mut g: impl FnMut(usize) -> Conditional<K>) -> Conditional<N> {
        let mut out = Conditional {
            z: [0.0; N],
            coef: [0.0; N],
        };
        for d in 0..D {
            let c = g(d);
            Self::set_block(&mut out.z, d, &c.z);
            Self::set_block(&mut out.coef, d, &c.coef);
        }
        out
    }
}

impl<const D: usize, const K: usize, const N: usize> Relaxed<N> for CategoricalProduct<D, K, N> {
    /// Gumbel-max per variable, drawing the noise of variable 0 first.
    fn sample_z<R: Rng + ?Sized>(logits: &[f32; N], rng: &mut R) -> [f32; N] {
        Self::map(logits, |l| Categorical::<K>::sample_z(l, rng))
    }

    fn harden(z: &[f32; N]) -> [f32; N] {
        Self::map(z, Categorical::<K>::harden)
    }

    /// [`Categorical`]'s conditional (the paper's appendix B) per variable.
    fn conditional_from_noise(logits: &[f32; N], b: &[f32; N], v: &[f32; N]) -> Conditional<N> {
        Self::cond_join(|d| {
            Categorical::<K>::conditional_from_noise(
                &Self::block(logits, d),
                &Self::block(b, d),
                &Self::block(v, d),
            )
        })
    }

    fn tie(logits: &[f32; N], z: &[f32; N], b: &[f32; N]) -> Conditional<N> {
        Self::cond_join(|d| {
            Categorical::<K>::tie(
                &Self::block(logits, d),
                &Self::block(z, d),
                &Self::block(b, d),
            )
        })
    }

    fn z_jvp(logits: &[f32; N], dl: &[f32; N]) -> [f32; N] {
        Self::map2(logits, dl, Categorical::<K>::z_jvp)
    }

    fn z_vjp(logits: &[f32; N], gz: &[f32; N]) -> [f32; N] {
        Self::map2(logits, gz, Categorical::<K>::z_vjp)
    }

    fn zt_jvp(logits: &[f32; N], cond: &Conditional<N>, dl: &[f32; N]) -> [f32; N] {
        let mut out = [0.0; N];
        for d in 0..D {
            let c = Self::cond_block(cond, d);
            let r = Categorical::<K>::zt_jvp(&Self::block(logits, d), &c, &Self::block(dl, d));
            Self::set_block(&mut out, d, &r);
        }
        out
    }

    fn zt_vjp(logits: &[f32; N], cond: &Conditional<N>, gz: &[f32; N]) -> [f32; N] {
        let mut out = [0.0; N];
        for d in 0..D {
            let c = Self::cond_block(cond, d);
            let r = Categorical::<K>::zt_vjp(&Self::block(logits, d), &c, &Self::block(gz, d));
            Self::set_block(&mut out, d, &r);
        }
        out
    }

    /// The sum of the variables' log-probabilities.
    fn log_prob(logits: &[f32; N], b: &[f32; N]) -> f32 {
        (0..D)
            .map(|d| Categorical::<K>::log_prob(&Self::block(logits, d), &Self::block(b, d)))
            .sum()
    }

    fn score(logits: &[f32; N], b: &[f32; N]) -> [f32; N] {
        Self::map2(logits, b, Categorical::<K>::score)
    }

    /// A softmax of `z / lambda` per variable.
    fn relax(z: &[f32; N], temperature: f32) -> [f32; N] {
        Self::map(z, |zb| Categorical::<K>::relax(zb, temperature))
    }

    fn relax_jvp(x: &[f32; N], temperature: f32, u: &[f32; N]) -> [f32; N] {
        Self::map2(x, u, |xb, ub| {
            Categorical::<K>::relax_jvp(xb, temperature, ub)
        })
    }

    fn relax_dlogtemp(z: &[f32; N], x: &[f32; N], temperature: f32) -> [f32; N] {
        Self::map2(z, x, |zb, xb| {
            Categorical::<K>::relax_dlogtemp(zb, xb, temperature)
        })
    }

    fn relax_jvp_dlogtemp(z: &[f32; N], x: &[f32; N], temperature: f32, u: &[f32; N]) -> [f32; N] {
        Self::map3(z, x, u, |zb, xb, ub| {
            Categorical::<K>::relax_jvp_dlogtemp(zb, xb, temperature, ub)
        })
    }

    /// One-hot in every block.
    fn is_valid_hard(b: &[f32; N]) -> bool {
        (0..D).all(|d| Categorical::<K>::is_valid_hard(&Self::block(b, d)))
    }
}
