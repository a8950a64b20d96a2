#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]
// Index loops mirror the formulas (g_i = ... s_i ...) and are kept for readability.
#![allow(clippy::needless_range_loop)]
//! # relax_core: unbiased gradient estimators for discrete random variables
//!
//! A `no_std`, allocation-free, `f32` implementation of the estimators of "Backpropagation
//! through the Void" (Grathwohl et al., ICLR 2018), REINFORCE, RLOO, Concrete,
//! straight-through, REBAR, RELAX and LAX, plus DisARM, with a small neural network as a
//! learned control variate, the optimizers to train it, and the paper's CartPole
//! policy-gradient learners. Every size is a const generic; nothing allocates; the same code
//! runs on the desktop and on a Cortex-M4F, bit for bit (all math goes through `libm`).
//!
//! Data flows one way:
//! noise -> [`dist`] (relaxable distributions over logits: `z`, `b = H(z)`, `z~ | b`, scores)
//! -> [`estimator`] (the gradient of `E[f(b)]` w.r.t. the logits, and the control variate's
//! variance-loss step) -> the caller's own network (a vector-Jacobian product)
//! -> [`optim`] (Adam, SGD). [`nn`] is the fixed-size MLP the control variates and the
//! policies are made of; [`rl`] has CartPole and the learners.
//!
//! Bad input (non-finite logits or objective values, a temperature <= 0, bad sizes or
//! hyperparameters) returns an [`Error`]; nothing panics on user input and no call that
//! fails changes learnable state: composite steps (a [`estimator::Plus`] control variate, a
//! learner's policy and control variate) check every part before they step any, and an
//! optimizer refuses a step that would overflow. Every `Ok` estimate is finite: finite inputs
//! whose arithmetic overflows (e.g. values of `+-3e38`) give [`Error::NonFiniteGradient`].
//! Learned temperatures are clamped to `[estimator::MIN_TEMPERATURE,
//! estimator::MAX_TEMPERATURE]` (0.01 and 100).
//!
//! ## Defaults you should know
//!
//! - **`estimate` trains the control variate.** Every estimator with a learned control
//!   variate ([`estimator::Relax`], [`estimator::Rebar`], [`estimator::Lax`],
//!   [`estimator::Nvil`], [`estimator::MuProp`]) starts in training mode: each
//!   [`estimate`](estimator::Estimator::estimate) also takes one Adam step on the control
//!   variate's parameters, from the same sample (Algorithm 2), and reports its
//!   [`variance_loss`](estimator::Estimate::variance_loss). Call `set_training(false)` to
//!   freeze it (for evaluation, or to measure the variance of a fixed estimator).
//! - [`estimator::Relax::new`] couples `z~` to `z` independently
//!   ([`estimator::Coupling::Independent`]); the [`presets`] use the paper's tied coupling.
//! - Closures are objectives: a black box is any `FnMut(&[f32; D]) -> f32`; estimators that
//!   need `df/dx` take [`objective::with_grad`] (see [`objective`]).
//! - The RNG is any [`rand_core::Rng`] of the re-exported [`rand_core`] (0.10), e.g.
//!   `rand_xoshiro` 0.8. Feature `defmt`: `defmt::Format` on the errors, estimates and configs.
//!
//! ## Example: the paper's toy problem with RELAX
//!
//! Minimise `E[(b - 0.499)^2]`, `b ~ Bernoulli(sigmoid(l))`, with the toy's control variate
//! ([`presets::toy_relax`]: 10 tanh units on `2 sigma_lambda(z) - 1`, output scale starting
//! at 0). Each call returns the gradient w.r.t. the logit and, in the same call, takes one
//! step on the control variate's parameters down the gradient of the estimator's variance.
//!
//! ```
//! use relax_core::{estimator::Estimator, optim::{Adam, AdamConfig}, presets};
//! use relax_core::rand_core::SeedableRng;
//!
//! let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
//! let mut f = |b: &[f32; 1]| (b[0] - 0.499) * (b[0] - 0.499); // any closure
//! let mut relax = presets::toy_relax(&mut rng)?;
//! let (mut logit, mut adam) = ([0.0f32], Adam::<1>::new(AdamConfig::new(0.01))?);
//! for _ in 0..10_000 {
//!     let estimate = relax.estimate(&logit, &mut f, &mut rng)?;
//!     adam.step(&mut logit, &estimate.grad)?;
//! }
//! assert!(relax_core::math::sigmoid(logit[0]) < 0.1, "RELAX drives theta to 0");
//! # Ok::<(), relax_core::Error>(())
//! ```
//!
//! The preset spelled out: every size is a const generic, and a [`estimator::NeuralCv`]
//! names seven (`Dist, D, C, I, H, L, P`; [`presets`] explains which are derived).
//!
//! ```
//! use relax_core::dist::Bernoulli;
//! use relax_core::estimator::{Coupling, CvInput, NeuralCv, Relax};
//! use relax_core::nn::{mlp_param_count, Activation, Mlp};
//! use relax_core::optim::AdamConfig;
//! use relax_core::rand_core::SeedableRng;
//!
//! let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
//! type Cv = NeuralCv<Bernoulli<1>, 1, 0, 1, 10, 1, { mlp_param_count(1, 10, 1, 1) }>;
//! let net = Mlp::new_random(Activation::Tanh, 1.0, &mut rng);
//! let cv: Cv = NeuralCv::new(net, CvInput::RelaxedSigned, 0.0, 0.5, AdamConfig::new(0.01))?;
//! let relax = Relax::<Bernoulli<1>, 1, _>::new(cv).with_coupling(Coupling::Tied);
//! # let _: relax_core::presets::ToyRelax = relax;
//! # Ok::<(), relax_core::Error>(())
//! ```

// Tests, one layout throughout: the unit tests of a module `m` (the file `m.rs` or
// `m/mod.rs`) live in `m/tests.rs`, declared last in `m` as `#[cfg(test)] mod tests;`
// (so `rl/lax/tests.rs`, `math/tests.rs`, `nn/mlp/tests.rs`). A directory module's
// `tests.rs` may also test its submodules through the module's API (`rl/tests.rs` covers
// the discrete learners). Helpers shared by several modules' tests are a `#[cfg(test)]`
// module named for what it holds (`estimator/testing.rs`). Cross-crate tests (the firmware
// under QEMU, gymnasium parity) live in the `tests` package.

pub mod dist;
mod error;
pub mod estimator;
pub mod math;
pub mod nn;
pub mod objective;
pub mod optim;
pub mod presets;
pub mod rl;

/// The `rand_core` the core is built against (its RNG traits are in every `estimate`):
/// use `relax_core::rand_core::{Rng, SeedableRng}` and pick an RNG crate built on the same
/// `rand_core` version (e.g. `rand_xoshiro = "0.8"` for `rand_core` 0.10).
pub use rand_core;

pub(crate) use error::check_finite;
pub use error::Error;
