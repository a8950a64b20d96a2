//! The one registry of estimators: command-line name, label, colour, unbiasedness, cost in
//! evaluations of `f`, the experiments that offer it and, for the black-box and relaxed
//! Bernoulli (and Gaussian) estimators, how to build one. Every experiment's menu (toy,
//! bench, rl, vae) is drawn from [`REGISTRY`]; adding an estimator to the host is one
//! [`Entry`] here (plus its core file, and the experiments that need more than a builder).
//!
//! Random streams: an entry's [`Entry::stream`] is fixed forever (never reused, never
//! renumbered), so that adding or reordering entries changes no other estimator's results.

mod build;
mod categorical;

use build::{arms, double_cv, reinmax, rodeo};
use build::{concrete, disarm, lax, reinforce, rloo, straight_through};
pub use build::{
    learning, plain, rebar, relax, relax_net_cv, relax_rebar, BernoulliBuilder, BernoulliBuilders,
    BernoulliEstimator, BernoulliSpec, GaussianBuilder, GaussianBuilders, GaussianEstimator,
    RelaxNet, RelaxNetCv, Wrapped, HIDDEN_WIDE, RLOO_K, RODEO_HIDDEN, WIDE,
};
pub use categorical::{CategoricalBuilder, CLASSES};
use relax_core::nn::mlp_param_count;

macro_rules! builders {
    ($f:ident) => {
        BernoulliBuilders {
            one: $f::<1, 10, { mlp_param_count(1, 10, 1, 1) }>,
            wide: $f::<WIDE, HIDDEN_WIDE, { mlp_param_count(WIDE, HIDDEN_WIDE, 1, 1) }>,
        }
    };
}

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
    /// Categorical problems (one [`CLASSES`]-way categorical): the bench's categorical rows,
    /// built by [`Entry::categorical`] (`relax compare` builds its categorical cases itself,
    /// at each budget). The toy and the VAE are Bernoulli.
    Categorical,
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

impl<'de> serde::Deserialize<'de> for EstimatorId {
    /// From the name it is written as (the run files of a sweep, read back by `relax report`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown estimator {name:?}")))
    }
}

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
    /// How to build it for one [`CLASSES`]-way categorical (the Categorical menu's entries).
    pub categorical: Option<CategoricalBuilder>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

use Menu::{Bench, Categorical, Rl, Toy, Vae};

/// Every estimator the host knows, in the order menus list them; `registry!(extra)` appends
/// entries (the tests add one).
macro_rules! registry {
    ($($extra:expr),*) => { &[
    Entry {
        name: "exact",
        label: "Exact gradient",
        color: (0, 0, 0),
        unbiased: true,
        f_evals: "0 (closed form)",
        stream: 1,
        menus: &[Toy],
        categorical: None,
        build: Build::None,
    },
    Entry {
        name: "reinforce",
        label: "REINFORCE",
        color: (31, 119, 180),
        unbiased: true,
        f_evals: "1",
        stream: 2,
        menus: &[Toy, Bench, Rl, Categorical],
        categorical: Some(categorical::reinforce),
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
        categorical: None,
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
        categorical: None,
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
        categorical: None,
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
        categorical: None,
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
        categorical: None,
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
        categorical: None,
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
        categorical: None,
        build: Build::Bernoulli(builders!(relax_rebar)),
    },
    Entry {
        name: "rloo",
        label: "RLOO (K=2)",
        color: (148, 103, 189),
        unbiased: true,
        f_evals: "K",
        stream: 6,
        menus: &[Toy, Bench, Vae, Categorical],
        categorical: Some(categorical::rloo),
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
        categorical: None,
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
        categorical: None,
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
        categorical: None,
        build: Build::None,
    },
    Entry {
        name: "arms",
        label: "ARMS (S=3)",
        color: (0, 128, 128),
        unbiased: true,
        f_evals: "S (3)",
        stream: 41,
        menus: &[Toy, Bench, Vae],
        categorical: None,
        build: Build::Bernoulli(builders!(arms)),
    },
    Entry {
        name: "double-cv",
        label: "Double CV (K=2)",
        color: (128, 0, 128),
        unbiased: true,
        f_evals: "K with gradient (2)",
        stream: 42,
        menus: &[Toy, Bench, Vae],
        categorical: None,
        build: Build::Bernoulli(builders!(double_cv)),
    },
    Entry {
        name: "rodeo",
        label: "RODEO (K=2)",
        color: (0, 90, 200),
        unbiased: true,
        f_evals: "K with gradient (2)",
        stream: 43,
        menus: &[Toy, Bench, Vae],
        categorical: None,
        build: Build::Bernoulli(builders!(rodeo)),
    },
    Entry {
        name: "reinmax",
        label: "ReinMax",
        color: (200, 120, 0),
        unbiased: false,
        f_evals: "1 relaxed",
        stream: 44,
        menus: &[Toy, Bench],
        categorical: None,
        build: Build::Bernoulli(builders!(reinmax)),
    },
    Entry {
        name: "coupled-disarm",
        label: "Coupled DisARM",
        color: (196, 156, 148),
        unbiased: true,
        f_evals: "2",
        stream: 50,
        menus: &[Categorical],
        categorical: Some(categorical::coupled_disarm),
        build: Build::None,
    },
    Entry {
        name: "indecater",
        label: "IndeCateR",
        color: (174, 199, 232),
        unbiased: true,
        f_evals: "1 + D (K - 1)",
        stream: 51,
        menus: &[Categorical],
        categorical: Some(categorical::indecater),
        build: Build::None,
    },
    Entry {
        name: "carms",
        label: "CARMS (stick-breaking)",
        color: (255, 187, 120),
        unbiased: true,
        f_evals: "S",
        stream: 52,
        menus: &[Categorical],
        categorical: Some(categorical::carms),
        build: Build::None,
    },
    $($extra),*
    ] };
}

