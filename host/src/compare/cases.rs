//! Which estimators `relax compare` runs at each budget, and how each spends it.

use super::{Build, Case};
use crate::estimators::{learning, plain, rebar, relax, relax_rebar, BernoulliSpec};
use relax_core::dist::{Bernoulli, Categorical};
use relax_core::estimator::{
    Arms, Carms, CoupledDisArm, Coupling, CvInput, DisArm, DoubleCv, IndeCateR, NeuralCv, Rebar,
    RebarCv, ReinMax, Reinforce, Relax, Rloo, Rodeo,
};
use relax_core::nn::{mlp_param_count, Activation, Mlp};
use relax_core::optim::AdamConfig;

/// Decay of REINFORCE's moving-average baseline.
const BASELINE_DECAY: f32 = 0.99;

/// The settings of the learned parts: Adam 0.01, fresh noise for `z~` (the bench's).
pub fn spec() -> BernoulliSpec {
    BernoulliSpec {
        lr: 0.01,
        coupling: Coupling::Independent,
        concrete_temperature: 0.5,
        relax_init_scale: 0.1,
    }
}

/// A case of fixed cost `cost` at `budget`, averaged over `budget / cost` calls (`None` when
/// `cost` does not divide `budget`).
pub fn averaged<const N: usize>(
    name: &'static str,
    cost: u32,
    budget: u32,
    build: Build<N>,
) -> Option<Case<N>> {
    budget.is_multiple_of(cost).then(|| Case {
        name,
        form: match budget / cost {
            1 => "one call".to_string(),
            r => format!("mean of {r}"),
        },
        cost,
        reps: budget / cost,
        build,
    })
}

/// A multi-sample case: one call spends the whole budget with `K = budget` samples.
pub fn multi<const N: usize>(name: &'static str, budget: u32, build: Build<N>) -> Case<N> {
    Case {
        name,
        form: format!("K = {budget}"),
        cost: budget,
        reps: 1,
        build,
    }
}

/// A multi-sample estimator with `K = budget` (2, 3 or 4): `$make` gives the case for a
/// const `K` (`$k` names it inside).
macro_rules! per_k {
    ($name:expr, $budget:expr, |$k:ident| $make:expr) => {
        match $budget {
            2 => {
                const $k: usize = 2;
                multi($name, 2, $make)
            }
            3 => {
                const $k: usize = 3;
                multi($name, 3, $make)
            }
            _ => {
                const $k: usize = 4;
                multi($name, 4, $make)
            }
        }
    };
}

/// Hidden tanh units of RODEO's network (2 inputs, 2 outputs), as the registry's entry.
const RODEO_H: usize = 10;
type RodeoNet = Mlp<2, RODEO_H, 2, 1, { mlp_param_count(2, RODEO_H, 2, 1) }>;

/// REINFORCE with its moving-average baseline, cost 1.
fn reinforce<const N: usize, D: relax_core::dist::Relaxed<N> + 'static + Send + Sync>(
    budget: u32,
) -> Option<Case<N>>
where
    Reinforce<D, N>:
        relax_core::estimator::Estimator<N, crate::objective::Quadratic<N>> + Clone + Send + Sync,
{
    averaged(
        "reinforce",
        1,
        budget,
        Box::new(|_| Ok(plain(Reinforce::<D, N>::with_baseline(BASELINE_DECAY)?))),
    )
}

