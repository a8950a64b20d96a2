//! The paper's toy problem (section 6.1, Figure 1): minimise `E_{b ~ Bernoulli(theta)}[(b - t)^2]`
//! over the logit `l = logit(theta)`, with `t = 0.499` so the two outcomes differ by only 0.002.
//!
//! Protocol of the reference code (`rebar_toy.py`): one bit, batch 1, `l` initialised at 0
//! (`theta = 0.5`), Adam with step 0.01 on `l` and on every control-variate parameter, 10,000
//! steps; every 10 steps the exact loss `L(theta) = theta (1 - t)^2 + (1 - theta) t^2` and the
//! log-variance of 1000 fresh estimates at the current parameters (control variate frozen).
//! RELAX takes its control-variate step from the same sample as the `l` step (Algorithm 2).

pub mod cli;
pub mod fixed_theta;
pub mod report;
pub mod sweep;

pub use cli::{run as run_cli, ToyArgs};
pub use sweep::merge;

use crate::estimators::{
    menu, BernoulliEstimator, BernoulliSpec, Build, EstimatorId, Menu, RelaxNet,
};
use crate::objective::{toy_exact_grad_logit, toy_exact_loss, Quadratic};
use crate::seed;
use crate::stats::{mean, Moments};
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::estimator::{Coupling, Estimate};
use relax_core::math::sigmoid;
use relax_core::nn::mlp_param_count;
use relax_core::optim::{Adam, AdamConfig};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The toy's methods are the registry's Toy menu ([`crate::estimators`]); `exact` is the
/// reference curve (Adam on the closed-form gradient), the others are built by the registry.
pub type ToyEstimator = EstimatorId;

/// Every method of the toy, in the order plots and tables list them.
pub fn all_methods() -> Vec<ToyEstimator> {
    menu(Menu::Toy)
}

/// The exact-gradient reference method.
pub fn exact() -> ToyEstimator {
    EstimatorId::named("exact")
}

/// The toy's RELAX: the registry's network control variate with 10 tanh units.
pub type ToyRelax = RelaxNet<1, 10, { mlp_param_count(1, 10, 1, 1) }>;

/// How RELAX and REBAR couple `z~` to `z` (command-line mirror of [`Coupling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CouplingArg {
    /// `z~ = z` in value with the conditional derivative (the reference code's `force_same`).
    Tied,
    /// Fresh noise for `z~` (the paper's appendix B).
    Independent,
}

impl From<CouplingArg> for Coupling {
    fn from(c: CouplingArg) -> Self {
        match c {
            CouplingArg::Tied => Coupling::Tied,
            CouplingArg::Independent => Coupling::Independent,
        }
    }
}

/// Everything that defines a toy run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToyConfig {
    /// The target `t`.
    pub target: f32,
    /// Optimisation steps.
    pub steps: usize,
    /// Adam step size for the logit and the control-variate parameters.
    pub lr: f32,
    /// Record the exact loss and the log-variance every this many steps.
    pub log_every: usize,
    /// Fresh estimates per log-variance measurement.
    pub var_samples: usize,
    /// Coupling of `z~` to `z` for REBAR and RELAX.
    pub coupling: CouplingArg,
    /// Concrete's temperature.
    pub concrete_temperature: f32,
    /// The methods to run.
    pub estimators: Vec<ToyEstimator>,
    /// One independent run per seed and method.
    pub seeds: Vec<u64>,
}

impl Default for ToyConfig {
    /// The paper's Figure 1 protocol with seed 0.
    fn default() -> Self {
        Self {
            target: 0.499,
            steps: 10_000,
            lr: 0.01,
            log_every: 10,
            var_samples: 1000,
            coupling: CouplingArg::Tied,
            concrete_temperature: 0.5,
            estimators: all_methods(),
            seeds: vec![0],
        }
    }
}

/// The estimator state of one run (`None`: the exact gradient).
pub(crate) struct Method(pub(crate) Option<Box<dyn BernoulliEstimator<1>>>);

