//! Reinforcement learning with the core's policy-gradient learners (section 6.3, Table 2,
//! Figure 5): one package for every task.
//!
//! The tasks ([`task::Task`]) are the core's CartPole (RELAX, A2C, REINFORCE) and, through
//! the gymnasium bridge ([`crate::gym`]), CartPole-v1 (to check the bridge against the
//! native environment), Lunar Lander (RELAX, A2C) and Inverted Pendulum (LAX, A2C). Each
//! (method, seed) run is one learner on one environment ([`learners::Episodes`]) trained by
//! the one loop of [`runner`], through the one worker pool of [`pool`] (32 MB stacks,
//! fail-fast); [`report`] and [`plots`] write every task's results the same way. "Solved" is
//! the first episode whose last-100 mean return ([`crate::stats::mean100`]) reaches the
//! task's threshold. The grid search ([`grid`]) and the frozen-policy check ([`cv_check`])
//! use the same runner and pool.
//!
//! | module | what |
//! |---|---|
//! | [`cli`] | the options of `relax rl <task>` |
//! | [`task`] | tasks, thresholds, methods, defaults; one method's [`task::RunConfig`] |
//! | [`learners`] | the core's learners on the native and bridge environments |
//! | [`runner`] | the training and variance loop of one seed; all runs of many methods |
//! | [`pool`] | the worker pool |
//! | [`report`] | CSV, JSON summaries, the printed table; reading runs back (`--replot`) |
//! | [`plots`] | `rewards.png` and `log_variance.png` |
//! | [`grid`] | `relax rl cartpole --grid` |
//! | [`cv_check`] | `relax rl inverted-pendulum-cv` |

pub mod cli;
pub mod cv_check;
pub mod grid;
pub mod learners;
pub mod plots;
pub mod pool;
pub mod report;
pub mod runner;
pub mod sweep;
pub mod task;

pub use cli::{CartPoleArgs, CvCheckArgs, GymArgs, Pretrain, RlArgs, RlEnv};
pub use learners::{LunarA2c, LunarRelax};
pub use runner::{run_all, MethodRuns, SeedRun};
pub use task::{BridgeSettings, GymSettings, RunConfig, Task};

use crate::{progress, Ctx, Result};

/// `relax rl <task>`: trains, writes `<out>/<experiment>/`, prints the table.
pub fn run(args: RlArgs, ctx: &Ctx) -> Result<()> {
    match args.env {
        RlEnv::Cartpole(a) if a.bridge => {
            let g = bridge_args(&a);
            train(
                Task::CartPoleBridge,
                gym_configs(Task::CartPoleBridge, ctx.seed, &g)?,
                &g,
                ctx,
            )
        }
        RlEnv::Cartpole(a) if a.grid => grid::run(&a, ctx),
        RlEnv::Cartpole(a) => {
            let cfgs = cartpole_configs(&a, ctx.seed)?;
            if let Some(r) = sweep_step(Task::CartPole, &cfgs, &a.sweep, a.replot, ctx) {
                return r;
            }
            train_and_report(Task::CartPole, cfgs, pool::cores(), ctx)
        }
        RlEnv::Lunarlander(g) => train(
            Task::LunarLander,
            gym_configs(Task::LunarLander, ctx.seed, &g)?,
            &g,
            ctx,
        ),
        RlEnv::InvertedPendulum(g) => train(
            Task::InvertedPendulum,
            gym_configs(Task::InvertedPendulum, ctx.seed, &g)?,
            &g,
            ctx,
        ),
        RlEnv::InvertedPendulumCv(a) => cv_check::run(&a, ctx.seed, &ctx.out).map(drop),
    }
}

/// The configurations of `relax rl cartpole` (native).
pub fn cartpole_configs(a: &CartPoleArgs, seed: u64) -> Result<Vec<RunConfig>> {
    let task = Task::CartPole;
    a.estimator
        .iter()
        .map(|&e| {
            task.check(e)?;
            let (lr, scale, _) = task.defaults(e);
            Ok(RunConfig {
                task,
                estimator: e,
                seeds: crate::args::seed_range(seed, a.seeds)?,
                lr: a.lr.unwrap_or(lr),
                cv_lr_scale: a.cv_lr_scale.unwrap_or(scale),
                gym: None,
                episodes: a.episodes,
                stop_when_solved: false,
                var_every: a.var_every,
                var_episodes: a.var_episodes,
                bridge: None,
            })
        })
        .collect()
}

