//! Relaxable distributions over logits.
//!
//! One interface (in the spirit of pydrobert's `ConditionalStraightThrough`): from uniform
//! noise draw `z = S(u, l)`; harden it to `b = H(z)`; draw the conditional `z~ ~ p(z | b, l)`
//! together with what its pathwise derivative `dz~/dl` needs (the derivative carries the
//! dependence on `l`: duvenaud/relax#6); `log p(b | l)` and the score `d log p(b | l) / dl`;
//! and the relaxation `x = sigma_lambda(z)` with the derivatives the variance loss needs.
//!
//! Hard samples `b` are `[f32; D]`: bits for [`Bernoulli`], a one-hot vector for
//! [`Categorical`] (one-hot blocks for [`CategoricalProduct`]), so one objective `f(b)` also
//! accepts relaxed inputs `x`.

mod bernoulli;
mod categorical;
mod categorical_product;
mod gaussian;

pub use bernoulli::Bernoulli;
pub use categorical::Categorical;
pub use categorical_product::CategoricalProduct;
pub use gaussian::Gaussian;

use rand_core::Rng;

/// `v` clamped into the range of [`crate::math::uniform_open`], `[2^-24, 1 - 2^-24]`; NaN
/// becomes `1/2`. The identity on every value `uniform_open` returns.
pub(crate) fn clamp_noise(v: f32) -> f32 {
    const LO: f32 = 0.5 / 8_388_608.0;
    const HI: f32 = 1.0 - LO;
    if v.is_nan() {
        0.5
    } else {
        v.clamp(LO, HI)
    }
}

/// A conditional sample `z~ ~ p(z | b, l)` with the coefficients of its Jacobian `dz~/dl`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Conditional<const D: usize> {
    /// The sample `z~`.
    pub z: [f32; D],
    /// Per-coordinate derivative coefficients (the meaning is the distribution's own; use
    /// [`Relaxed::zt_jvp`] and [`Relaxed::zt_vjp`]).
    pub coef: [f32; D],
}

/// A discrete distribution over `D` logits with a continuous relaxation and a conditional
/// reparameterisation, the interface REBAR and RELAX need.
pub trait Relaxed<const D: usize> {
    /// `z = S(u, l)` with fresh uniform noise `u`.
    fn sample_z<R: Rng + ?Sized>(logits: &[f32; D], rng: &mut R) -> [f32; D];
    /// `b = H(z)`.
    fn harden(z: &[f32; D]) -> [f32; D];
    /// `z~ ~ p(z | b, l)` with fresh noise (the paper's appendix B).
    fn sample_conditional<R: Rng + ?Sized>(
        logits: &[f32; D],
        b: &[f32; D],
        rng: &mut R,
    ) -> Conditional<D> {
        let v: [f32; D] = core::array::from_fn(|_| crate::math::uniform_open(rng));
        Self::conditional_from_noise(logits, b, &v)
    }
    /// The conditional reparameterisation `z~(l, v, b)` for given uniform noise `v` in (0, 1).
    ///
    /// Noise outside the open interval is clamped into the range of
    /// [`crate::math::uniform_open`], `[2^-24, 1 - 2^-24]` (NaN is read as `1/2`): any `v`
    /// gives the `z~` of a noise `uniform_open` can draw, finite wherever `b` is possible at
    /// `l` in `f32`. Noise drawn by `uniform_open` is unchanged.
    fn conditional_from_noise(logits: &[f32; D], b: &[f32; D], v: &[f32; D]) -> Conditional<D>;
    /// The *tied* conditional sample of the reference code (Tucker et al.'s `force_same`):
    /// the noise `v` that maps to `z` itself under `b`'s conditional reparameterisation, so
    /// `z~ = z` in value while `dz~/dl` holds `v` fixed. `v` is uniform given `b`, so the
    /// estimators stay unbiased; only their variance changes.
    fn tie(logits: &[f32; D], z: &[f32; D], b: &[f32; D]) -> Conditional<D>;
    /// Jacobian-vector product `(dz/dl) dl` at fixed noise.
    fn z_jvp(logits: &[f32; D], dl: &[f32; D]) -> [f32; D];
    /// Vector-Jacobian product `gz^T (dz/dl)` at fixed noise.
    fn z_vjp(logits: &[f32; D], gz: &[f32; D]) -> [f32; D];
    /// `(dz~/dl) dl` at fixed noise and fixed `b`.
    fn zt_jvp(logits: &[f32; D], cond: &Conditional<D>, dl: &[f32; D]) -> [f32; D];
    /// `gz^T (dz~/dl)` at fixed noise and fixed `b`.
    fn zt_vjp(logits: &[f32; D], cond: &Conditional<D>, gz: &[f32; D]) -> [f32; D];
    /// `log p(b | l)`.
    fn log_prob(logits: &[f32; D], b: &[f32; D]) -> f32;
    /// The score `d log p(b | l) / dl`.
    fn score(logits: &[f32; D], b: &[f32; D]) -> [f32; D];
    /// The relaxation `x = sigma_lambda(z)` (sigmoid or softmax of `z / lambda`).
    fn relax(z: &[f32; D], temperature: f32) -> [f32; D];
    /// `J u` with `J = dx/dz` at `x = relax(z)` (J is symmetric for both relaxations, so this is
    /// also the vector-Jacobian product).
    fn relax_jvp(x: &[f32; D], temperature: f32, u: &[f32; D]) -> [f32; D];
    /// `dx / d log(lambda)` at fixed `z`.
    fn relax_dlogtemp(z: &[f32; D], x: &[f32; D], temperature: f32) -> [f32; D];
    /// `d (J u) / d log(lambda)` at fixed `z` and `u`.
    fn relax_jvp_dlogtemp(z: &[f32; D], x: &[f32; D], temperature: f32, u: &[f32; D]) -> [f32; D];
    /// Whether `b` is a valid hard sample (bits, or one-hot).
    fn is_valid_hard(b: &[f32; D]) -> bool;
}

#[cfg(test)]
mod tests;