impl Method {
    pub(crate) fn new(
        kind: ToyEstimator,
        cfg: &ToyConfig,
        rng: &mut Xoshiro128PlusPlus,
    ) -> Result<Self> {
        if kind == exact() {
            return Ok(Method(None));
        }
        let spec = BernoulliSpec {
            lr: cfg.lr,
            coupling: Coupling::from(cfg.coupling),
            concrete_temperature: cfg.concrete_temperature,
            // c = 0 at the start: RELAX begins as REINFORCE (the reference code).
            relax_init_scale: 0.0,
        };
        match kind.entry().build {
            Build::Bernoulli(b) => Ok(Method(Some((b.one)(&spec, rng)?))),
            _ => Err(format!("{} does not run on the toy", kind.name()).into()),
        }
    }

    /// One estimate of `dL/dl` (and, for REBAR/RELAX in training mode, one control-variate
    /// step). `None` for the exact method, whose gradient needs no sample.
    pub(crate) fn estimate(
        &mut self,
        l: &[f32; 1],
        f: &mut Quadratic<1>,
        rng: &mut Xoshiro128PlusPlus,
    ) -> Result<Option<Estimate<1>>> {
        match &mut self.0 {
            None => Ok(None),
            Some(e) => Ok(Some(e.estimate(l, f, rng)?)),
        }
    }

    /// A copy whose control variate does not learn, for measuring the variance at the current
    /// parameters without changing them.
    fn frozen(&self) -> Self {
        Method(self.0.as_ref().map(|e| e.frozen()))
    }
}

/// The recorded curves of one method under one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToyRun {
    /// The method.
    pub estimator: ToyEstimator,
    /// The seed.
    pub seed: u64,
    /// Steps at which the curves were recorded (0, log_every, ..., steps).
    pub steps: Vec<usize>,
    /// `theta = sigmoid(l)` at those steps.
    pub theta: Vec<f64>,
    /// Exact loss at those steps.
    pub loss: Vec<f64>,
    /// `ln(Var + 1e-20)` of `var_samples` fresh estimates at those steps (NaN for `Exact`,
    /// written as JSON null and read back as NaN).
    #[serde(deserialize_with = "sweep::null_as_nan")]
    pub log_var: Vec<f64>,
    /// Evaluations of `f(b)` made by the training steps (not the measurements).
    pub train_f_evals: u64,
    /// Relaxed evaluations `f(x)` made by the training steps.
    pub train_relaxed_evals: u64,
}

impl ToyRun {
    /// The exact loss after the last step.
    pub fn final_loss(&self) -> f64 {
        *self.loss.last().expect("a run records at least one point")
    }

    /// `theta` after the last step.
    pub fn final_theta(&self) -> f64 {
        *self.theta.last().expect("a run records at least one point")
    }

    /// Mean of the recorded log-variances (NaN for `Exact`).
    pub fn mean_log_var(&self) -> f64 {
        mean(&self.log_var)
    }
}

/// Log-variance of `n` fresh estimates of `method` (frozen) at `l`.
pub(crate) fn measure_log_var(
    method: &Method,
    l: &[f32; 1],
    target: f32,
    n: usize,
    rng: &mut Xoshiro128PlusPlus,
) -> Result<f64> {
    if method.0.is_none() {
        return Ok(f64::NAN);
    }
    let mut frozen = method.frozen();
    let mut f = Quadratic::new([target]);
    let mut m = Moments::default();
    for _ in 0..n {
        if let Some(e) = frozen.estimate(l, &mut f, rng)? {
            m.push(e.grad[0] as f64);
        }
    }
    Ok(m.ln_variance())
}

