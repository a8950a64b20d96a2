//! The paper's toy problem (section 6.1, Figure 1): minimise `E_{b ~ Bernoulli(theta)}[(b - t)^2]`
//! over the logit `l = logit(theta)`, with `t = 0.499` so the two outcomes differ by only 0.002.
//!
//! Protocol of the reference code (`rebar_toy.py`): one bit, batch 1, `l` initialised at 0
//! (`theta = 0.5`), Adam with step 0.01 on `l` and on every control-variate parameter, 10,000
//! steps; every 10 steps the exact loss `L(theta) = theta (1 - t)^2 + (1 - theta) t^2` and the
//! log-variance of 1000 fresh estimates at the current parameters (control variate frozen).
//! RELAX takes its control-variate step from the same sample as the `l` step (Algorithm 2).

pub mod fixed_theta;
pub mod report;

use crate::objective::{toy_exact_grad_logit, toy_exact_loss, Quadratic};
use crate::seed;
use crate::stats::{mean, Moments};
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::dist::Bernoulli;
use relax_core::estimator::{
    Concrete, Coupling, CvInput, DisArm, Estimate, Estimator, NeuralCv, Rebar, RebarCv, Reinforce,
    Relax, Rloo,
};
use relax_core::math::sigmoid;
use relax_core::nn::{mlp_param_count, Activation, Mlp};
use relax_core::optim::{Adam, AdamConfig};
use serde::Serialize;
use std::time::Instant;

/// Parameter count of the toy control variate's network (1 input, 10 tanh units, 1 output).
pub const TOY_CV_PARAMS: usize = mlp_param_count(1, 10, 1, 1);
/// The toy control variate's network.
pub type ToyNet = Mlp<1, 10, 1, 1, TOY_CV_PARAMS>;
/// The toy control variate of the reference code: `c(z) = s * MLP(2 sigma_lambda(z) - 1)`.
pub type ToyCv = NeuralCv<Bernoulli<1>, 1, 0, 1, 10, 1, TOY_CV_PARAMS>;
/// RLOO's number of samples per estimate: the smallest `K` with a leave-one-out baseline,
/// so it costs 2 evaluations of `f` per step, as DisARM does.
pub const RLOO_K: usize = 2;

/// The gradient methods compared on the toy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ToyEstimator {
    /// Adam on the exact gradient `dL/dl = (1 - 2t) theta (1 - theta)` (the reference curve).
    Exact,
    /// Plain REINFORCE, no baseline (as in the paper's figure).
    Reinforce,
    /// Concrete / Gumbel-softmax at temperature 0.5 (biased: it follows the relaxed loss).
    Concrete,
    /// REBAR: `c = eta f(sigma_lambda(z))`, `eta` and `lambda` tuned online.
    Rebar,
    /// RELAX with the paper's 10-tanh-unit control variate.
    Relax,
    /// REINFORCE with `K = 2` samples and a leave-one-out baseline.
    Rloo,
    /// DisARM (antithetic pair, 2 evaluations).
    Disarm,
}

impl ToyEstimator {
    /// Every method, in the order plots and tables list them.
    pub const ALL: [ToyEstimator; 7] = [
        ToyEstimator::Exact,
        ToyEstimator::Reinforce,
        ToyEstimator::Concrete,
        ToyEstimator::Rebar,
        ToyEstimator::Relax,
        ToyEstimator::Rloo,
        ToyEstimator::Disarm,
    ];

    /// The display name (legends, tables).
    pub fn label(self) -> &'static str {
        match self {
            ToyEstimator::Exact => "Exact gradient",
            ToyEstimator::Reinforce => "REINFORCE",
            ToyEstimator::Concrete => "Concrete",
            ToyEstimator::Rebar => "REBAR",
            ToyEstimator::Relax => "RELAX",
            ToyEstimator::Rloo => "RLOO (K=2)",
            ToyEstimator::Disarm => "DisARM",
        }
    }

    /// The short machine name (CSV, JSON, command line).
    pub fn id(self) -> &'static str {
        match self {
            ToyEstimator::Exact => "exact",
            ToyEstimator::Reinforce => "reinforce",
            ToyEstimator::Concrete => "concrete",
            ToyEstimator::Rebar => "rebar",
            ToyEstimator::Relax => "relax",
            ToyEstimator::Rloo => "rloo",
            ToyEstimator::Disarm => "disarm",
        }
    }

    /// A fixed plot colour per method, so both panels and every figure agree.
    pub fn color(self) -> (u8, u8, u8) {
        match self {
            ToyEstimator::Exact => (0, 0, 0),
            other => crate::plot::palette(other as usize - 1),
        }
    }

    pub(crate) fn stream(self) -> u64 {
        self as u64 + 1
    }
}

