//! The paper's CartPole experiment (section 6.3, Table 2, Figure 5): RELAX against A2C (and
//! REINFORCE) policy gradients, one episode per update, on the core's CartPole.
//!
//! Each seed trains for a fixed number of episodes; "solved" is the first episode at which
//! the mean return of the last 100 episodes reaches 195 (gym's CartPole-v0 criterion, which
//! the paper and its code use). Every `var_every` episodes the log-variance of the policy
//! gradient is measured from `var_episodes` extra episodes at the current parameters (no
//! update), as in the caption of the paper's Figure 5.

use crate::output::{results_dir, write_json, CsvWriter};
use crate::plot::{line_plot, palette, LegendAt, Panel, Series};
use crate::seed;
use crate::Result;
use rayon::prelude::*;
use relax_core::rl::a2c::CartPoleA2c;
use relax_core::rl::cartpole::CartPole;
use relax_core::rl::reinforce::CartPoleReinforce;
use relax_core::rl::relax::CartPoleRelax;
use relax_core::rl::{Learner, PgConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Parameters of the CartPole policy 4-10-10-2.
pub const POLICY_PARAMS: usize = relax_core::rl::policy_param_count(4, 2, 10);

/// The policy-gradient method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RlEstimator {
    /// RELAX with the action-dependent control variate c(z, s).
    Relax,
    /// A2C: a learned state-value baseline.
    A2c,
    /// REINFORCE with a moving-average baseline.
    Reinforce,
}

impl RlEstimator {
    /// The lower-case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            RlEstimator::Relax => "relax",
            RlEstimator::A2c => "a2c",
            RlEstimator::Reinforce => "reinforce",
        }
    }
}

/// Bytes of the learner's whole state (networks, optimizer moments, control variate or
/// value network): the struct is fixed-size and episodes need no buffer, so this plus a
/// stack frame is all the RAM a learner needs (the firmware measures the stack).
pub fn learner_state_bytes(e: RlEstimator) -> usize {
    match e {
        RlEstimator::Relax => std::mem::size_of::<CartPoleRelax>(),
        RlEstimator::A2c => std::mem::size_of::<CartPoleA2c>(),
        RlEstimator::Reinforce => std::mem::size_of::<CartPoleReinforce>(),
    }
}

/// One CartPole run configuration (all seeds).
#[derive(Debug, Clone, Serialize)]
pub struct CartPoleConfig {
    /// The method.
    pub estimator: RlEstimator,
    /// The seeds (each an independent run).
    pub seeds: Vec<u64>,
    /// Policy step size.
    pub lr: f32,
    /// Control-variate / value step size relative to `lr`.
    pub cv_lr_scale: f32,
    /// Training episodes per seed.
    pub episodes: u32,
    /// Stop a seed as soon as it is solved (for the hyperparameter search).
    pub stop_when_solved: bool,
    /// Measure the gradient variance every this many episodes (0: never).
    pub var_every: u32,
    /// Episodes per variance measurement.
    pub var_episodes: u32,
}

/// One seed's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Return of every training episode.
    pub returns: Vec<f32>,
    /// Steps of every training episode.
    pub steps: Vec<u32>,
    /// First episode (1-based) with a 100-episode mean >= 195.
    pub solved_at: Option<u32>,
    /// (episode, ln of the mean over policy parameters of the gradient's variance).
    pub log_variance: Vec<(u32, f64)>,
    /// Wall time of this seed, seconds.
    pub wall_seconds: f64,
}

/// Mean return of the last 100 episodes at each episode (fewer at the start).
pub fn mean100(returns: &[f32]) -> Vec<f64> {
    let mut out = Vec::with_capacity(returns.len());
    let mut sum = 0.0f64;
    for (i, &r) in returns.iter().enumerate() {
        sum += r as f64;
        if i >= 100 {
            sum -= returns[i - 100] as f64;
        }
        out.push(sum / (i + 1).min(100) as f64);
    }
    out
}

/// The first episode (1-based, at least 100) whose 100-episode mean return is >= `threshold`.
pub fn solved_at(returns: &[f32], threshold: f64) -> Option<u32> {
    mean100(returns)
        .iter()
        .enumerate()
        .find(|(i, m)| *i >= 99 && **m >= threshold)
        .map(|(i, _)| i as u32 + 1)
}

