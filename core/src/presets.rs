//! The common estimators with their control variates, named and built in one line.
//!
//! A [`NeuralCv`] has seven parameters, `NeuralCv<Dist, D, C, I, H, L, P>` (and an eighth,
//! `M`, the forward passes it remembers, which defaults to 2), of which the
//! presets fix all but the sizes you choose: `Dist = Bernoulli<D>`, no context (`C = 0`),
//! input `I = D`, one hidden layer (`L = 1`). Stable Rust cannot compute the network's
//! parameter count `P = mlp_param_count(D, H, 1, 1)` from `D` and `H` inside a generic
//! alias, so the aliases take `P` too (checked at compile time: a wrong `P` does not
//! build) and a macro fills it in for you:
//!
//! | you write | is |
//! |---|---|
//! | [`ToyRelax`] | the paper's toy RELAX: 1 bit, 10 tanh units |
//! | [`bernoulli_relax!(D, H)`](crate::bernoulli_relax) | [`BernoulliRelax<D, H, P>`] |
//! | [`bernoulli_relax_rebar!(D, H)`](crate::bernoulli_relax_rebar) | [`BernoulliRelaxRebar<D, H, P>`] |
//! | [`BernoulliRebar<D>`] | REBAR on `D` bits (no network, nothing derived) |
//!
//! ```
//! use relax_core::estimator::Estimator;
//! use relax_core::presets;
//! use relax_core::rand_core::SeedableRng;
//!
//! let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
//! // RELAX on 8 bits with a 16-unit control variate; P = mlp_param_count(8, 16, 1, 1) derived.
//! let mut relax: relax_core::bernoulli_relax!(8, 16) = presets::bernoulli_relax(0.01, &mut rng)?;
//! let mut f = |b: &[f32; 8]| b.iter().sum::<f32>();
//! let e = relax.estimate(&[0.0; 8], &mut f, &mut rng)?;
//! assert!(e.grad.iter().all(|g| g.is_finite()));
//! # Ok::<(), relax_core::Error>(())
//! ```

use crate::dist::Bernoulli;
use crate::estimator::{Coupling, CvInput, NeuralCv, Plus, Rebar, RebarCv, Relax};
use crate::nn::{mlp_param_count, Activation, Mlp};
use crate::optim::AdamConfig;
use crate::Error;
use rand_core::Rng;

/// The paper's toy control variate on `D` bits: `c(z) = s MLP(2 sigma_lambda(z) - 1)`, one
/// hidden layer of `H` tanh units; `P` must be `mlp_param_count(D, H, 1, 1)`.
pub type BernoulliCv<const D: usize, const H: usize, const P: usize> =
    NeuralCv<Bernoulli<D>, D, 0, D, H, 1, P>;

/// RELAX on `D` bits with a [`BernoulliCv`]. Spell it [`bernoulli_relax!(D,
/// H)`](crate::bernoulli_relax), which derives `P`; build it with [`bernoulli_relax`].
pub type BernoulliRelax<const D: usize, const H: usize, const P: usize> =
    Relax<Bernoulli<D>, D, BernoulliCv<D, H, P>>;

/// The paper's toy problem estimator (section 6.1): RELAX on one bit with 10 tanh units.
/// Build it with [`toy_relax`].
pub type ToyRelax = BernoulliRelax<1, 10, { mlp_param_count(1, 10, 1, 1) }>;

/// REBAR on `D` bits: [`Rebar<Bernoulli<D>, D>`](Rebar). Build it with [`bernoulli_rebar`].
pub type BernoulliRebar<const D: usize> = Rebar<Bernoulli<D>, D>;

/// The discrete VAE's control variate: `eta f(sigma_lambda(z)) + r_rho(z)`, `r_rho` one hidden
/// layer of `H` ReLU units on the logistic sample `z`; `P` must be `mlp_param_count(D, H, 1,
/// 1)`. Its REBAR half needs a [`RelaxedObjective`](crate::objective::RelaxedObjective).
pub type RelaxRebarCv<const D: usize, const H: usize, const P: usize> =
    Plus<RebarCv<Bernoulli<D>, D>, NeuralCv<Bernoulli<D>, D, 0, D, H, 1, P>>;

