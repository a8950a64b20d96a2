//! How the registry builds its categorical estimators on the quadratic objective of one
//! `CLASSES`-way categorical (one-hot `b`): the bench's categorical rows. Same settings as
//! the Bernoulli builders of the same estimators (REINFORCE without baseline, RLOO with
//! [`RLOO_K`] samples, CARMS with [`ARMS_S`] samples as ARMS).

use super::build::{plain, BernoulliBuilder, BernoulliEstimator, BernoulliSpec, ARMS_S, RLOO_K};
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::dist::Categorical;
use relax_core::estimator::{Carms, CoupledDisArm, IndeCateR, Reinforce, Rloo};

/// Classes of the categorical problem (one variable).
pub const CLASSES: usize = 4;

/// Builds an estimator of one [`CLASSES`]-way categorical.
pub type CategoricalBuilder = BernoulliBuilder<CLASSES>;

type Cat = Categorical<CLASSES>;

/// A builder of a categorical estimator without learned parts.
macro_rules! categorical_builder {
    ($(#[$doc:meta])* $name:ident, $make:expr) => {
        $(#[$doc])*
        pub(super) fn $name(
            _: &BernoulliSpec,
            _: &mut Xoshiro128PlusPlus,
        ) -> Result<Box<dyn BernoulliEstimator<CLASSES>>> {
            Ok(plain($make))
        }
    };
}

categorical_builder!(
    /// REINFORCE without baseline.
    reinforce,
    Reinforce::<Cat, CLASSES>::new()
);
categorical_builder!(
    /// RLOO with [`RLOO_K`] samples.
    rloo,
    Rloo::<Cat, CLASSES, RLOO_K>::new()?
);
categorical_builder!(
    /// Coupled DisARM, importance-weighted (the core's default).
    coupled_disarm,
    CoupledDisArm::<1, CLASSES, CLASSES>::new()
);
categorical_builder!(
    /// IndeCateR: `1 + (CLASSES - 1)` evaluations, the exact gradient for one variable.
    indecater,
    IndeCateR::<1, CLASSES, CLASSES>::new()
);
categorical_builder!(
    /// CARMS with [`ARMS_S`] samples (stick-breaking).
    carms,
    Carms::<1, CLASSES, CLASSES, ARMS_S>::new()?
);