/// Every estimator the host knows, in the order menus list them.
#[cfg(not(test))]
pub static REGISTRY: &[Entry] = registry!();

/// The registry with one test-only entry, `dummy` (REINFORCE under another name), offered by
/// the toy and the bench: it shows that an entry reaches their menus with no other edit.
#[cfg(test)]
pub static REGISTRY: &[Entry] = registry!(Entry {
    name: "dummy",
    label: "Dummy",
    color: (0, 0, 255),
    unbiased: true,
    f_evals: "1",
    stream: 99,
    menus: &[Toy, Bench],
    categorical: None,
    build: Build::Bernoulli(builders!(reinforce)),
});

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

    /// The test-only `dummy` entry reaches the toy's and the bench's menus, parses as a
    /// command-line value, trains on the toy and is timed by the bench, with no edit
    /// anywhere but the registry.
    #[test]
    fn a_new_entry_reaches_the_toy_and_the_bench() {
        use clap::Parser;
        let dummy = EstimatorId::named("dummy");
        assert!(menu(Menu::Toy).contains(&dummy));
        assert!(menu(Menu::Bench).contains(&dummy));
        assert!(!menu(Menu::Vae).contains(&dummy));

        #[derive(Parser)]
        struct Toy {
            #[command(flatten)]
            args: crate::toy::ToyArgs,
        }
        let t = Toy::try_parse_from(["toy", "--estimators", "dummy,relax", "--steps", "20"])
            .expect("the toy menu offers dummy");
        assert_eq!(t.args.estimators, vec![dummy, EstimatorId::named("relax")]);
        let cfg = crate::toy::ToyConfig {
            estimators: vec![dummy],
            steps: 20,
            var_samples: 10,
            ..Default::default()
        };
        let r = crate::toy::run(&cfg, &|_| {}).expect("the toy runs dummy");
        assert_eq!(r.runs.len(), 1);
        assert_eq!(
            r.runs[0].train_f_evals, 20,
            "one f evaluation per step, as REINFORCE"
        );

        assert!(crate::bench::case_names().iter().any(|n| n == "Dummy"));
        let cfg = crate::bench::BenchConfig {
            seconds_per_case: 1e-3,
            seed: 0,
        };
        let rows = crate::bench::run_bench(&cfg, &mut |_| {}).expect("the bench runs");
        let row = rows.iter().find(|r| r.estimator == "Dummy" && r.n == 1);
        assert_eq!(row.map(|r| r.f_evals_per_estimate), Some(1.0));
        // The Categorical menu's entries follow, on one 4-way categorical.
        for (name, evals) in [
            ("REINFORCE (categorical)", 1.0),
            ("RLOO (K=2) (categorical)", 2.0),
            ("Coupled DisARM (categorical)", 2.0),
            ("IndeCateR (categorical)", 4.0),
            ("CARMS (stick-breaking) (categorical)", 3.0),
        ] {
            let row = rows.iter().find(|r| r.estimator == name && r.n == CLASSES);
            assert_eq!(row.map(|r| r.f_evals_per_estimate), Some(evals), "{name}");
        }
        assert_eq!(
            crate::bench::categorical_case_names().len(),
            rows.iter().filter(|r| r.n == CLASSES).count()
        );
    }
}
