//! Which estimator trains the VAE, and its settings.

use crate::estimators::{menu, EstimatorId, Menu};

/// Which gradient estimator trains the encoder: the VAE's own batched implementation of each
/// estimator of the registry's Vae menu ([`crate::estimators`], where names and labels live).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EstimatorKind {
    /// REINFORCE with an input-dependent baseline `B(x)` (100 tanh units on `x - mean`)
    /// and a running-mean centring (Mnih & Gregor).
    Nvil,
    /// MuProp: the mean-field network's first-order Taylor expansion as control variate,
    /// plus the NVIL baseline.
    Muprop,
    /// The Concrete (Gumbel-softmax) relaxation, end to end (biased).
    Concrete,
    /// REBAR: `c = eta f(sigma_lambda(z))`, eta and lambda learned per layer.
    Rebar,
    /// RELAX: `c = eta [f(sigma_lambda(z)) + r_rho(x, z)]`, `r` a ReLU network.
    Relax,
    /// REINFORCE with `K` samples per example and the leave-one-out baseline.
    Rloo,
    /// DisARM: antithetic pairs (per layer, 1 + layers evaluations of f).
    Disarm,
    /// ARMS: `K` antithetic samples per example (one-layer models).
    Arms,
    /// Double control variates: RLOO with `K` samples and a Taylor control variate from
    /// `df/db`, its coefficient learned (one-layer models).
    DoubleCv,
    /// RODEO: RLOO with `K` samples and discrete-Stein control variates from `df/db` and a
    /// small learned network (one-layer models).
    Rodeo,
}

impl EstimatorKind {
    /// The VAE implementation of a registry estimator (`None`: the VAE has none).
    pub fn from_id(id: EstimatorId) -> Option<Self> {
        Some(match id.name() {
            "nvil" => EstimatorKind::Nvil,
            "muprop" => EstimatorKind::Muprop,
            "concrete" => EstimatorKind::Concrete,
            "rebar" => EstimatorKind::Rebar,
            "relax" => EstimatorKind::Relax,
            "rloo" => EstimatorKind::Rloo,
            "disarm" => EstimatorKind::Disarm,
            "arms" => EstimatorKind::Arms,
            "double-cv" => EstimatorKind::DoubleCv,
            "rodeo" => EstimatorKind::Rodeo,
            _ => return None,
        })
    }

    /// Every estimator of the Vae menu that has a VAE implementation, in menu order.
    pub fn all() -> Vec<Self> {
        menu(Menu::Vae)
            .into_iter()
            .filter_map(Self::from_id)
            .collect()
    }

    /// The registry entry.
    pub fn id(self) -> EstimatorId {
        EstimatorId::named(match self {
            EstimatorKind::Nvil => "nvil",
            EstimatorKind::Muprop => "muprop",
            EstimatorKind::Concrete => "concrete",
            EstimatorKind::Rebar => "rebar",
            EstimatorKind::Relax => "relax",
            EstimatorKind::Rloo => "rloo",
            EstimatorKind::Disarm => "disarm",
            EstimatorKind::Arms => "arms",
            EstimatorKind::DoubleCv => "double-cv",
            EstimatorKind::Rodeo => "rodeo",
        })
    }

    /// The registry's (lower-case) name, used in file names.
    pub fn label(self) -> &'static str {
        self.id().name()
    }

    /// Whether it has parameters trained on a variance objective.
    pub fn has_cv(self) -> bool {
        matches!(
            self,
            EstimatorKind::Nvil
                | EstimatorKind::Muprop
                | EstimatorKind::Rebar
                | EstimatorKind::Relax
                | EstimatorKind::DoubleCv
                | EstimatorKind::Rodeo
        )
    }

    /// Whether it takes `K` samples per example (`--samples`).
    pub fn multi_sample(self) -> bool {
        matches!(
            self,
            EstimatorKind::Rloo
                | EstimatorKind::Arms
                | EstimatorKind::DoubleCv
                | EstimatorKind::Rodeo
        )
    }

    /// Whether it is implemented for the one-layer models only (`K` samples of the single
    /// layer combined per example: ARMS, Double CV, RODEO).
    pub fn one_layer_only(self) -> bool {
        matches!(
            self,
            EstimatorKind::Arms | EstimatorKind::DoubleCv | EstimatorKind::Rodeo
        )
    }
}

/// Settings of an estimator.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct EstimatorConfig {
    /// Which one.
    pub kind: EstimatorKind,
    /// Concrete's temperature.
    pub concrete_temperature: f32,
    /// Samples per example of RLOO, ARMS, Double CV and RODEO (named for RLOO, the first).
    pub rloo_k: usize,
    /// Hidden ReLU layers (of 200) in RELAX's `r_rho`: 2 or 4.
    pub cv_depth: usize,
    /// Width of `r_rho`'s layers.
    pub cv_width: usize,
    /// Weight decay on `r_rho`'s parameters.
    pub cv_weight_decay: f32,
    /// Central-difference step in log-temperature for the temperature's variance gradient.
    pub fd_step: f32,
    /// Rows of the batch the temperature's central difference is taken on (scaled up to
    /// the batch): the temperature changes only the variance, so a noisier gradient for it
    /// costs nothing in bias and saves two relaxed passes over the whole batch.
    pub fd_rows: usize,
    /// Initial temperature of REBAR's and RELAX's relaxations.
    pub init_temperature: f32,
}

impl EstimatorConfig {
    /// The defaults: Concrete at 0.5, RLOO with 2 samples, RELAX with 2 x 200 ReLU and
    /// weight decay 0.001, lambda starting at 0.5.
    pub fn new(kind: EstimatorKind) -> Self {
        Self {
            kind,
            concrete_temperature: 0.5,
            rloo_k: 2,
            cv_depth: 2,
            cv_width: 200,
            cv_weight_decay: 1e-3,
            fd_step: 1e-2,
            fd_rows: 4,
            init_temperature: 0.5,
        }
    }
}
