//! How the registry builds its Bernoulli and Gaussian estimators on the quadratic objective
//! (toy, bench): one object-safe interface over the core's estimators, and one builder per
//! estimator and size.

use crate::objective::Quadratic;
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::dist::Bernoulli;
use relax_core::estimator::{
    Concrete, Coupling, CvInput, DisArm, Estimate, Estimator, GaussianEstimate, Lax, NeuralCv,
    Plus, Rebar, RebarCv, Reinforce, Relax, Rloo, StraightThrough,
};
use relax_core::nn::{Activation, Mlp};
use relax_core::optim::AdamConfig;
use std::any::Any;

/// Settings the Bernoulli builders read (each builder takes what it needs).
#[derive(Debug, Clone, Copy)]
pub struct BernoulliSpec {
    /// Adam step size of the learned control-variate parameters.
    pub lr: f32,
    /// How REBAR and RELAX couple `z~` to `z`.
    pub coupling: Coupling,
    /// Temperature of Concrete and straight-through.
    pub concrete_temperature: f32,
    /// Initial output scale of RELAX's network control variate.
    pub relax_init_scale: f32,
}

/// A Bernoulli estimator on the quadratic objective, behind one object-safe interface.
pub trait BernoulliEstimator<const N: usize>: Send + Sync {
    /// One estimate at `logits` (and, when it learns and is in training mode, one
    /// control-variate step).
    fn estimate(
        &mut self,
        logits: &[f32; N],
        f: &mut Quadratic<N>,
        rng: &mut Xoshiro128PlusPlus,
    ) -> std::result::Result<Estimate<N>, relax_core::Error>;
    /// Whether it has parameters trained on a variance objective.
    fn learns(&self) -> bool;
    /// Turns the control variate's training on or off (no-op when it has none).
    fn set_training(&mut self, on: bool);
    /// A copy whose control variate does not learn.
    fn frozen(&self) -> Box<dyn BernoulliEstimator<N>>;
    /// The concrete estimator, for callers that inspect its learned state.
    fn as_any(&self) -> &dyn Any;
}

/// A core estimator with, when it learns, its training switch.
#[derive(Clone)]
pub struct Wrapped<E> {
    /// The core estimator.
    pub inner: E,
    training: Option<fn(&mut E, bool)>,
}

