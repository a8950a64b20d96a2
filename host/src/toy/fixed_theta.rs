//! Figure 3 of the paper: the relaxations the control variates learn when `theta` is held at
//! 0.5 and only `phi` is trained on the variance loss.
//!
//! REBAR can only warp the quadratic `f` (its `c = eta f(sigma_lambda(z))` has two
//! parameters), while RELAX's network is free-form. Both are drawn against the hard `f(H(z))`
//! over `u` in (0, 1), with `z(u) = l + log u - log(1 - u)` at `l = 0`.

use super::{measure_log_var, Method, ToyConfig, ToyEstimator, ToyRelax};
use crate::estimators::{EstimatorId, Wrapped};
use crate::objective::Quadratic;
use crate::seed;
use crate::Result;
use relax_core::dist::{Bernoulli, Relaxed};
use relax_core::estimator::Rebar;
use serde::Serialize;
use std::time::Instant;

/// The methods trained at fixed `theta`: REINFORCE (the reference variance), REBAR and RELAX.
pub fn fixed_theta_methods() -> [ToyEstimator; 3] {
    ["reinforce", "rebar", "relax"].map(EstimatorId::named)
}

/// The learned relaxations and the variance curves at `theta = 0.5`.
#[derive(Debug, Clone, Serialize)]
pub struct FixedThetaResult {
    /// The configuration (`estimators` is ignored: see [`fixed_theta_methods`]; the first seed
    /// is used).
    pub config: ToyConfig,
    /// Steps at which the log-variance was recorded.
    pub steps: Vec<usize>,
    /// `ln(Var + 1e-20)` per method of [`fixed_theta_methods`], at `steps`.
    pub log_var: Vec<(ToyEstimator, Vec<f64>)>,
    /// The noise grid `u_i = (i + 1/2) / points`.
    pub u: Vec<f64>,
    /// `z(u)` at `l = 0`.
    pub z: Vec<f64>,
    /// The hard objective `f(H(z(u)))`.
    pub f_hard: Vec<f64>,
    /// REBAR's learned `eta f(sigma_lambda(z(u)))`.
    pub rebar_c: Vec<f64>,
    /// RELAX's learned `c_phi(z(u))`.
    pub relax_c: Vec<f64>,
    /// REBAR's learned `eta`.
    pub rebar_eta: f32,
    /// REBAR's learned temperature.
    pub rebar_temperature: f32,
    /// RELAX's learned output scale.
    pub relax_scale: f32,
    /// RELAX's learned temperature.
    pub relax_temperature: f32,
    /// Wall time, seconds.
    pub wall_time_s: f64,
}

/// Trains `kind`'s control variate for `cfg.steps` steps at `l = 0`, recording the
/// log-variance every `cfg.log_every` steps.
fn train_at_half(
    cfg: &ToyConfig,
    kind: ToyEstimator,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Method, Vec<usize>, Vec<f64>)> {
    let seed = cfg.seeds.first().copied().unwrap_or(0);
    // Streams distinct from the trained-theta runs' (which use 2k and 2k + 1 for k < 8).
    let mut train_rng = seed::rng(seed, 100 + 2 * kind.stream());
    let mut measure_rng = seed::rng(seed, 101 + 2 * kind.stream());
    let mut method = Method::new(kind, cfg, &mut train_rng)?;
    let mut f = Quadratic::new([cfg.target]);
    let l = [0.0f32];
    let log_every = cfg.log_every.max(1);
    let (mut steps, mut log_var) = (Vec::new(), Vec::new());
    let mut since = 0;
    for step in 0..=cfg.steps {
        if step % log_every == 0 || step == cfg.steps {
            steps.push(step);
            log_var.push(measure_log_var(
                &method,
                &l,
                cfg.target,
                cfg.var_samples,
                &mut measure_rng,
            )?);
            progress(since);
            since = 0;
        }
        if step < cfg.steps {
            // Only the control variate learns; the gradient for l is discarded.
            method.estimate(&l, &mut f, &mut train_rng)?;
            since += 1;
        }
    }
    Ok((method, steps, log_var))
}

/// Runs the three methods of [`fixed_theta_methods`] in parallel and evaluates the learned
/// relaxations on `points` values of `u`.
pub fn run_fixed_theta(
    cfg: &ToyConfig,
    points: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FixedThetaResult> {
    use rayon::prelude::*;
    let start = Instant::now();
    let methods = fixed_theta_methods();
    let trained = methods
        .par_iter()
        .map(|&k| train_at_half(cfg, k, progress))
        .collect::<Result<Vec<_>>>()?;
    let steps = trained[0].1.clone();
    let log_var = methods
        .iter()
        .zip(&trained)
        .map(|(&k, (_, _, lv))| (k, lv.clone()))
        .collect();
    let rebar = trained[1]
        .0
         .0
        .as_ref()
        .map(|e| e.as_any())
        .and_then(|a| a.downcast_ref::<Wrapped<Rebar<Bernoulli<1>, 1>>>())
        .map(|w| &w.inner)
        .ok_or("fixed theta: the second method is not REBAR")?;
    let relax = trained[2]
        .0
         .0
        .as_ref()
        .map(|e| e.as_any())
        .and_then(|a| a.downcast_ref::<Wrapped<ToyRelax>>())
        .map(|w| &w.inner)
        .ok_or("fixed theta: the third method is not the toy's RELAX")?;
    let (eta, lam_rebar) = (rebar.cv().eta(), rebar.cv().temperature());
    let t = cfg.target as f64;
    let n = points.max(2);
    let u: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
    let z: Vec<f64> = u.iter().map(|&u| u.ln() - (-u).ln_1p()).collect();
    let f_hard = z
        .iter()
        .map(|&z| {
            let b = if z > 0.0 { 1.0 } else { 0.0 };
            (b - t) * (b - t)
        })
        .collect();
    let rebar_c = z
        .iter()
        .map(|&z| {
            let x = Bernoulli::<1>::relax(&[z as f32], lam_rebar)[0] as f64;
            eta as f64 * (x - t) * (x - t)
        })
        .collect();
    let relax_c = z
        .iter()
        .map(|&z| relax.cv().value(&[z as f32]) as f64)
        .collect();
    Ok(FixedThetaResult {
        config: cfg.clone(),
        steps,
        log_var,
        u,
        z,
        f_hard,
        rebar_c,
        relax_c,
        rebar_eta: eta,
        rebar_temperature: lam_rebar,
        relax_scale: relax.cv().scale(),
        relax_temperature: relax.cv().temperature(),
        wall_time_s: start.elapsed().as_secs_f64(),
    })
}