fn variance_of<L: Learner<4, POLICY_PARAMS> + Clone>(
    learner: &L,
    episodes: u32,
    rng: &mut rand_xoshiro::Xoshiro128PlusPlus,
) -> Result<f64> {
    let mut probe = learner.clone();
    let mut env = CartPole::new();
    let mut g = [0.0f32; POLICY_PARAMS];
    let mut s1 = [0.0f64; POLICY_PARAMS];
    let mut s2 = [0.0f64; POLICY_PARAMS];
    for _ in 0..episodes {
        probe.episode_gradient(&mut env, rng, &mut g)?;
        for k in 0..POLICY_PARAMS {
            s1[k] += g[k] as f64;
            s2[k] += (g[k] as f64).powi(2);
        }
    }
    let n = episodes as f64;
    let mean_var = (0..POLICY_PARAMS)
        .map(|k| (s2[k] - s1[k] * s1[k] / n) / (n - 1.0).max(1.0))
        .sum::<f64>()
        / POLICY_PARAMS as f64;
    Ok((mean_var + 1e-20).ln())
}

fn train<L: Learner<4, POLICY_PARAMS> + Clone>(
    mut learner: L,
    cfg: &CartPoleConfig,
    seed: u64,
    progress: &AtomicU64,
) -> Result<SeedRun> {
    let start = Instant::now();
    // Stream 1 drives training (the learner was built from stream 0); stream 2 measures.
    let mut rng = seed::rng(seed, 1);
    let mut measure_rng = seed::rng(seed, 2);
    let mut env = CartPole::new();
    let mut run = SeedRun {
        seed,
        returns: Vec::new(),
        steps: Vec::new(),
        solved_at: None,
        log_variance: Vec::new(),
        wall_seconds: 0.0,
    };
    for ep in 1..=cfg.episodes {
        if cfg.var_every > 0 && (ep - 1) % cfg.var_every == 0 {
            let lv = variance_of(&learner, cfg.var_episodes, &mut measure_rng)?;
            run.log_variance.push((ep - 1, lv));
        }
        let report = learner.train_episode(&mut env, &mut rng)?;
        run.returns.push(report.ret);
        run.steps.push(report.steps);
        progress.fetch_add(1, Ordering::Relaxed);
        if run.solved_at.is_none() {
            run.solved_at = solved_at(&run.returns, 195.0);
            if run.solved_at.is_some() && cfg.stop_when_solved {
                progress.fetch_add((cfg.episodes - ep) as u64, Ordering::Relaxed);
                break;
            }
        }
    }
    run.wall_seconds = start.elapsed().as_secs_f64();
    Ok(run)
}

/// Trains one seed.
pub fn run_seed(cfg: &CartPoleConfig, seed: u64, progress: &AtomicU64) -> Result<SeedRun> {
    let pg = PgConfig::paper(cfg.lr, cfg.cv_lr_scale);
    let mut init = seed::rng(seed, 0);
    match cfg.estimator {
        RlEstimator::Relax => train(CartPoleRelax::new(pg, &mut init)?, cfg, seed, progress),
        RlEstimator::A2c => train(CartPoleA2c::new(pg, &mut init)?, cfg, seed, progress),
        RlEstimator::Reinforce => {
            train(CartPoleReinforce::new(pg, &mut init)?, cfg, seed, progress)
        }
    }
}

/// Trains every seed in parallel; `progress` counts finished episodes.
pub fn run_all(cfg: &CartPoleConfig, progress: &AtomicU64) -> Result<Vec<SeedRun>> {
    cfg.seeds
        .par_iter()
        .map(|&s| run_seed(cfg, s, progress))
        .collect()
}

/// Episodes-to-solve statistics over seeds (unsolved seeds count as `None`).
#[derive(Debug, Clone, Serialize)]
pub struct SolveStats {
    /// Episodes to solve, per seed (in seed order).
    pub per_seed: Vec<Option<u32>>,
    /// Seeds that solved.
    pub solved: usize,
    /// Mean over the solved seeds.
    pub mean: Option<f64>,
    /// Sample standard deviation over the solved seeds.
    pub std: Option<f64>,
}