/// RELAX on `D` bits with a [`RelaxRebarCv`]. Spell it [`bernoulli_relax_rebar!(D,
/// H)`](crate::bernoulli_relax_rebar); build it with [`bernoulli_relax_rebar`].
pub type BernoulliRelaxRebar<const D: usize, const H: usize, const P: usize> =
    Relax<Bernoulli<D>, D, RelaxRebarCv<D, H, P>>;

/// The type [`BernoulliRelax<D, H, P>`](crate::presets::BernoulliRelax) with
/// `P = mlp_param_count(D, H, 1, 1)` filled in: `relax_core::bernoulli_relax!(8, 16)`.
/// `D` and `H` must be constant expressions.
#[macro_export]
macro_rules! bernoulli_relax {
    ($d:expr, $h:expr $(,)?) => {
        $crate::presets::BernoulliRelax<
            { $d },
            { $h },
            { $crate::nn::mlp_param_count($d, $h, 1, 1) },
        >
    };
}

/// The type [`BernoulliRelaxRebar<D, H, P>`](crate::presets::BernoulliRelaxRebar) with
/// `P = mlp_param_count(D, H, 1, 1)` filled in: `relax_core::bernoulli_relax_rebar!(8, 16)`.
#[macro_export]
macro_rules! bernoulli_relax_rebar {
    ($d:expr, $h:expr $(,)?) => {
        $crate::presets::BernoulliRelaxRebar<
            { $d },
            { $h },
            { $crate::nn::mlp_param_count($d, $h, 1, 1) },
        >
    };
}

/// [`BernoulliRelax`] with the toy's settings: tanh weights drawn from `rng` (output gain 1),
/// output scale 0 (it starts as REINFORCE and learns), temperature 0.5 (learned), Adam at
/// `lr` for every control-variate parameter, and the tied coupling ([`Coupling::Tied`]).
/// In training mode, like every [`Relax`].
pub fn bernoulli_relax<const D: usize, const H: usize, const P: usize, R: Rng + ?Sized>(
    lr: f32,
    rng: &mut R,
) -> Result<BernoulliRelax<D, H, P>, Error> {
    let net = Mlp::<D, H, 1, 1, P>::new_random(Activation::Tanh, 1.0, rng);
    let cv = NeuralCv::new(net, CvInput::RelaxedSigned, 0.0, 0.5, AdamConfig::new(lr))?;
    Ok(Relax::new(cv).with_coupling(Coupling::Tied))
}

/// The toy's estimator as in the paper: [`bernoulli_relax`] with `lr = 0.01`.
pub fn toy_relax<R: Rng + ?Sized>(rng: &mut R) -> Result<ToyRelax, Error> {
    bernoulli_relax(0.01, rng)
}

/// REBAR with the paper's defaults ([`RebarCv::paper_default`]: `eta = 1`, temperature 0.5,
/// both learned by Adam at `lr`) and the independent coupling.
pub fn bernoulli_rebar<const D: usize>(lr: f32) -> Result<BernoulliRebar<D>, Error> {
    Ok(Rebar::new(RebarCv::paper_default(lr)?))
}

/// [`BernoulliRelaxRebar`] with the settings of the VAE experiments: the REBAR half at
/// [`RebarCv::paper_default`], `r_rho` with ReLU weights drawn from `rng` (output gain 1),
/// output scale 0.1, Adam at `lr` for everything, and the tied coupling.
pub fn bernoulli_relax_rebar<const D: usize, const H: usize, const P: usize, R: Rng + ?Sized>(
    lr: f32,
    rng: &mut R,
) -> Result<BernoulliRelaxRebar<D, H, P>, Error> {
    let net = Mlp::<D, H, 1, 1, P>::new_random(Activation::Relu, 1.0, rng);
    let r_rho = NeuralCv::new(net, CvInput::Logits, 0.1, 1.0, AdamConfig::new(lr))?;
    let cv = Plus(RebarCv::paper_default(lr)?, r_rho);
    Ok(Relax::new(cv).with_coupling(Coupling::Tied))
}

#[cfg(test)]
mod tests;
