//! The paper's gymnasium benchmarks (section 6.3, Table 2, Figure 5) through the bridge in
//! [`crate::gym`]: Lunar Lander (discrete, RELAX against A2C), Inverted Pendulum (MuJoCo,
//! continuous, LAX against A2C), and CartPole-v1 through the bridge (to check the bridge
//! against the core's native CartPole, `relax rl cartpole`).
//!
//! The learners are the core's: `RelaxLearner` and `A2c` with 8 observations and 4 actions
//! for Lunar Lander, `LaxLearner` (with and without its action-dependent control variate)
//! for Inverted Pendulum. Each run (method, seed) has its own server process; runs go
//! `jobs` at a time. Streams: the learner is built from stream 0 of the seed, training draws
//! from stream 1, the variance measurement from stream 2, so measuring never changes a
//! training trajectory.

use crate::gym::env::BridgeStats;
use crate::gym::{ensure_python, GymEnv, ServerOptions, Timeouts};
use crate::output::{results_dir, write_json, CsvWriter};
use crate::plot::{line_plot, palette, LegendAt, Panel, Series};
use crate::rl::{mean100, quantile_band, solved_at, SeedRun, SolveStats};
use crate::seed;
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::nn::mlp_param_count;
use relax_core::rl::a2c::{A2c, CartPoleA2c};
use relax_core::rl::lax::{LaxConfig, PendulumLax};
use relax_core::rl::relax::{CartPoleRelax, RelaxLearner};
use relax_core::rl::{Learner, PgConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lunar Lander's RELAX learner: policy 8-10-10-4, control variate 12-10-10-1 (ReLU).
pub type LunarRelax =
    RelaxLearner<8, 4, 12, 10, { mlp_param_count(8, 10, 4, 2) }, { mlp_param_count(12, 10, 1, 2) }>;
/// Lunar Lander's A2C learner: policy 8-10-10-4, value 8-10-10-1 (ReLU).
pub type LunarA2c =
    A2c<8, 4, 10, { mlp_param_count(8, 10, 4, 2) }, { mlp_param_count(8, 10, 1, 2) }>;

/// A benchmark: the gymnasium environment and its "solved" threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GymTask {
    /// `LunarLander-v3`, solved at a 100-episode mean >= 200.
    LunarLander,
    /// `InvertedPendulum-v5`, solved at a 100-episode mean >= 950.
    InvertedPendulum,
    /// `CartPole-v1` through the bridge, solved at a 100-episode mean >= 195 (the paper's
    /// criterion, as `relax rl cartpole`).
    CartPole,
}

impl GymTask {
    /// The gymnasium id.
    pub fn env_id(self) -> &'static str {
        match self {
            GymTask::LunarLander => "LunarLander-v3",
            GymTask::InvertedPendulum => "InvertedPendulum-v5",
            GymTask::CartPole => "CartPole-v1",
        }
    }

    /// The 100-episode mean return that counts as solved.
    pub fn threshold(self) -> f64 {
        match self {
            GymTask::LunarLander => 200.0,
            GymTask::InvertedPendulum => 950.0,
            GymTask::CartPole => 195.0,
        }
    }

    /// The results directory under `--out`.
    pub fn experiment(self) -> &'static str {
        match self {
            GymTask::LunarLander => "rl-lunarlander",
            GymTask::InvertedPendulum => "rl-inverted-pendulum",
            GymTask::CartPole => "rl-cartpole-bridge",
        }
    }

    /// The estimators the task runs.
    pub fn estimators(self) -> &'static [GymEstimator] {
        match self {
            GymTask::InvertedPendulum => &[GymEstimator::Lax, GymEstimator::A2c],
            _ => &[GymEstimator::Relax, GymEstimator::A2c],
        }
    }

    /// y range of the reward plot.
    fn return_range(self) -> (f64, f64) {
        match self {
            GymTask::LunarLander => (-400.0, 300.0),
            GymTask::InvertedPendulum => (0.0, 1050.0),
            GymTask::CartPole => (0.0, 520.0),
        }
    }
}

/// The policy-gradient method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GymEstimator {
    /// RELAX (discrete actions): action-dependent control variate c(z, s).
    Relax,
    /// LAX (continuous actions): c(a, s) = V(s) + c^(a, s).
    Lax,
    /// A2C: a state-value baseline V(s) only.
    A2c,
}