impl SolveStats {
    /// From the runs.
    pub fn of(runs: &[SeedRun]) -> Self {
        let per_seed: Vec<Option<u32>> = runs.iter().map(|r| r.solved_at).collect();
        let xs: Vec<f64> = per_seed.iter().flatten().map(|&v| v as f64).collect();
        let n = xs.len();
        let mean = (n > 0).then(|| xs.iter().sum::<f64>() / n as f64);
        let std = mean
            .filter(|_| n > 1)
            .map(|m| (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
        Self {
            per_seed,
            solved: n,
            mean,
            std,
        }
    }
}

/// The JSON summary of one run.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// The configuration.
    pub config: &'a CartPoleConfig,
    /// Episodes to solve.
    pub episodes_to_solve: SolveStats,
    /// Wall time of each seed, seconds.
    pub wall_seconds_per_seed: Vec<f64>,
    /// Wall time of the whole run, seconds.
    pub wall_seconds: f64,
    /// Mean training steps per second per seed (learning included).
    pub steps_per_second: f64,
    /// Bytes of the learner's state ([`learner_state_bytes`]).
    pub learner_state_bytes: usize,
}

/// Median and 25th/75th percentiles across curves of possibly different lengths, over
/// the curves still running at each index.
pub fn quantile_band(curves: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let len = curves.iter().map(Vec::len).max().unwrap_or(0);
    let (mut med, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..len {
        let mut v: Vec<f64> = curves.iter().filter_map(|c| c.get(i).copied()).collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (v.len() - 1) as f64;
            let (a, b) = (pos.floor() as usize, pos.ceil() as usize);
            v[a] + (v[b] - v[a]) * (pos - a as f64)
        };
        med.push(q(0.5));
        lo.push(q(0.25));
        hi.push(q(0.75));
    }
    (med, lo, hi)
}

/// Writes `returns.csv`, `log_variance.csv`, `summary.json` and the PNGs for a set of runs
/// (one per method) into `<out>/rl-cartpole/`. Returns the directory.
pub fn write_results(out: &Path, runs: &[(CartPoleConfig, Vec<SeedRun>, f64)]) -> Result<PathBuf> {
    let dir = results_dir(out, "rl-cartpole")?;
    let mut csv = CsvWriter::create(
        &dir.join("returns.csv"),
        &["estimator", "seed", "episode", "return", "steps", "mean100"],
    )?;
    let mut vcsv = CsvWriter::create(
        &dir.join("log_variance.csv"),
        &["estimator", "seed", "episode", "ln_mean_variance"],
    )?;
    let mut reward_series = Vec::new();
    let mut var_series = Vec::new();
    let mut summaries = Vec::new();
    for (i, (cfg, seeds, wall)) in runs.iter().enumerate() {
        let name = cfg.estimator.name();
        let mut curves = Vec::new();
        for r in seeds {
            let m = mean100(&r.returns);
            for (e, (&ret, &st)) in r.returns.iter().zip(&r.steps).enumerate() {
                csv.row(&[&name, &r.seed, &(e + 1), &ret, &st, &m[e]])?;
            }
            for &(e, lv) in &r.log_variance {
                vcsv.row(&[&name, &r.seed, &e, &lv])?;
            }
            curves.push(r.returns.iter().map(|&x| x as f64).collect::<Vec<_>>());
        }
        let (med, lo, hi) = quantile_band(&curves);
        let x: Vec<f64> = (1..=med.len()).map(|e| e as f64).collect();
        reward_series.push(
            Series::new(name.to_uppercase(), x, med)
                .with_band(lo, hi)
                .with_color(palette(i)),
        );
        let var_curves: Vec<Vec<f64>> = seeds
            .iter()
            .map(|r| r.log_variance.iter().map(|&(_, v)| v).collect())
            .collect();
        if var_curves.iter().any(|c| !c.is_empty()) {
            let every = cfg.var_every.max(1) as f64;
            let (vm, vlo, vhi) = quantile_band(&var_curves);
            let vx: Vec<f64> = (0..vm.len()).map(|k| k as f64 * every).collect();
            var_series.push(
                Series::new(name.to_uppercase(), vx, vm)
                    .with_band(vlo, vhi)
                    .with_color(palette(i)),
            );
        }
        let total_steps: u64 = seeds.iter().flat_map(|r| &r.steps).map(|&s| s as u64).sum();
        let seed_secs: f64 = seeds.iter().map(|r| r.wall_seconds).sum();
        summaries.push(Summary {
            config: cfg,
            episodes_to_solve: SolveStats::of(seeds),
            wall_seconds_per_seed: seeds.iter().map(|r| r.wall_seconds).collect(),
            wall_seconds: *wall,
            steps_per_second: total_steps as f64 / seed_secs.max(1e-9),
            learner_state_bytes: learner_state_bytes(cfg.estimator),
        });
    }
    csv.finish()?;
    vcsv.finish()?;
    write_json(&dir.join("summary.json"), &summaries)?;
    line_plot(
        &dir.join("rewards.png"),
        &[Panel {
            title: "CartPole: return per episode (median, 25-75% over seeds)".into(),
            x_label: "Episode".into(),
            y_label: "Return".into(),
            series: reward_series,
            y_range: Some((0.0, 520.0)),
            legend: LegendAt::LowerRight,
            headroom: 0.0,
        }],
        (900, 600),
    )?;
    if !var_series.is_empty() {
        line_plot(
            &dir.join("log_variance.png"),
            &[Panel {
                title: "CartPole: log-variance of the policy gradient".into(),
                x_label: "Episode".into(),
                y_label: "ln(mean over parameters of Var[g])".into(),
                series: var_series,
                y_range: None,
                legend: LegendAt::UpperRight,
                headroom: 0.15,
            }],
            (900, 600),
        )?;
    }
    Ok(dir)
}

/// The hyperparameter grid: the paper's learning rates, and control-variate / value
/// learning-rate scales. The paper's scales {0.01, 0.003, 0.001} multiplied a loss inside one
/// shared Adam, where a constant factor on a separate set of parameters has (almost) no
/// effect; here the scale multiplies that optimizer's step size, so 1 and 0.1 are included.
pub const GRID_LR: [f32; 3] = [0.01, 0.003, 0.001];
/// See [`GRID_LR`].
pub const GRID_SCALE: [f32; 5] = [1.0, 0.1, 0.01, 0.003, 0.001];

/// One grid point's result.
#[derive(Debug, Clone, Serialize)]
pub struct GridPoint {
    /// The method.
    pub estimator: RlEstimator,
    /// Policy step size.
    pub lr: f32,
    /// Control-variate / value step-size scale.
    pub cv_lr_scale: f32,
    /// Episodes to solve per seed.
    pub episodes_to_solve: SolveStats,
    /// Mean episodes to solve, an unsolved seed counting as the episode budget.
    pub score: f64,
}

/// Runs the grid for `estimator` on `seeds` (each run stops when solved); returns every
/// point, best (lowest score) first.
pub fn grid_search(
    estimator: RlEstimator,
    seeds: &[u64],
    episodes: u32,
    progress: &AtomicU64,
) -> Result<Vec<GridPoint>> {
    let points: Vec<(f32, f32)> = GRID_LR
        .iter()
        .flat_map(|&lr| GRID_SCALE.iter().map(move |&s| (lr, s)))
        .collect();
    let mut results: Vec<GridPoint> = points
        .par_iter()
        .map(|&(lr, cv_lr_scale)| {
            let cfg = CartPoleConfig {
                estimator,
                seeds: seeds.to_vec(),
                lr,
                cv_lr_scale,
                episodes,
                stop_when_solved: true,
                var_every: 0,
                var_episodes: 0,
            };
            let runs = run_all(&cfg, progress)?;
            let stats = SolveStats::of(&runs);
            let score = stats
                .per_seed
                .iter()
                .map(|s| s.unwrap_or(episodes) as f64)
                .sum::<f64>()
                / seeds.len() as f64;
            Ok(GridPoint {
                estimator,
                lr,
                cv_lr_scale,
                episodes_to_solve: stats,
                score,
            })
        })
        .collect::<Result<_>>()?;
    results.sort_by(|a, b| a.score.total_cmp(&b.score));
    Ok(results)
}
