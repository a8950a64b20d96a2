//! `relax rl cartpole --grid`: the learning-rate grid search on the native CartPole, every
//! (point, seed) run through the same runner and pool as the other tasks (each run stops
//! when solved). Like every multi-run command it lists its runs (`--list-runs`), runs one
//! (`--run-index I`, into `runs/<method>-lr<lr>-scale<s>-seed<k>.json`) and merges them
//! (`--replot` with the same flags, or `relax report <out>/rl-cartpole-grid`).

use super::cli::CartPoleArgs;
use super::pool;
use super::report::SolveStats;
use super::runner::{run_all, MethodRuns};
use super::sweep::{self, Sweep};
use super::task::{RunConfig, Task};
use crate::estimators::EstimatorId;
use crate::output::{write_json, CsvWriter};
use crate::{progress, Ctx, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The results directory under `--out`.
pub const EXPERIMENT: &str = "rl-cartpole-grid";

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
    pub estimator: EstimatorId,
    /// Policy step size.
    pub lr: f32,
    /// Control-variate / value step-size scale.
    pub cv_lr_scale: f32,
    /// Episodes to solve per seed.
    pub episodes_to_solve: SolveStats,
    /// Mean episodes to solve, an unsolved seed counting as the episode budget.
    pub score: f64,
}

/// One configuration per (estimator, lr, scale), estimators outer, in [`GRID_LR`] x
/// [`GRID_SCALE`] order, each with all `seeds` and stopping when solved.
pub fn configs(estimators: &[EstimatorId], seeds: &[u64], episodes: u32) -> Result<Vec<RunConfig>> {
    let mut cfgs = Vec::new();
    for &estimator in estimators {
        Task::CartPole.check(estimator)?;
        for &lr in &GRID_LR {
            for &cv_lr_scale in &GRID_SCALE {
                cfgs.push(RunConfig {
                    task: Task::CartPole,
                    estimator,
                    seeds: seeds.to_vec(),
                    lr,
                    cv_lr_scale,
                    gym: None,
                    episodes,
                    stop_when_solved: true,
                    var_every: 0,
                    var_episodes: 0,
                    bridge: None,
                });
            }
        }
    }
    Ok(cfgs)
}

/// Per estimator every point of `runs` (from [`configs`]), best (lowest score) first.
pub fn points(runs: &[MethodRuns]) -> Vec<Vec<GridPoint>> {
    let per_estimator = GRID_LR.len() * GRID_SCALE.len();
    runs.chunks(per_estimator)
        .map(|chunk| {
            let mut results: Vec<GridPoint> = chunk
                .iter()
                .map(|m| {
                    let stats = SolveStats::of(&m.seeds);
                    let episodes = m.config.episodes;
                    let score = stats
                        .per_seed
                        .iter()
                        .map(|s| s.unwrap_or(episodes) as f64)
                        .sum::<f64>()
                        / m.seeds.len().max(1) as f64;
                    GridPoint {
                        estimator: m.config.estimator,
                        lr: m.config.lr,
                        cv_lr_scale: m.config.cv_lr_scale,
                        episodes_to_solve: stats,
                        score,
                    }
                })
                .collect();
            results.sort_by(|a, b| a.score.total_cmp(&b.score));
            results
        })
        .collect()
}

/// Runs the grid for every estimator on `seeds` (each run stops when solved, all of them
/// `jobs` at a time); returns per estimator every point, best (lowest score) first.
pub fn grid_search(
    estimators: &[EstimatorId],
    seeds: &[u64],
    episodes: u32,
    jobs: usize,
    out: &Path,
    progress: &std::sync::atomic::AtomicU64,
) -> Result<Vec<Vec<GridPoint>>> {
    let cfgs = configs(estimators, seeds, episodes)?;
    Ok(points(&run_all(cfgs, jobs, out, progress)?))
}

/// `relax rl cartpole --grid`: writes `<out>/rl-cartpole-grid/{grid.csv, grid.json}` and
/// prints each estimator's best point (or lists, runs one of, or merges the runs).
pub fn run(a: &CartPoleArgs, ctx: &Ctx) -> Result<()> {
    let seeds = crate::args::seed_range(ctx.seed, a.seeds)?;
    let cfgs = configs(&a.estimator, &seeds, a.episodes)?;
    let sweep = Sweep {
        task: Task::CartPole,
        grid: true,
        configs: cfgs,
    };
    if a.sweep.list_runs {
        sweep::list_runs(&sweep);
        return Ok(());
    }
    if let Some(i) = a.sweep.run_index {
        return sweep::run_index(&sweep, i, ctx);
    }
    if a.replot {
        return merge(&ctx.out, sweep.configs);
    }
    let claim = crate::output::claim(&ctx.out, EXPERIMENT)?;
    let total = (sweep.configs.len() * seeds.len()) as u64 * a.episodes as u64;
    let per_estimator = progress::with_counter(total, "rl cartpole", "episodes", |counter| {
        run_all(sweep.configs, pool::cores(), &ctx.out, counter).map(|r| points(&r))
    })?;
    write(claim.dir(), &per_estimator)
}

/// `--replot` (or `relax report <out>/rl-cartpole-grid`): the grid from the run files of
/// `cfgs` under `<out>/rl-cartpole-grid/runs/`.
pub fn merge(out: &Path, cfgs: Vec<RunConfig>) -> Result<()> {
    let claim = crate::output::claim(out, EXPERIMENT)?;
    let runs = sweep::read_all(claim.dir(), cfgs, true)?;
    write(claim.dir(), &points(&runs))
}

fn write(dir: &Path, per_estimator: &[Vec<GridPoint>]) -> Result<()> {
    let mut csv = CsvWriter::create(
        &dir.join("grid.csv"),
        &[
            "estimator",
            "lr",
            "cv_lr_scale",
            "seeds_solved",
            "mean_episodes_to_solve",
            "score",
        ],
    )?;
    for points in per_estimator {
        for p in points {
            let mean = p.episodes_to_solve.mean.unwrap_or(f64::NAN);
            csv.row(&[
                &p.estimator,
                &p.lr,
                &p.cv_lr_scale,
                &p.episodes_to_solve.solved,
                &mean,
                &p.score,
            ])?;
        }
        let best = &points[0];
        println!(
            "{}: best lr {} cv_lr_scale {} (mean episodes to solve {:.1}, {}/{} seeds solved)",
            best.estimator,
            best.lr,
            best.cv_lr_scale,
            best.score,
            best.episodes_to_solve.solved,
            best.episodes_to_solve.per_seed.len()
        );
    }
    csv.finish()?;
    let all: Vec<&GridPoint> = per_estimator.iter().flatten().collect();
    let json: PathBuf = dir.join("grid.json");
    write_json(&json, &all)?;
    println!("wrote {}", dir.display());
    Ok(())
}
