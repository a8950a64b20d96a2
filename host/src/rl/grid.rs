//! `relax rl cartpole --grid`: the learning-rate grid search on the native CartPole, every
//! (point, seed) run through the same runner and pool as the other tasks (each run stops
//! when solved).

use super::cli::CartPoleArgs;
use super::pool;
use super::report::SolveStats;
use super::runner::run_all;
use super::task::{RunConfig, Task};
use crate::estimators::EstimatorId;
use crate::output::{write_json, CsvWriter};
use crate::{progress, Ctx, Result};
use serde::Serialize;

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

/// Runs the grid for every estimator on `seeds` (each run stops when solved, all of them
/// `jobs` at a time); returns per estimator every point, best (lowest score) first.
pub fn grid_search(
    estimators: &[EstimatorId],
    seeds: &[u64],
    episodes: u32,
    jobs: usize,
    out: &std::path::Path,
    progress: &std::sync::atomic::AtomicU64,
) -> Result<Vec<Vec<GridPoint>>> {
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
    let runs = run_all(cfgs, jobs, out, progress)?;
    let points = GRID_LR.len() * GRID_SCALE.len();
    Ok(runs
        .chunks(points)
        .map(|chunk| {
            let mut results: Vec<GridPoint> = chunk
                .iter()
                .map(|m| {
                    let stats = SolveStats::of(&m.seeds);
                    let score = stats
                        .per_seed
                        .iter()
                        .map(|s| s.unwrap_or(episodes) as f64)
                        .sum::<f64>()
                        / seeds.len() as f64;
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
        .collect())
}

/// `relax rl cartpole --grid`: writes `<out>/rl-cartpole-grid/{grid.csv, grid.json}` and
/// prints each estimator's best point.
pub fn run(a: &CartPoleArgs, ctx: &Ctx) -> Result<()> {
    let seeds = crate::args::seed_range(ctx.seed, a.seeds)?;
    let claim = crate::output::claim(&ctx.out, "rl-cartpole-grid")?;
    let total = (a.estimator.len() * GRID_LR.len() * GRID_SCALE.len() * seeds.len()) as u64
        * a.episodes as u64;
    let per_estimator = progress::with_counter(total, "rl cartpole", "episodes", |counter| {
        grid_search(
            &a.estimator,
            &seeds,
            a.episodes,
            pool::cores(),
            &ctx.out,
            counter,
        )
    })?;
    let dir = claim.dir();
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
    for points in &per_estimator {
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
            seeds.len()
        );
    }
    csv.finish()?;
    let all: Vec<&GridPoint> = per_estimator.iter().flatten().collect();
    write_json(&dir.join("grid.json"), &all)?;
    println!("wrote {}", dir.display());
    Ok(())
}