impl GymEstimator {
    /// The lower-case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            GymEstimator::Relax => "relax",
            GymEstimator::Lax => "lax",
            GymEstimator::A2c => "a2c",
        }
    }
}

/// One method's configuration (all its seeds).
#[derive(Debug, Clone, Serialize)]
pub struct GymRunConfig {
    /// The benchmark.
    pub task: GymTask,
    /// The method.
    pub estimator: GymEstimator,
    /// The seeds (each an independent run with its own server process).
    pub seeds: Vec<u64>,
    /// Policy step size (Adam).
    pub lr: f32,
    /// Control-variate / value step size relative to `lr`.
    pub cv_lr_scale: f32,
    /// Continuous tasks: steps per policy update (whole episodes, at least this many).
    pub batch_steps: u32,
    /// Continuous tasks: the policy step's KL target (0: fixed step size).
    pub kl_target: f32,
    /// Continuous tasks: running-normalised observations.
    pub normalize_obs: bool,
    /// Continuous tasks: Adam steps of `V` per episode.
    pub value_steps: u32,
    /// LAX: Adam steps of `c^` per episode (the paper's `cv_num`) when `c^` steps after
    /// every episode.
    pub cv_steps: u32,
    /// LAX: `c^` steps once per policy update on the batch's mean variance gradient.
    pub cv_per_batch: bool,
    /// LAX: the variance loss is the reference code's `|g / T|^2`, not `|g / B|^2`.
    pub cv_loss_per_step: bool,
    /// Training episodes per seed (the cap).
    pub episodes: u32,
    /// Stop a seed once solved.
    pub stop_when_solved: bool,
    /// Measure the gradient's variance every this many episodes (0: never).
    pub var_every: u32,
    /// Episodes per variance measurement.
    pub var_episodes: u32,
    /// Serve replays of the last episode from memory (see [`GymEnv`]).
    pub replay_cache: bool,
    /// Seconds to wait for any reply of a server.
    pub timeout_s: f64,
}

/// One seed's outcome with the bridge's counters.
#[derive(Debug, Clone, Serialize)]
pub struct GymSeedRun {
    /// Returns, episodes to solve, log-variance, wall time.
    #[serde(flatten)]
    pub run: SeedRun,
    /// The bridge's counters.
    pub resets: u64,
    /// Steps sent to the Python process.
    pub live_steps: u64,
    /// Steps replayed from memory.
    pub replayed_steps: u64,
    /// Environment steps per wall-clock second (training and measurement, learning included).
    pub steps_per_second: f64,
}

/// What the runner does with one learner and its environment.
trait Episodes {
    /// One training episode: (return, steps).
    fn train(&mut self, rng: &mut Xoshiro128PlusPlus) -> Result<(f32, u32)>;
    /// One episode's policy gradient into `g` (resized as needed), changing nothing.
    fn gradient(&mut self, rng: &mut Xoshiro128PlusPlus, g: &mut Vec<f32>) -> Result<u32>;
    fn stats(&self) -> BridgeStats;
}

struct Discrete<L, const S: usize, const PP: usize> {
    learner: L,
    env: GymEnv<S>,
}

impl<L: Learner<S, PP> + Clone, const S: usize, const PP: usize> Episodes for Discrete<L, S, PP> {
    fn train(&mut self, rng: &mut Xoshiro128PlusPlus) -> Result<(f32, u32)> {
        let r = self.learner.train_episode(&mut self.env, rng);
        let r = r.map_err(|e| self.env.explain(e))?;
        Ok((r.ret, r.steps))
    }
    fn gradient(&mut self, rng: &mut Xoshiro128PlusPlus, g: &mut Vec<f32>) -> Result<u32> {
        let mut grad = [0.0f32; PP];
        // episode_gradient changes nothing, but takes `&mut self`: probe a copy.
        let mut probe = self.learner.clone();
        let r = probe.episode_gradient(&mut self.env, rng, &mut grad);
        let r = r.map_err(|e| self.env.explain(e))?;
        g.clear();
        g.extend_from_slice(&grad);
        Ok(r.steps)
    }
    fn stats(&self) -> BridgeStats {
        self.env.stats()
    }
}

struct Pendulum {
    learner: PendulumLax,
    env: GymEnv<4>,
}

const PM: usize = mlp_param_count(4, 64, 1, 2);