impl<const N: usize, E> BernoulliEstimator<N> for Wrapped<E>
where
    E: Estimator<N, Quadratic<N>> + Clone + Send + Sync + 'static,
{
    fn estimate(
        &mut self,
        logits: &[f32; N],
        f: &mut Quadratic<N>,
        rng: &mut Xoshiro128PlusPlus,
    ) -> std::result::Result<Estimate<N>, relax_core::Error> {
        self.inner.estimate(logits, f, rng)
    }
    fn learns(&self) -> bool {
        self.training.is_some()
    }
    fn set_training(&mut self, on: bool) {
        if let Some(t) = self.training {
            t(&mut self.inner, on);
        }
    }
    fn frozen(&self) -> Box<dyn BernoulliEstimator<N>> {
        let mut copy = self.clone();
        copy.set_training(false);
        Box::new(copy)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A core estimator without learned parts behind the object-safe interface.
pub fn plain<const N: usize, E>(e: E) -> Box<dyn BernoulliEstimator<N>>
where
    E: Estimator<N, Quadratic<N>> + Clone + Send + Sync + 'static,
{
    Box::new(Wrapped {
        inner: e,
        training: None,
    })
}

/// A core estimator with a learned part and its training switch behind the object-safe
/// interface.
pub fn learning<const N: usize, E>(
    e: E,
    training: fn(&mut E, bool),
) -> Box<dyn BernoulliEstimator<N>>
where
    E: Estimator<N, Quadratic<N>> + Clone + Send + Sync + 'static,
{
    Box::new(Wrapped {
        inner: e,
        training: Some(training),
    })
}

/// Builds an estimator for `N` bits, drawing any network initialisation from `rng`.
pub type BernoulliBuilder<const N: usize> =
    fn(&BernoulliSpec, &mut Xoshiro128PlusPlus) -> Result<Box<dyn BernoulliEstimator<N>>>;

/// Hidden units of the network control variates at `N = 200` (bench).
pub const HIDDEN_WIDE: usize = 16;
/// Bits of the wide problem (bench).
pub const WIDE: usize = 200;

/// Declares the pair of builders of one family at the sizes the host uses: one variable
/// (toy, bench; network control variates with 10 tanh units, the paper's toy) and [`WIDE`]
/// variables (bench; [`HIDDEN_WIDE`] units).
macro_rules! sizes {
    ($(#[$doc:meta])* $name:ident, $builder:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name {
            /// One variable.
            pub one: $builder<1>,
            /// [`WIDE`] variables.
            pub wide: $builder<WIDE>,
        }
    };
}

sizes!(
    /// The builders of a Bernoulli estimator at one and [`WIDE`] bits.
    BernoulliBuilders,
    BernoulliBuilder
);

/// A builder of an estimator without learned parts: `$make` from the spec `$s`.
macro_rules! plain_builder {
    ($name:ident, |$s:pat_param| $make:expr) => {
        pub(super) fn $name<const N: usize, const H: usize, const P: usize>(
            $s: &BernoulliSpec,
            _: &mut Xoshiro128PlusPlus,
        ) -> Result<Box<dyn BernoulliEstimator<N>>> {
            Ok(plain($make))
        }
    };
}

plain_builder!(reinforce, |_| Reinforce::<Bernoulli<N>, N>::new());
plain_builder!(rloo, |_| Rloo::<Bernoulli<N>, N, RLOO_K>::new()?);
plain_builder!(disarm, |_| DisArm::<N>::new());
plain_builder!(concrete, |s| Concrete::<Bernoulli<N>, N>::new(
    s.concrete_temperature
)?);
plain_builder!(straight_through, |s| {
    StraightThrough::<Bernoulli<N>, N>::new(s.concrete_temperature)?
});

/// The registry's builder of `rebar` (`H` hidden units, `P` parameters of its network).
pub fn rebar<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    _: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    let e = Rebar::<Bernoulli<N>, N>::new(RebarCv::paper_default(s.lr)?).with_coupling(s.coupling);
    Ok(learning(e, Rebar::set_training))
}

/// RELAX's network control variate: `c(z) = s MLP(2 sigma_lambda(z) - 1)` (tanh units,
/// `lambda = 0.5`), as in the paper's toy.
pub type RelaxNetCv<const N: usize, const H: usize, const P: usize> =
    NeuralCv<Bernoulli<N>, N, 0, N, H, 1, P>;

/// RELAX with [`RelaxNetCv`].
pub type RelaxNet<const N: usize, const H: usize, const P: usize> =
    Relax<Bernoulli<N>, N, RelaxNetCv<N, H, P>>;

/// The [`RelaxNetCv`] the registry builds: tanh units (initialised from `rng`), output scale
/// `s.relax_init_scale`, `lambda = 0.5`, Adam at `s.lr`.
pub fn relax_net_cv<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<RelaxNetCv<N, H, P>> {
    let net = Mlp::<N, H, 1, 1, P>::new_random(Activation::Tanh, 1.0, rng);
    Ok(NeuralCv::new(
        net,
        CvInput::RelaxedSigned,
        s.relax_init_scale,
        0.5,
        AdamConfig::new(s.lr),
    )?)
}

/// The registry's builder of `relax` (`H` hidden units, `P` parameters of its network).
pub fn relax<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    let e = RelaxNet::<N, H, P>::new(relax_net_cv(s, rng)?).with_coupling(s.coupling);
    Ok(learning(e, RelaxNet::<N, H, P>::set_training))
}

type RelaxRebarCv<const N: usize, const H: usize, const P: usize> =
    Plus<RebarCv<Bernoulli<N>, N>, NeuralCv<Bernoulli<N>, N, 0, N, H, 1, P>>;

/// The VAE's control variate on the quadratic: `eta f(sigma_lambda(z)) + r_rho(z)`, `r_rho` a
/// ReLU network on the logits.
/// The registry's builder of `relax_rebar` (`H` hidden units, `P` parameters of its network).
pub fn relax_rebar<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    let net = Mlp::<N, H, 1, 1, P>::new_random(Activation::Relu, 1.0, rng);
    let r_rho = NeuralCv::new(net, CvInput::Logits, 0.1, 1.0, AdamConfig::new(s.lr))?;
    let cv: RelaxRebarCv<N, H, P> = Plus(RebarCv::paper_default(s.lr)?, r_rho);
    let e = Relax::<Bernoulli<N>, N, _>::new(cv).with_coupling(s.coupling);
    Ok(learning(e, Relax::set_training))
}