/// The Bernoulli cases at `budget` for `N` bits (`H` tanh units in RELAX's network, `P`
/// its parameter count).
pub fn bernoulli<const N: usize, const H: usize, const P: usize>(budget: u32) -> Vec<Case<N>> {
    let s = spec();
    let v: Vec<Option<Case<N>>> = vec![
        reinforce::<N, Bernoulli<N>>(budget),
        Some(per_k!("rloo", budget, |K| Box::new(|_| Ok(plain(Rloo::<
            Bernoulli<N>,
            N,
            K,
        >::new(
        )?))))),
        averaged(
            "disarm",
            2,
            budget,
            Box::new(|_| Ok(plain(DisArm::<N>::new()))),
        ),
        Some(per_k!("arms", budget, |S| Box::new(|_| Ok(plain(Arms::<
            N,
            S,
        >::new(
        )?))))),
        Some(per_k!("double-cv", budget, |K| Box::new(move |_| {
            let e = DoubleCv::<N, K>::new(AdamConfig::new(s.lr))?;
            Ok(learning(e, DoubleCv::<N, K>::set_training))
        }))),
        Some(per_k!("rodeo", budget, |K| Box::new(move |rng| {
            let net = RodeoNet::new_random(Activation::Tanh, 1.0, rng);
            let lr = AdamConfig::new(s.lr);
            let e =
                Rodeo::<N, K, RODEO_H, 1, { mlp_param_count(2, RODEO_H, 2, 1) }>::new(net, lr, lr)?;
            Ok(learning(e, Rodeo::set_training))
        }))),
        averaged(
            "rebar",
            3,
            budget,
            Box::new(move |rng| rebar::<N, H, P>(&s, rng)),
        ),
        averaged(
            "relax",
            1,
            budget,
            Box::new(move |rng| relax::<N, H, P>(&s, rng)),
        ),
        averaged(
            "relax-rebar",
            3,
            budget,
            Box::new(move |rng| relax_rebar::<N, H, P>(&s, rng)),
        ),
        averaged(
            "reinmax",
            1,
            budget,
            Box::new(|_| Ok(plain(ReinMax::<Bernoulli<N>, N>::new(1.0)?))),
        ),
    ];
    v.into_iter().flatten().collect()
}

/// Classes of the categorical problem.
pub const K: usize = 4;
/// RELAX's network on the categorical: 4 relaxed inputs, 10 tanh units, 2 hidden layers.
type CatNet = NeuralCv<Categorical<K>, K, 0, K, 10, 2, { mlp_param_count(K, 10, 1, 2) }>;

/// The categorical cases at `budget`.
pub fn categorical(budget: u32) -> Vec<Case<K>> {
    let s = spec();
    let v: Vec<Option<Case<K>>> = vec![
        reinforce::<K, Categorical<K>>(budget),
        Some(per_k!("rloo", budget, |S| Box::new(|_| Ok(plain(Rloo::<
            Categorical<K>,
            K,
            S,
        >::new(
        )?))))),
        averaged(
            "rebar",
            3,
            budget,
            Box::new(move |_| {
                let e = Rebar::<Categorical<K>, K>::new(RebarCv::paper_default(s.lr)?)
                    .with_coupling(s.coupling);
                Ok(learning(e, Rebar::set_training))
            }),
        ),
        averaged(
            "relax",
            1,
            budget,
            Box::new(move |rng| {
                let net = Mlp::new_random(Activation::Tanh, 1.0, rng);
                let cv: CatNet =
                    NeuralCv::new(net, CvInput::Relaxed, 0.1, 0.5, AdamConfig::new(s.lr))?;
                let e = Relax::<Categorical<K>, K, _>::new(cv).with_coupling(s.coupling);
                Ok(learning(e, Relax::set_training))
            }),
        ),
        averaged(
            "coupled-disarm",
            2,
            budget,
            Box::new(|_| Ok(plain(CoupledDisArm::<1, K, K>::new()))),
        ),
        Some(per_k!("carms", budget, |S| Box::new(|_| Ok(plain(
            Carms::<1, K, K, S>::new()?
        ))))),
        // One variable: 1 + (K - 1) = K evaluations, the exact gradient.
        averaged(
            "indecater",
            IndeCateR::<1, K, K>::f_evals(),
            budget,
            Box::new(|_| Ok(plain(IndeCateR::<1, K, K>::new()))),
        ),
    ];
    v.into_iter().flatten().collect()
}