impl Episodes for Pendulum {
    fn train(&mut self, rng: &mut Xoshiro128PlusPlus) -> Result<(f32, u32)> {
        let r = self.learner.train_episode(&mut self.env, rng);
        let r = r.map_err(|e| self.env.explain(e))?;
        Ok((r.ret, r.steps))
    }
    fn gradient(&mut self, rng: &mut Xoshiro128PlusPlus, g: &mut Vec<f32>) -> Result<u32> {
        let mut gm = Box::new([0.0f32; PM]);
        let mut gs = [0.0f32; 1];
        let r = self
            .learner
            .episode_gradient(&mut self.env, rng, &mut gm, &mut gs);
        let r = r.map_err(|e| self.env.explain(e))?;
        g.clear();
        g.extend_from_slice(&gm[..]);
        g.extend_from_slice(&gs);
        Ok(r.steps)
    }
    fn stats(&self) -> BridgeStats {
        self.env.stats()
    }
}

/// ln of the mean over policy parameters of the sample variance of `n` episode gradients.
fn log_variance(ep: &mut dyn Episodes, n: u32, rng: &mut Xoshiro128PlusPlus) -> Result<(f64, u64)> {
    let mut g = Vec::new();
    let (mut s1, mut s2): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut steps = 0u64;
    for _ in 0..n {
        steps += ep.gradient(rng, &mut g)? as u64;
        if s1.is_empty() {
            s1 = vec![0.0; g.len()];
            s2 = vec![0.0; g.len()];
        }
        for (k, &v) in g.iter().enumerate() {
            s1[k] += v as f64;
            s2[k] += (v as f64).powi(2);
        }
    }
    let nf = n as f64;
    let mean_var = (0..s1.len())
        .map(|k| (s2[k] - s1[k] * s1[k] / nf) / (nf - 1.0).max(1.0))
        .sum::<f64>()
        / s1.len().max(1) as f64;
    Ok(((mean_var + 1e-20).ln(), steps))
}

fn build(cfg: &GymRunConfig, seed: u64, opts: &ServerOptions) -> Result<Box<dyn Episodes>> {
    let mut init = seed::rng(seed, 0);
    let id = cfg.task.env_id();
    let pg = PgConfig::paper(cfg.lr, cfg.cv_lr_scale);
    let bad = || -> crate::Error {
        format!(
            "{} does not run {}; use one of {:?}",
            id,
            cfg.estimator.name(),
            cfg.task
                .estimators()
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
        )
        .into()
    };
    Ok(match (cfg.task, cfg.estimator) {
        (GymTask::LunarLander, GymEstimator::Relax) => {
            Box::new(Discrete::<_, 8, { mlp_param_count(8, 10, 4, 2) }> {
                learner: LunarRelax::new(pg, &mut init)?,
                env: GymEnv::start(opts, id, cfg.replay_cache)?,
            })
        }
        (GymTask::LunarLander, GymEstimator::A2c) => {
            Box::new(Discrete::<_, 8, { mlp_param_count(8, 10, 4, 2) }> {
                learner: LunarA2c::new(pg, &mut init)?,
                env: GymEnv::start(opts, id, cfg.replay_cache)?,
            })
        }
        (GymTask::CartPole, GymEstimator::Relax) => {
            Box::new(Discrete::<_, 4, { mlp_param_count(4, 10, 2, 2) }> {
                learner: CartPoleRelax::new(pg, &mut init)?,
                env: GymEnv::start(opts, id, cfg.replay_cache)?,
            })
        }
        (GymTask::CartPole, GymEstimator::A2c) => {
            Box::new(Discrete::<_, 4, { mlp_param_count(4, 10, 2, 2) }> {
                learner: CartPoleA2c::new(pg, &mut init)?,
                env: GymEnv::start(opts, id, cfg.replay_cache)?,
            })
        }
        (GymTask::InvertedPendulum, e @ (GymEstimator::Lax | GymEstimator::A2c)) => {
            let mut lc = LaxConfig::paper(
                cfg.lr,
                cfg.lr * cfg.cv_lr_scale,
                cfg.lr * cfg.cv_lr_scale,
                e == GymEstimator::Lax,
            );
            lc.batch_steps = cfg.batch_steps;
            lc.kl_target = cfg.kl_target;
            lc.normalize_obs = cfg.normalize_obs;
            lc.value_steps = cfg.value_steps;
            lc.cv_steps = cfg.cv_steps;
            lc.cv_per_batch = cfg.cv_per_batch;
            lc.cv_loss_per_step = cfg.cv_loss_per_step;
            Box::new(Pendulum {
                learner: PendulumLax::new(lc, &mut init)?,
                env: GymEnv::start(opts, id, cfg.replay_cache)?,
            })
        }
        _ => return Err(bad()),
    })
}

