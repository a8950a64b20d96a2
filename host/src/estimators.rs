//! The one registry of estimators: command-line name, label, colour, unbiasedness, cost in
//! evaluations of `f`, the experiments that offer it and, for the black-box and relaxed
//! Bernoulli (and Gaussian) estimators, how to build one. Every experiment's menu (toy,
//! bench, rl, vae) is drawn from [`REGISTRY`]; adding an estimator to the host is one
//! [`Entry`] here (plus its core file, and the experiments that need more than a builder).
//!
//! Random streams: an entry's [`Entry::stream`] is fixed forever (never reused, never
//! renumbered), so that adding or reordering entries changes no other estimator's results.

use crate::objective::Quadratic;
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::dist::Bernoulli;
use relax_core::estimator::{
    Concrete, Coupling, CvInput, DisArm, Estimate, Estimator, GaussianEstimate, Lax, NeuralCv,
    Plus, Rebar, RebarCv, Reinforce, Relax, Rloo, StraightThrough,
};
use relax_core::nn::{mlp_param_count, Activation, Mlp};
use relax_core::optim::AdamConfig;
use std::any::Any;

/// The experiments whose menus offer estimators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Menu {
    /// `relax toy` (one bit, Bernoulli).
    Toy,
    /// `relax bench` (cost per estimate).
    Bench,
    /// `relax rl` (policy-gradient methods).
    Rl,
    /// `relax vae` (discrete VAEs).
    Vae,
}

/// An estimator of the registry, named by its entry's command-line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EstimatorId(usize);

impl EstimatorId {
    /// The registry entry.
    pub fn entry(self) -> &'static Entry {
        &REGISTRY[self.0]
    }

    /// The command-line (and file) name.
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// The display name (legends, tables).
    pub fn label(self) -> &'static str {
        self.entry().label
    }

    /// The fixed plot colour.
    pub fn color(self) -> (u8, u8, u8) {
        self.entry().color
    }

    /// The entry's random-stream index (see the module docs).
    pub fn stream(self) -> u64 {
        self.entry().stream
    }

    /// The id of the entry named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        REGISTRY.iter().position(|e| e.name == name).map(Self)
    }

    /// The id of a name known to be in the registry (a programming error otherwise).
    pub fn named(name: &str) -> Self {
        Self::from_name(name).unwrap_or_else(|| panic!("{name} is not in the registry"))
    }
}

impl std::fmt::Display for EstimatorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for EstimatorId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

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

fn plain<const N: usize, E>(e: E) -> Box<dyn BernoulliEstimator<N>>
where
    E: Estimator<N, Quadratic<N>> + Clone + Send + Sync + 'static,
{
    Box::new(Wrapped {
        inner: e,
        training: None,
    })
}

fn learning<const N: usize, E>(e: E, training: fn(&mut E, bool)) -> Box<dyn BernoulliEstimator<N>>
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

/// The builders of a Bernoulli estimator at the sizes the host uses: one bit (toy, bench)
/// and [`WIDE`] bits (bench).
#[derive(Clone, Copy)]
pub struct BernoulliBuilders {
    /// One bit; network control variates have 10 tanh units (the paper's toy).
    pub one: BernoulliBuilder<1>,
    /// [`WIDE`] bits; network control variates have [`HIDDEN_WIDE`] units.
    pub wide: BernoulliBuilder<WIDE>,
}

macro_rules! builders {
    ($f:ident) => {
        BernoulliBuilders {
            one: $f::<1, 10, { mlp_param_count(1, 10, 1, 1) }>,
            wide: $f::<WIDE, HIDDEN_WIDE, { mlp_param_count(WIDE, HIDDEN_WIDE, 1, 1) }>,
        }
    };
}

fn reinforce<const N: usize, const H: usize, const P: usize>(
    _: &BernoulliSpec,
    _: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    Ok(plain(Reinforce::<Bernoulli<N>, N>::new()))
}

fn rloo<const N: usize, const H: usize, const P: usize>(
    _: &BernoulliSpec,
    _: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    Ok(plain(Rloo::<Bernoulli<N>, N, RLOO_K>::new()?))
}