/// Runs one method under one seed; `progress(k)` is told every `k` steps done.
pub fn run_one(
    cfg: &ToyConfig,
    kind: ToyEstimator,
    seed: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ToyRun> {
    let t = cfg.target;
    let mut train_rng = seed::rng(seed, 2 * kind.stream());
    let mut measure_rng = seed::rng(seed, 2 * kind.stream() + 1);
    let mut method = Method::new(kind, cfg, &mut train_rng)?;
    let mut f = Quadratic::new([t]);
    let mut l = [0.0f32];
    let mut adam = Adam::<1>::new(AdamConfig::new(cfg.lr))?;
    let log_every = cfg.log_every.max(1);
    let points = cfg.steps / log_every + 2;
    let mut run = ToyRun {
        estimator: kind,
        seed,
        steps: Vec::with_capacity(points),
        theta: Vec::with_capacity(points),
        loss: Vec::with_capacity(points),
        log_var: Vec::with_capacity(points),
        train_f_evals: 0,
        train_relaxed_evals: 0,
    };
    let mut since_report = 0u64;
    for step in 0..=cfg.steps {
        if step % log_every == 0 || step == cfg.steps {
            let theta = sigmoid(l[0]) as f64;
            run.steps.push(step);
            run.theta.push(theta);
            run.loss.push(toy_exact_loss(theta, t as f64));
            let lv = measure_log_var(&method, &l, t, cfg.var_samples, &mut measure_rng)?;
            run.log_var.push(lv);
            progress(since_report);
            since_report = 0;
        }
        if step == cfg.steps {
            break;
        }
        if step % 256 == 0 {
            crate::interrupt::check()?;
        }
        let grad = match method.estimate(&l, &mut f, &mut train_rng)? {
            Some(e) => e.grad[0],
            None => toy_exact_grad_logit(sigmoid(l[0]) as f64, t as f64) as f32,
        };
        adam.step(&mut l, &[grad])?;
        since_report += 1;
    }
    progress(since_report);
    run.train_f_evals = f.f_evals;
    run.train_relaxed_evals = f.relaxed_evals;
    Ok(run)
}

/// All runs of a configuration, with the wall time they took.
#[derive(Debug, Clone, Serialize)]
pub struct ToyResult {
    /// The configuration.
    pub config: ToyConfig,
    /// One run per (method, seed), methods in `config.estimators` order, seeds inner.
    pub runs: Vec<ToyRun>,
    /// Wall time of all runs, seconds.
    pub wall_time_s: f64,
}

impl ToyResult {
    /// The runs of one method.
    pub fn runs_of(&self, kind: ToyEstimator) -> impl Iterator<Item = &ToyRun> {
        self.runs.iter().filter(move |r| r.estimator == kind)
    }

    /// Mean over seeds of the final exact loss of `kind`.
    pub fn final_loss(&self, kind: ToyEstimator) -> f64 {
        mean(
            &self
                .runs_of(kind)
                .map(ToyRun::final_loss)
                .collect::<Vec<_>>(),
        )
    }

    /// Mean over seeds and log points of the log-variance of `kind`.
    pub fn mean_log_var(&self, kind: ToyEstimator) -> f64 {
        mean(
            &self
                .runs_of(kind)
                .map(ToyRun::mean_log_var)
                .collect::<Vec<_>>(),
        )
    }
}

/// The independent runs of `cfg`, (method, seed) pairs, methods in `cfg.estimators` order
/// and seeds inner: the order of [`ToyResult::runs`] and the numbering of `--run-index`.
pub fn jobs(cfg: &ToyConfig) -> Vec<(ToyEstimator, u64)> {
    cfg.estimators
        .iter()
        .flat_map(|&k| cfg.seeds.iter().map(move |&s| (k, s)))
        .collect()
}

/// Runs every (method, seed) pair of `cfg` in parallel (rayon).
pub fn run(cfg: &ToyConfig, progress: &(dyn Fn(u64) + Sync)) -> Result<ToyResult> {
    use rayon::prelude::*;
    let start = Instant::now();
    let jobs = jobs(cfg);
    let runs = jobs
        .par_iter()
        .map(|&(k, s)| {
            run_one(cfg, k, s, progress)
                .map_err(|e| format!("toy run {} seed {s}: {e}", k.label()).into())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ToyResult {
        config: cfg.clone(),
        runs,
        wall_time_s: start.elapsed().as_secs_f64(),
    })
}