/// `relax rl cartpole --bridge`: the CartPole options mapped onto the gymnasium tasks'
/// (RELAX and A2C; stops each seed when solved; 2 runs at a time).
fn bridge_args(a: &CartPoleArgs) -> GymArgs {
    GymArgs {
        estimator: a.estimator.clone(),
        seeds: a.seeds,
        lr: a.lr,
        cv_lr_scale: a.cv_lr_scale,
        episodes: Some(a.episodes),
        run_after_solved: false,
        var_every: a.var_every,
        var_episodes: a.var_episodes,
        batch_steps: 2500,
        kl_target: 0.0,
        no_obs_norm: false,
        value_steps: 1,
        cv_steps: 1,
        cv_per_episode: false,
        cv_loss_per_step: false,
        jobs: 2,
        no_replay_cache: false,
        timeout: 30.0,
        replot: a.replot,
        sweep: a.sweep.clone(),
    }
}

/// The configurations of a gymnasium task that `args` asks for.
pub fn gym_configs(task: Task, seed: u64, args: &GymArgs) -> Result<Vec<RunConfig>> {
    let ests = if args.estimator.is_empty() {
        task.estimators()
    } else {
        args.estimator.clone()
    };
    ests.iter()
        .map(|&e| {
            task.check(e)?;
            let (lr, scale, episodes) = task.defaults(e);
            Ok(RunConfig {
                task,
                estimator: e,
                seeds: crate::args::seed_range(seed, args.seeds)?,
                lr: args.lr.unwrap_or(lr),
                cv_lr_scale: args.cv_lr_scale.unwrap_or(scale),
                gym: Some(GymSettings {
                    batch_steps: args.batch_steps,
                    kl_target: args.kl_target,
                    normalize_obs: !args.no_obs_norm,
                    value_steps: args.value_steps,
                    cv_steps: args.cv_steps,
                    cv_per_batch: !args.cv_per_episode,
                    cv_loss_per_step: args.cv_loss_per_step,
                }),
                episodes: args.episodes.unwrap_or(episodes),
                stop_when_solved: !args.run_after_solved,
                var_every: args.var_every,
                var_episodes: args.var_episodes,
                bridge: Some(BridgeSettings {
                    replay_cache: !args.no_replay_cache,
                    timeout_s: args.timeout,
                }),
            })
        })
        .collect()
}

/// A gymnasium task: trains (or with `--replot` rereads the per-seed files, or lists or runs
/// one run of a sweep), writes, prints.
fn train(task: Task, cfgs: Vec<RunConfig>, g: &GymArgs, ctx: &Ctx) -> Result<()> {
    if g.timeout.is_nan() || g.timeout <= 0.0 {
        return Err("--timeout must be > 0".into());
    }
    if let Some(r) = sweep_step(task, &cfgs, &g.sweep, g.replot, ctx) {
        return r;
    }
    train_and_report(task, cfgs, g.jobs, ctx)
}

/// `--list-runs`, `--run-index` or `--replot` when one is given (`None`: train them all).
fn sweep_step(
    task: Task,
    cfgs: &[RunConfig],
    s: &crate::args::SweepArgs,
    replot: bool,
    ctx: &Ctx,
) -> Option<Result<()>> {
    let sweep = sweep::Sweep {
        task,
        grid: false,
        configs: cfgs.to_vec(),
    };
    if s.list_runs {
        sweep::list_runs(&sweep);
        return Some(Ok(()));
    }
    if let Some(i) = s.run_index {
        return Some(sweep::run_index(&sweep, i, ctx));
    }
    replot.then(|| merge(task, sweep.configs, &ctx.out))
}

/// `--replot` (or `relax report`): rewrites the results of `<out>/<experiment>/` from the
/// per-seed files of `cfgs`.
pub fn merge(task: Task, cfgs: Vec<RunConfig>, out: &std::path::Path) -> Result<()> {
    let claim = crate::output::claim(out, task.experiment())?;
    let runs = sweep::read_all(claim.dir(), cfgs, false)?;
    let dir = report::write_results(out, task, &runs)?;
    print!("{}", report::table(task, &runs));
    println!(
        "rewrote {} (wall time per method: the sum over its seeds)",
        dir.display()
    );
    Ok(())
}

/// Runs every (method, seed) of `cfgs`, `jobs` at a time, with a progress bar; writes the
/// results and prints the table.
pub fn train_and_report(task: Task, cfgs: Vec<RunConfig>, jobs: usize, ctx: &Ctx) -> Result<()> {
    let _claim = crate::output::claim(&ctx.out, task.experiment())?;
    let total: u64 = cfgs
        .iter()
        .map(|c| c.seeds.len() as u64 * c.episodes as u64)
        .sum();
    let what = format!("rl {}", task.label());
    let runs = progress::with_counter(total, &what, "episodes", |counter| {
        run_all(cfgs, jobs, &ctx.out, counter)
    })?;
    let dir = report::write_results(&ctx.out, task, &runs)?;
    print!("{}", report::table(task, &runs));
    println!("wrote {}", dir.display());
    Ok(())
}