fn disarm<const N: usize, const H: usize, const P: usize>(
    _: &BernoulliSpec,
    _: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    Ok(plain(DisArm::<N>::new()))
}

fn concrete<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    _: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    Ok(plain(Concrete::<Bernoulli<N>, N>::new(
        s.concrete_temperature,
    )?))
}

fn straight_through<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    _: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn BernoulliEstimator<N>>> {
    Ok(plain(StraightThrough::<Bernoulli<N>, N>::new(
        s.concrete_temperature,
    )?))
}

fn rebar<const N: usize, const H: usize, const P: usize>(
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

fn relax<const N: usize, const H: usize, const P: usize>(
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
fn relax_rebar<const N: usize, const H: usize, const P: usize>(
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

/// The builders of a Gaussian estimator at one and [`WIDE`] dimensions.
#[derive(Clone, Copy)]
pub struct GaussianBuilders {
    /// One dimension, 10 tanh units.
    pub one: GaussianBuilder<1>,
    /// [`WIDE`] dimensions, [`HIDDEN_WIDE`] tanh units.
    pub wide: GaussianBuilder<WIDE>,
}

fn lax<const N: usize, const H: usize, const P: usize>(
    s: &BernoulliSpec,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<Box<dyn GaussianEstimator<N>>> {
    let net = Mlp::<N, H, 1, 1, P>::new_random(Activation::Tanh, 1.0, rng);
    Ok(Box::new(Lax::new(net, AdamConfig::new(s.lr))?))
}

/// RLOO's samples per estimate in the toy and the bench: the smallest `K` with a
/// leave-one-out baseline, so it costs 2 evaluations of `f`, as DisARM does.
pub const RLOO_K: usize = 2;

/// How an estimator can be built for the quadratic objective.
#[derive(Clone, Copy)]
pub enum Build {
    /// Not by the registry (the experiments that offer it build it themselves).
    None,
    /// Bernoulli latent bits.
    Bernoulli(BernoulliBuilders),
    /// Gaussian latent variables (reparameterised).
    Gaussian(GaussianBuilders),
}

/// One estimator: what every menu, table and plot needs to know.
pub struct Entry {
    /// Command-line and file name (lower case, no spaces).
    pub name: &'static str,
    /// Display name (legends, tables).
    pub label: &'static str,
    /// Plot colour (RGB).
    pub color: (u8, u8, u8),
    /// Whether its expectation is the exact gradient.
    pub unbiased: bool,
    /// Evaluations of `f` per estimate, as a formula (`"1"`, `"K"`, `"1 + 2 relaxed"`).
    pub f_evals: &'static str,
    /// Random-stream index: fixed forever, never reused.
    pub stream: u64,
    /// The experiments whose menus offer it.
    pub menus: &'static [Menu],
    /// How to build it on the quadratic objective (toy, bench).
    pub build: Build,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

use Menu::{Bench, Rl, Toy, Vae};

/// Every estimator the host knows, in the order menus list them.
pub static REGISTRY: &[Entry] = &[
    Entry {
        name: "exact",
        label: "Exact gradient",
        color: (0, 0, 0),
        unbiased: true,
        f_evals: "0 (closed form)",
        stream: 1,
        menus: &[Toy],
        build: Build::None,
    },
    Entry {
        name: "reinforce",
        label: "REINFORCE",
        color: (31, 119, 180),
        unbiased: true,
        f_evals: "1",
        stream: 2,
        menus: &[Toy, Bench, Rl],
        build: Build::Bernoulli(builders!(reinforce)),
    },
    Entry {
        name: "nvil",
        label: "NVIL",
        color: (140, 86, 75),
        unbiased: true,
        f_evals: "1",
        stream: 10,
        menus: &[Vae],
        build: Build::None,
    },
    Entry {
        name: "muprop",
        label: "MuProp",
        color: (227, 119, 194),
        unbiased: true,
        f_evals: "1 + 1 mean-field",
        stream: 11,
        menus: &[Vae],
        build: Build::None,
    },
    Entry {
        name: "concrete",
        label: "Concrete",
        color: (255, 127, 14),
        unbiased: false,
        f_evals: "1 relaxed",
        stream: 3,
        menus: &[Toy, Bench, Vae],
        build: Build::Bernoulli(builders!(concrete)),
    },
    Entry {
        name: "straight-through",
        label: "Straight-through",
        color: (127, 127, 127),
        unbiased: false,
        f_evals: "1 relaxed",
        stream: 12,
        menus: &[Bench],
        build: Build::Bernoulli(builders!(straight_through)),
    },
    Entry {
        name: "rebar",
        label: "REBAR",
        color: (44, 160, 44),
        unbiased: true,
        f_evals: "1 + 2 relaxed (+2 for the variance step)",
        stream: 4,
        menus: &[Toy, Bench, Vae],
        build: Build::Bernoulli(builders!(rebar)),
    },
    Entry {
        name: "relax",
        label: "RELAX",
        color: (214, 39, 40),
        unbiased: true,
        f_evals: "1",
        stream: 5,
        menus: &[Toy, Bench, Rl, Vae],
        build: Build::Bernoulli(builders!(relax)),
    },
    Entry {
        name: "relax-rebar",
        label: "RELAX eta f + net",
        color: (188, 189, 34),
        unbiased: true,
        f_evals: "1 + 2 relaxed (+2 for the variance step)",
        stream: 13,
        menus: &[Bench],
        build: Build::Bernoulli(builders!(relax_rebar)),
    },
    Entry {
        name: "rloo",
        label: "RLOO (K=2)",
        color: (148, 103, 189),
        unbiased: true,
        f_evals: "K",
        stream: 6,
        menus: &[Toy, Bench, Vae],
        build: Build::Bernoulli(builders!(rloo)),
    },
    Entry {
        name: "disarm",
        label: "DisARM",
        color: (140, 86, 75),
        unbiased: true,
        f_evals: "2",
        stream: 7,
        menus: &[Toy, Bench, Vae],
        build: Build::Bernoulli(builders!(disarm)),
    },
    Entry {
        name: "lax",
        label: "LAX",
        color: (23, 190, 207),
        unbiased: true,
        f_evals: "1",
        stream: 14,
        menus: &[Bench, Rl],
        build: Build::Gaussian(GaussianBuilders {
            one: lax::<1, 10, { mlp_param_count(1, 10, 1, 1) }>,
            wide: lax::<WIDE, HIDDEN_WIDE, { mlp_param_count(WIDE, HIDDEN_WIDE, 1, 1) }>,
        }),
    },
    Entry {
        name: "a2c",
        label: "A2C",
        color: (255, 127, 14),
        unbiased: true,
        f_evals: "1 (a learned state-value baseline)",
        stream: 15,
        menus: &[Rl],
        build: Build::None,
    },
];

/// The entries a menu offers, in registry order.
pub fn menu(m: Menu) -> Vec<EstimatorId> {
    (0..REGISTRY.len())
        .filter(|&i| REGISTRY[i].menus.contains(&m))
        .map(EstimatorId)
        .collect()
}

/// A clap value parser accepting the names of `m`'s menu (listed in `--help`).
pub fn parser(m: Menu) -> impl clap::builder::TypedValueParser<Value = EstimatorId> {
    let names: Vec<&'static str> = menu(m).into_iter().map(EstimatorId::name).collect();
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(names).map(|s: String| EstimatorId::named(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_streams_are_unique() {
        let names: HashSet<_> = REGISTRY.iter().map(|e| e.name).collect();
        let streams: HashSet<_> = REGISTRY.iter().map(|e| e.stream).collect();
        assert_eq!(names.len(), REGISTRY.len());
        assert_eq!(streams.len(), REGISTRY.len());
        for e in REGISTRY {
            assert!(!e.menus.is_empty(), "{} is in no menu", e.name);
            assert_eq!(EstimatorId::named(e.name).entry().name, e.name);
        }
    }
}