/// How RELAX and REBAR couple `z~` to `z` (command-line mirror of [`Coupling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
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
#[derive(Debug, Clone, Serialize)]
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
            estimators: ToyEstimator::ALL.to_vec(),
            seeds: vec![0],
        }
    }
}

/// The estimator state of one run.
#[derive(Debug, Clone)]
pub(crate) enum Method {
    Exact,
    Reinforce(Reinforce<Bernoulli<1>, 1>),
    Concrete(Concrete<Bernoulli<1>, 1>),
    Rebar(Rebar<Bernoulli<1>, 1>),
    // Boxed: the network, its gradient and Adam moments make this variant ten times the others.
    Relax(Box<Relax<Bernoulli<1>, 1, ToyCv>>),
    Rloo(Rloo<Bernoulli<1>, 1, RLOO_K>),
    Disarm(DisArm<1>),
}

/// The paper's toy RELAX control variate: 10 tanh units on `2 sigma_lambda(z) - 1`, output
/// scale 0 (so `c = 0` at the start and RELAX begins as REINFORCE), `lambda = 0.5`.
pub fn toy_relax_cv(lr: f32, rng: &mut Xoshiro128PlusPlus) -> Result<ToyCv> {
    let net = ToyNet::new_random(Activation::Tanh, 1.0, rng);
    Ok(NeuralCv::new(
        net,
        CvInput::RelaxedSigned,
        0.0,
        0.5,
        AdamConfig::new(lr),
    )?)
}

impl Method {
    pub(crate) fn new(
        kind: ToyEstimator,
        cfg: &ToyConfig,
        rng: &mut Xoshiro128PlusPlus,
    ) -> Result<Self> {
        let coupling = Coupling::from(cfg.coupling);
        Ok(match kind {
            ToyEstimator::Exact => Method::Exact,
            ToyEstimator::Reinforce => Method::Reinforce(Reinforce::new()),
            ToyEstimator::Concrete => Method::Concrete(Concrete::new(cfg.concrete_temperature)?),
            ToyEstimator::Rebar => {
                Method::Rebar(Rebar::new(RebarCv::paper_default(cfg.lr)?).with_coupling(coupling))
            }
            ToyEstimator::Relax => Method::Relax(Box::new(
                Relax::new(toy_relax_cv(cfg.lr, rng)?).with_coupling(coupling),
            )),
            ToyEstimator::Rloo => Method::Rloo(Rloo::new()?),
            ToyEstimator::Disarm => Method::Disarm(DisArm::new()),
        })
    }

    /// One estimate of `dL/dl` (and, for REBAR/RELAX in training mode, one control-variate
    /// step). `None` for the exact method, whose gradient needs no sample.
    pub(crate) fn estimate(
        &mut self,
        l: &[f32; 1],
        f: &mut Quadratic<1>,
        rng: &mut Xoshiro128PlusPlus,
    ) -> Result<Option<Estimate<1>>> {
        Ok(Some(match self {
            Method::Exact => return Ok(None),
            Method::Reinforce(e) => e.estimate(l, f, rng)?,
            Method::Concrete(e) => e.estimate(l, f, rng)?,
            Method::Rebar(e) => e.estimate(l, f, rng)?,
            Method::Relax(e) => e.estimate(l, f, rng)?,
            Method::Rloo(e) => e.estimate(l, f, rng)?,
            Method::Disarm(e) => e.estimate(l, f, rng)?,
        }))
    }

    /// A copy whose control variate does not learn, for measuring the variance at the current
    /// parameters without changing them.
    fn frozen(&self) -> Self {
        let mut m = self.clone();
        match &mut m {
            Method::Rebar(e) => e.set_training(false),
            Method::Relax(e) => e.set_training(false),
            _ => {}
        }
        m
    }
}

/// The recorded curves of one method under one seed.
#[derive(Debug, Clone, Serialize)]
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
    /// `ln(Var + 1e-20)` of `var_samples` fresh estimates at those steps (NaN for `Exact`).
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
    if matches!(method, Method::Exact) {
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

/// Runs every (method, seed) pair of `cfg` in parallel (rayon).
pub fn run(cfg: &ToyConfig, progress: &(dyn Fn(u64) + Sync)) -> Result<ToyResult> {
    use rayon::prelude::*;
    let start = Instant::now();
    let jobs: Vec<(ToyEstimator, u64)> = cfg
        .estimators
        .iter()
        .flat_map(|&k| cfg.seeds.iter().map(move |&s| (k, s)))
        .collect();
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