/// Trains one seed (its own server process). `progress` counts training episodes.
pub fn run_seed(
    cfg: &GymRunConfig,
    seed: u64,
    opts: &ServerOptions,
    progress: &AtomicU64,
) -> Result<GymSeedRun> {
    let start = Instant::now();
    let mut ep = build(cfg, seed, opts)?;
    let mut rng = seed::rng(seed, 1);
    let mut measure_rng = seed::rng(seed, 2);
    let mut run = SeedRun {
        seed,
        returns: Vec::new(),
        steps: Vec::new(),
        solved_at: None,
        log_variance: Vec::new(),
        wall_seconds: 0.0,
    };
    let mut total_steps = 0u64;
    for e in 1..=cfg.episodes {
        if cfg.var_every > 0 && (e - 1) % cfg.var_every == 0 {
            let (lv, st) = log_variance(ep.as_mut(), cfg.var_episodes.max(2), &mut measure_rng)?;
            run.log_variance.push((e - 1, lv));
            total_steps += st;
        }
        let (ret, steps) = ep.train(&mut rng)?;
        total_steps += steps as u64;
        run.returns.push(ret);
        run.steps.push(steps);
        progress.fetch_add(1, Ordering::Relaxed);
        if run.solved_at.is_none() {
            // Only the newest window can newly reach the threshold.
            let n = run.returns.len();
            if n >= 100 {
                let m: f64 = run.returns[n - 100..]
                    .iter()
                    .map(|&r| r as f64)
                    .sum::<f64>()
                    / 100.0;
                if m >= cfg.task.threshold() {
                    run.solved_at = Some(n as u32);
                    if cfg.stop_when_solved {
                        progress.fetch_add((cfg.episodes - e) as u64, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }
    debug_assert_eq!(run.solved_at, solved_at(&run.returns, cfg.task.threshold()));
    run.wall_seconds = start.elapsed().as_secs_f64();
    let s = ep.stats();
    Ok(GymSeedRun {
        steps_per_second: total_steps as f64 / run.wall_seconds.max(1e-9),
        run,
        resets: s.resets,
        live_steps: s.live_steps,
        replayed_steps: s.replayed_steps,
    })
}

/// Server options with a reply deadline of `timeout_s` seconds (at least 60 s for the start):
/// prepares the Python environment first.
pub fn server_options(timeout_s: f64) -> Result<ServerOptions> {
    Ok(ServerOptions {
        python: ensure_python()?,
        timeouts: Timeouts {
            startup: Duration::from_secs_f64(timeout_s.max(60.0)),
            reply: Duration::from_secs_f64(timeout_s),
        },
        max_episode_steps: None,
    })
}

/// Runs `task(i)` for every `i` in `0..n`, `jobs` at a time, on named worker threads with
/// room on the stack for the 64-64 learners (a few parameter vectors, and a copy of the LAX
/// learner when it takes extra steps). After a task fails no new one starts. Returns the
/// results in task order, or the first error in task order.
pub fn run_tasks<T: Send>(
    n: usize,
    jobs: usize,
    name: &str,
    task: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for w in 0..jobs.max(1).min(n.max(1)) {
            let worker = std::thread::Builder::new()
                .name(format!("{name} worker {w}"))
                .stack_size(32 << 20);
            let spawned = worker.spawn_scoped(scope, || loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let r = task(i);
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
            if spawned.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
        }
    });
    let mut out = Vec::with_capacity(n);
    let mut abandoned = false;
    for s in slots.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match s {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            None => abandoned = true,
        }
    }
    if abandoned {
        return Err("a run was abandoned after another failed".into());
    }
    Ok(out)
}

/// Runs every (method, seed) pair, `jobs` at a time, methods interleaved so that partial
/// progress covers both. Each finished seed is also written to
/// `<out>/<experiment>/runs/<method>-seed<k>.json` as soon as it ends. Returns, per
/// configuration, its seeds' runs (in seed order) and the wall time until its last seed ended.
pub fn run_all(
    cfgs: &[GymRunConfig],
    jobs: usize,
    out: &Path,
    progress: &AtomicU64,
) -> Result<Vec<(Vec<GymSeedRun>, f64)>> {
    let opts: Vec<ServerOptions> = cfgs
        .iter()
        .map(|c| server_options(c.timeout_s))
        .collect::<Result<_>>()?;
    let max_seeds = cfgs.iter().map(|c| c.seeds.len()).max().unwrap_or(0);
    let mut tasks = Vec::new();
    for k in 0..max_seeds {
        for (c, cfg) in cfgs.iter().enumerate() {
            if k < cfg.seeds.len() {
                tasks.push((c, k));
            }
        }
    }
    let start = Instant::now();
    let done = run_tasks(tasks.len(), jobs, "rl-gym", |i| {
        let (c, k) = tasks[i];
        let cfg = &cfgs[c];
        let r = run_seed(cfg, cfg.seeds[k], &opts[c], progress).and_then(|r| {
            let dir = results_dir(out, cfg.task.experiment())?.join("runs");
            std::fs::create_dir_all(&dir)?;
            let f = dir.join(format!("{}-seed{}.json", cfg.estimator.name(), r.run.seed));
            write_json(&f, &r)?;
            Ok((r, start.elapsed().as_secs_f64()))
        });
        r.map_err(|e| {
            let (env, method) = (cfg.task.env_id(), cfg.estimator.name());
            format!("{env} {method} seed {}: {e}", cfg.seeds[k]).into()
        })
    })?;
    let mut out_runs: Vec<(Vec<GymSeedRun>, f64)> =
        cfgs.iter().map(|_| (Vec::new(), 0.0)).collect();
    // Tasks are in seed order within each configuration.
    for (&(c, _), (r, t)) in tasks.iter().zip(done) {
        out_runs[c].0.push(r);
        out_runs[c].1 = out_runs[c].1.max(t);
    }
    Ok(out_runs)
}

/// The JSON summary of one method.
#[derive(Debug, Serialize)]
pub struct GymSummary<'a> {
    /// The gymnasium id.
    pub env: &'static str,
    /// The threshold of "solved".
    pub solved_threshold: f64,
    /// The configuration.
    pub config: &'a GymRunConfig,
    /// Episodes to solve per seed, mean +- std over the solved seeds.
    pub episodes_to_solve: SolveStats,
    /// Training episodes run per seed.
    pub episodes_run: Vec<usize>,
    /// Training environment steps per seed.
    pub env_steps: Vec<u64>,
    /// Wall time of each seed, seconds.
    pub wall_seconds_per_seed: Vec<f64>,
    /// Wall time until the method's last seed ended, seconds.
    pub wall_seconds: f64,
    /// Environment steps per second per seed (measurement episodes included).
    pub steps_per_second: Vec<f64>,
    /// Steps sent to the Python processes, and steps replayed from memory.
    pub bridge_live_steps: u64,
    /// Steps replayed from memory.
    pub bridge_replayed_steps: u64,
}

/// Writes `returns.csv`, `log_variance.csv`, `summary.json`, `rewards.png` and
/// `log_variance.png` into `<out>/<experiment>/`. Returns the directory.
pub fn write_results(
    out: &Path,
    task: GymTask,
    runs: &[(GymRunConfig, Vec<GymSeedRun>, f64)],
) -> Result<PathBuf> {
    let dir = results_dir(out, task.experiment())?;
    let mut csv = CsvWriter::create(
        &dir.join("returns.csv"),
        &["estimator", "seed", "episode", "return", "steps", "mean100"],
    )?;
    let mut vcsv = CsvWriter::create(
        &dir.join("log_variance.csv"),
        &["estimator", "seed", "episode", "ln_mean_variance"],
    )?;
    let (mut reward_series, mut var_series, mut summaries) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (cfg, seeds, wall)) in runs.iter().enumerate() {
        let name = cfg.estimator.name();
        let mut curves = Vec::new();
        for r in seeds.iter().map(|s| &s.run) {
            let m = mean100(&r.returns);
            for (e, (&ret, &st)) in r.returns.iter().zip(&r.steps).enumerate() {
                csv.row(&[&name, &r.seed, &(e + 1), &ret, &st, &m[e]])?;
            }
            for &(e, lv) in &r.log_variance {
                vcsv.row(&[&name, &r.seed, &e, &lv])?;
            }
            curves.push(m);
        }
        // A seed that stopped when solved is held at its last value, so the band does not
        // jump when it leaves.
        let longest = curves.iter().map(Vec::len).max().unwrap_or(0);
        for (c, r) in curves.iter_mut().zip(seeds) {
            if cfg.stop_when_solved && r.run.solved_at.is_some() {
                let last = c.last().copied().unwrap_or(f64::NAN);
                c.resize(longest, last);
            }
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
            .map(|r| r.run.log_variance.iter().map(|&(_, v)| v).collect())
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
        let plain: Vec<SeedRun> = seeds.iter().map(|s| s.run.clone()).collect();
        summaries.push(GymSummary {
            env: task.env_id(),
            solved_threshold: task.threshold(),
            config: cfg,
            episodes_to_solve: SolveStats::of(&plain),
            episodes_run: plain.iter().map(|r| r.returns.len()).collect(),
            env_steps: plain
                .iter()
                .map(|r| r.steps.iter().map(|&s| s as u64).sum())
                .collect(),
            wall_seconds_per_seed: plain.iter().map(|r| r.wall_seconds).collect(),
            wall_seconds: *wall,
            steps_per_second: seeds.iter().map(|s| s.steps_per_second).collect(),
            bridge_live_steps: seeds.iter().map(|s| s.live_steps).sum(),
            bridge_replayed_steps: seeds.iter().map(|s| s.replayed_steps).sum(),
        });
    }
    csv.finish()?;
    vcsv.finish()?;
    write_json(&dir.join("summary.json"), &summaries)?;
    let env = task.env_id();
    line_plot(
        &dir.join("rewards.png"),
        &[Panel {
            title: format!("{env}: last-100 mean return (median, 25-75% over seeds)"),
            x_label: "Episode".into(),
            y_label: "Mean return of the last 100 episodes (solved seeds held)".into(),
            series: reward_series,
            y_range: Some(task.return_range()),
            legend: LegendAt::LowerRight,
            headroom: 0.0,
        }],
        (900, 600),
    )?;
    if !var_series.is_empty() {
        line_plot(
            &dir.join("log_variance.png"),
            &[Panel {
                title: format!("{env}: log-variance of the policy gradient"),
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

/// Command-line options of `relax rl lunarlander`, `relax rl inverted-pendulum` (and of
/// `relax rl cartpole --bridge`, which maps its own options onto these).
#[derive(Debug, Clone, clap::Args)]
pub struct GymArgs {
    /// Methods to run (comma-separated); default both of the task's.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub estimator: Vec<GymEstimator>,
    /// Independent runs per method (seeds --seed, --seed + 1, ...).
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Policy step size (Adam); default per task and method (see --help of the task).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Control-variate and value step size relative to --lr.
    #[arg(long)]
    pub cv_lr_scale: Option<f32>,
    /// Training episodes per seed at most (default per task).
    #[arg(long)]
    pub episodes: Option<u32>,
    /// Keep training after a seed is solved, up to --episodes (default: stop when solved).
    #[arg(long)]
    pub run_after_solved: bool,
    /// Measure the gradient's variance every this many episodes (0: never).
    #[arg(long, default_value_t = 200)]
    pub var_every: u32,
    /// Episodes per variance measurement.
    #[arg(long, default_value_t = 20)]
    pub var_episodes: u32,
    /// Continuous actions: at least this many steps (whole episodes) per policy update.
    #[arg(long, default_value_t = 2500)]
    pub batch_steps: u32,
    /// Continuous actions: adapt the policy's step size to this mean KL per update (the
    /// paper's 0.002; divided by 1.5 above twice the target, times 1.5 below half, within
    /// [lr / 100, 10 lr]); 0 keeps it fixed at --lr.
    #[arg(long, default_value_t = 0.002)]
    pub kl_target: f32,
    /// Continuous actions: feed the networks raw observations instead of running-normalised
    /// ones (clamp((o - mean) / std, -5, 5), statistics frozen within an episode).
    #[arg(long)]
    pub no_obs_norm: bool,
    /// Continuous actions: Adam steps of the value network V per episode, each after the
    /// first on the episode replayed with the updated V (the paper: 25 per batch).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub value_steps: u32,
    /// LAX: step c^ after every episode on that episode's variance gradient, instead of
    /// once per policy update on the mean over the batch's episodes (the paper's way).
    #[arg(long)]
    pub cv_per_episode: bool,
    /// LAX: train c^ on the reference code's per-episode loss |g/T|^2 (T the episode's
    /// length) instead of |g/B|^2 (B = --batch-steps), which weighs every episode by its
    /// share in the policy's step.
    #[arg(long)]
    pub cv_loss_per_step: bool,
    /// LAX with --cv-per-episode: Adam steps of c^ per episode, each after the first on the
    /// episode replayed with the updated c^ (the paper's cv_num, per batch there: 1, 5, 25).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), requires = "cv_per_episode")]
    pub cv_steps: u32,
    /// Runs (method, seed) at a time, each with its own Python process.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Replay episodes for the variance pass through Python instead of from memory (slower;
    /// checks that the environment is deterministic given the reset seed).
    #[arg(long)]
    pub no_replay_cache: bool,
    /// Seconds to wait for any reply of a gymnasium server before failing.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Do not train: rewrite the CSV, JSON and PNG files from the per-seed files
    /// `<out>/<experiment>/runs/<method>-seed<k>.json` of earlier runs (for example runs of
    /// the methods made by separate invocations). Pass the options of those runs.
    #[arg(long)]
    pub replot: bool,
}

/// Reads `<dir>/runs/<method>-seed<k>.json` for every seed of `cfg`.
pub fn read_runs(dir: &Path, cfg: &GymRunConfig) -> Result<Vec<GymSeedRun>> {
    cfg.seeds
        .iter()
        .map(|&seed| {
            let f = dir
                .join("runs")
                .join(format!("{}-seed{seed}.json", cfg.estimator.name()));
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)?;
            let field = |k: &str| -> Result<&serde_json::Value> {
                v.get(k)
                    .ok_or_else(|| format!("{}: no field {k}", f.display()).into())
            };
            let nums = |k: &str| -> Result<Vec<f64>> {
                field(k)?
                    .as_array()
                    .ok_or_else(|| {
                        crate::Error::from(format!("{}: {k} is not a list", f.display()))
                    })?
                    .iter()
                    .map(|x| {
                        x.as_f64()
                            .ok_or_else(|| format!("{}: bad {k}", f.display()).into())
                    })
                    .collect()
            };
            let log_variance = field("log_variance")?
                .as_array()
                .ok_or("log_variance is not a list")?
                .iter()
                .map(|p| {
                    (
                        p[0].as_u64().unwrap_or(0) as u32,
                        p[1].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect();
            Ok(GymSeedRun {
                run: SeedRun {
                    seed,
                    returns: nums("returns")?.into_iter().map(|x| x as f32).collect(),
                    steps: nums("steps")?.into_iter().map(|x| x as u32).collect(),
                    solved_at: field("solved_at")?.as_u64().map(|x| x as u32),
                    log_variance,
                    wall_seconds: field("wall_seconds")?.as_f64().unwrap_or(f64::NAN),
                },
                resets: field("resets")?.as_u64().unwrap_or(0),
                live_steps: field("live_steps")?.as_u64().unwrap_or(0),
                replayed_steps: field("replayed_steps")?.as_u64().unwrap_or(0),
                steps_per_second: field("steps_per_second")?.as_f64().unwrap_or(f64::NAN),
            })
        })
        .collect()
}

/// Default (lr, cv_lr_scale, episodes) of a task and method.
pub fn defaults(task: GymTask, e: GymEstimator) -> (f32, f32, u32) {
    match (task, e) {
        (GymTask::LunarLander, _) => (0.003, 1.0, 10_000),
        (GymTask::InvertedPendulum, _) => (0.03, 1.0, 10_000),
        (GymTask::CartPole, _) => (0.01, 1.0, 1000),
    }
}

/// The configurations `args` asks for.
pub fn configs(task: GymTask, seed: u64, args: &GymArgs) -> Result<Vec<GymRunConfig>> {
    let ests: Vec<GymEstimator> = if args.estimator.is_empty() {
        task.estimators().to_vec()
    } else {
        args.estimator.clone()
    };
    ests.iter()
        .map(|&e| {
            if !task.estimators().contains(&e) {
                return Err(format!(
                    "{} runs {:?}, not {}",
                    task.env_id(),
                    task.estimators()
                        .iter()
                        .map(|e| e.name())
                        .collect::<Vec<_>>(),
                    e.name()
                )
                .into());
            }
            let (lr, scale, episodes) = defaults(task, e);
            Ok(GymRunConfig {
                task,
                estimator: e,
                seeds: (seed..seed + args.seeds.max(1)).collect(),
                lr: args.lr.unwrap_or(lr),
                cv_lr_scale: args.cv_lr_scale.unwrap_or(scale),
                batch_steps: args.batch_steps,
                kl_target: args.kl_target,
                normalize_obs: !args.no_obs_norm,
                value_steps: args.value_steps,
                cv_steps: args.cv_steps,
                cv_per_batch: !args.cv_per_episode,
                cv_loss_per_step: args.cv_loss_per_step,
                episodes: args.episodes.unwrap_or(episodes),
                stop_when_solved: !args.run_after_solved,
                var_every: args.var_every,
                var_episodes: args.var_episodes,
                replay_cache: !args.no_replay_cache,
                timeout_s: args.timeout,
            })
        })
        .collect()
}

/// `relax rl <task>`: runs, writes the results, prints the table.
pub fn run_cli(task: GymTask, seed: u64, out: &Path, args: &GymArgs) -> Result<()> {
    let cfgs = configs(task, seed, args)?;
    if args.timeout.is_nan() || args.timeout <= 0.0 {
        return Err("--timeout must be > 0".into());
    }
    let total: u64 = cfgs
        .iter()
        .map(|c| c.seeds.len() as u64 * c.episodes as u64)
        .sum();
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} episodes, eta {eta}",
        )
        .expect("valid template"),
    );
    pb.set_message(format!("rl {}", task.env_id()));
    if args.replot {
        let dir = results_dir(out, task.experiment())?;
        let runs = cfgs
            .into_iter()
            .map(|c| {
                let seeds = read_runs(&dir, &c)?;
                let wall = seeds.iter().map(|r| r.run.wall_seconds).sum();
                Ok((c, seeds, wall))
            })
            .collect::<Result<Vec<_>>>()?;
        let dir = write_results(out, task, &runs)?;
        print!("{}", table(task, &runs));
        println!(
            "rewrote {} (wall time per method: the sum over its seeds)",
            dir.display()
        );
        return Ok(());
    }
    let counter = AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let results = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                pb.set_position(counter.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let r = run_all(&cfgs, args.jobs, out, &counter);
        done.store(true, Ordering::Relaxed);
        r
    })?;
    pb.finish_and_clear();
    let runs: Vec<(GymRunConfig, Vec<GymSeedRun>, f64)> = cfgs
        .into_iter()
        .zip(results)
        .map(|(c, (r, w))| (c, r, w))
        .collect();
    let dir = write_results(out, task, &runs)?;
    print!("{}", table(task, &runs));
    println!("wrote {}", dir.display());
    Ok(())
}

/// `v` to no decimals, "-" when undefined (no solved seed; one seed for a std).
fn fmt0(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

/// The results as text: episodes to solve per seed, mean +- std, wall time per seed.
pub fn table(task: GymTask, runs: &[(GymRunConfig, Vec<GymSeedRun>, f64)]) -> String {
    let mut s = format!(
        "{}: episodes to solve (first episode whose last-100 mean return is >= {}):\n",
        task.env_id(),
        task.threshold()
    );
    for (cfg, seeds, wall) in runs {
        let plain: Vec<SeedRun> = seeds.iter().map(|r| r.run.clone()).collect();
        let st = SolveStats::of(&plain);
        let per: Vec<String> = seeds
            .iter()
            .map(|r| match r.run.solved_at {
                Some(e) => format!("{e} ({:.0} s)", r.run.wall_seconds),
                None => format!(
                    "not in {} ({:.0} s)",
                    r.run.returns.len(),
                    r.run.wall_seconds
                ),
            })
            .collect();
        s += &format!(
            "  {:<5} lr {} scale {}: {}/{} solved, mean {} +- {}; per seed: {}; {:.0} s in all\n",
            cfg.estimator.name(),
            cfg.lr,
            cfg.cv_lr_scale,
            st.solved,
            seeds.len(),
            fmt0(st.mean),
            fmt0(st.std),
            per.join(", "),
            wall
        );
    }
    s
}