/// A Gaussian estimator (LAX) on the quadratic, behind one object-safe interface.
pub trait GaussianEstimator<const N: usize>: Send {
    /// One estimate at `(mean, log_std)` (and one control-variate step).
    fn estimate(
        &mut self,
        mean: &[f32; N],
        log_std: &[f32; N],
        f: &mut Quadratic<N>,
        rng: &mut Xoshiro128PlusPlus,
    ) -> std::result::Result<GaussianEstimate<N>, relax_core::Error>;
}

impl<const N: usize, const H: usize, const P: usize> GaussianEstimator<N> for Lax<N, H, 1, P> {
    fn estimate(
        &mut self,
        mean: &[f32; N],
        log_std: &[f32; N],
        f: &mut Quadratic<N>,
        rng: &mut Xoshiro128PlusPlus,
    ) -> std::result::Result<GaussianEstimate<N>, relax_core::Error> {
        Lax::estimate(self, mean, log_std, f, rng)
    }
}

/// Builds a Gaussian estimator for `N` dimensions (network initialised from `rng`).
pub type GaussianBuilder<const N: usize> =
    fn(&BernoulliSpec, &mut Xoshiro128PlusPlus) -> Result<Box<dyn GaussianEstimator<N>>>;

sizes!(
    /// The builders of a Gaussian estimator at one and [`WIDE`] dimensions.
    GaussianBuilders,
    GaussianBuilder
);

pub(super) fn lax<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn GaussianEstimator<N>>> {
    let net = Mlp::<N, H, 1, 1, P>::new_random(Activation::Tanh, 1.0, rng);
    Ok(Box::new(Lax::new(net, AdamConfig::new(s.lr))?))
}

/// RLOO's samples per estimate in the toy and the bench: the smallest `K` with a
/// leave-one-out baseline, so it costs 2 evaluations of `f`, as DisARM does.
pub const RLOO_K: usize = 2;

/// ARMS' samples per estimate in the toy and the bench: 3 (ARMS with 2 samples is DisARM,
/// already an entry).
pub const ARMS_S: usize = 3;
/// Double CV's and RODEO's samples per estimate in the toy and the bench: 2, the cost of
/// RLOO and DisARM.
pub const STEIN_K: usize = 2;
/// ReinMax's temperature (its authors use `tau >= 1`).
pub const REINMAX_TEMPERATURE: f32 = 1.0;
/// Hidden units of RODEO's control-variate network (2 inputs, 2 outputs, tanh).
pub const RODEO_HIDDEN: usize = 10;
const RODEO_P: usize = relax_core::nn::mlp_param_count(2, RODEO_HIDDEN, 2, 1);

plain_builder!(arms, |_| relax_core::estimator::Arms::<N, ARMS_S>::new()?);
plain_builder!(reinmax, |_| relax_core::estimator::ReinMax::<
    Bernoulli<N>,
    N,
>::new(REINMAX_TEMPERATURE)?);

/// Double CV with `alpha` learned by Adam at `s.lr` (from 0, as the reference code).
pub(super) fn double_cv<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    _: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    type E<const N: usize> = relax_core::estimator::DoubleCv<N, STEIN_K>;
    Ok(learning(
        E::<N>::new(AdamConfig::new(s.lr))?,
        E::<N>::set_training,
    ))
}

/// RODEO with a [`RODEO_HIDDEN`]-unit tanh network (initialised from `rng`), network and
/// coefficients learned by Adam at `s.lr` (coefficients from 0, as the reference code).
pub(super) fn rodeo<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    type E<const N: usize> = relax_core::estimator::Rodeo<N, STEIN_K, RODEO_HIDDEN, 1, RODEO_P>;
    let net = Mlp::<2, RODEO_HIDDEN, 2, 1, RODEO_P>::new_random(Activation::Tanh, 1.0, rng);
    let e = E::<N>::new(net, AdamConfig::new(s.lr), AdamConfig::new(s.lr))?;
    Ok(learning(e, E::<N>::set_training))
}
