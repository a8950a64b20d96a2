//! The one training loop of every task, and the runs of many (method, seed) pairs through
//! the pool.
//!
//! Streams: the learner is built from stream 0 of the seed, training draws from stream 1,
//! the variance measurement from stream 2, so measuring never changes a training
//! trajectory. Every `var_every` episodes, before the episode, the log-variance of the
//! policy gradient is measured from `var_episodes` extra episodes at the current parameters
//! (no update), as in the caption of the paper's Figure 5.

use super::learners::{build, Episodes};
use super::pool::{self, run_pool, Stopped};
use super::task::RunConfig;
use crate::gym::{ensure_python, ServerOptions, Timeouts};
use crate::output::{results_dir, write_json};
use crate::{seed, stats, Result};
use rand_xoshiro::Xoshiro128PlusPlus;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The bridge's counters of one run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BridgeCounters {
    /// Resets sent to the Python process.
    pub resets: u64,
    /// Steps sent to the Python process.
    pub live_steps: u64,
    /// Steps replayed from memory.
    pub replayed_steps: u64,
}

/// One seed's outcome (written to `runs/<method>-seed<k>.json` on the bridge's tasks).
#[derive(Debug, Clone, Serialize)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Return of every training episode.
    pub returns: Vec<f32>,
    /// Steps of every training episode.
    pub steps: Vec<u32>,
    /// First episode (1-based) whose last-100 mean return reaches the task's threshold.
    pub solved_at: Option<u32>,
    /// (episode, ln of the mean over policy parameters of the gradient's variance).
    pub log_variance: Vec<(u32, f64)>,
    /// Wall time of this seed, seconds.
    pub wall_seconds: f64,
    /// The bridge's counters (gymnasium tasks).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeCounters>,
    /// Environment steps per wall-clock second (training and measurement, learning included).
    pub steps_per_second: f64,
}

/// ln of the mean over policy parameters of the sample variance of `n` episode gradients,
/// and the steps those episodes took (NaN without episodes). Ends with [`Stopped`] between
/// episodes once `stop` is raised.
fn log_variance(
    ep: &mut dyn Episodes,
    n: u32,
    rng: &mut Xoshiro128PlusPlus,
    stop: &AtomicBool,
) -> Result<(f64, u64)> {
    let mut g = Vec::new();
    let (mut s1, mut s2): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut steps = 0u64;
    for k in 0..n {
        pool::check(stop)?;
        let st = ep
            .gradient(rng, &mut g)
            .map_err(|e| format!("episode {} of {n} of the measurement: {e}", k + 1))?;
        steps += st as u64;
        if s1.is_empty() {
            s1 = vec![0.0; g.len()];
            s2 = vec![0.0; g.len()];
        }
        for (k, &v) in g.iter().enumerate() {
            s1[k] += v as f64;
            s2[k] += (v as f64).powi(2);
        }
    }
    if n == 0 {
        return Ok((f64::NAN, 0));
    }
    let nf = n as f64;
    let mean_var = (0..s1.len())
        .map(|k| (s2[k] - s1[k] * s1[k] / nf) / (nf - 1.0).max(1.0))
        .sum::<f64>()
        / s1.len().max(1) as f64;
    Ok(((mean_var + stats::LOG_VAR_FLOOR).ln(), steps))
}

/// Trains one seed of `cfg` (on the bridge, with its own server process started with
/// `opts`). `progress` counts training episodes (a seed stopped when solved adds the ones
/// it skips); the run ends early with [`Stopped`] when `stop` is raised. An error names
/// the episode it happened in.
pub fn run_seed(
    cfg: &RunConfig,
    seed: u64,
    opts: Option<&ServerOptions>,
    progress: &AtomicU64,
    stop: &AtomicBool,
) -> Result<SeedRun> {
    let start = Instant::now();
    let mut ep = build(cfg, seed, opts)?;
    let mut rng = seed::rng(seed, 1);
    let mut measure_rng = seed::rng(seed, 2);
    let threshold = cfg.task.threshold();
    let (mut returns, mut steps, mut solved, mut log_var) = (vec![], vec![], None, vec![]);
    let mut total_steps = 0u64;
    let mut window = stats::SolveWindow::new();
    for e in 1..=cfg.episodes {
        pool::check(stop)?;
        if cfg.var_every > 0 && (e - 1) % cfg.var_every == 0 {
            let n = cfg.task.var_episodes(cfg.var_episodes);
            let (lv, st) = log_variance(ep.as_mut(), n, &mut measure_rng, stop).map_err(|x| {
                pool::stopped_or(stop, x, |x| {
                    format!("the variance measurement before training episode {e}: {x}")
                })
            })?;
            log_var.push((e - 1, lv));
            total_steps += st;
        }
        let (ret, st) = ep
            .train(&mut rng)
            .map_err(|x| pool::stopped_or(stop, x, |x| format!("training episode {e}: {x}")))?;
        total_steps += st as u64;
        returns.push(ret);
        steps.push(st);
        progress.fetch_add(1, Ordering::Relaxed);
        window.push(ret);
        if solved.is_none() && stats::is_solved(&window, threshold) {
            solved = Some(e);
            if cfg.stop_when_solved {
                progress.fetch_add((cfg.episodes - e) as u64, Ordering::Relaxed);
                break;
            }
        }
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    Ok(SeedRun {
        seed,
        returns,
        steps,
        solved_at: solved,
        log_variance: log_var,
        wall_seconds,
        bridge: ep.bridge_stats().map(|s| BridgeCounters {
            resets: s.resets,
            live_steps: s.live_steps,
            replayed_steps: s.replayed_steps,
        }),
        steps_per_second: total_steps as f64 / wall_seconds.max(1e-9),
    })
}

/// Server options whose every deadline is `timeout_s` seconds (`--timeout`): the check of
/// the interpreter, the server's start (its handshake: Python starts, imports gymnasium and
/// makes the environment, 2-5 s here) and every reply. Prepares the Python environment
/// first (a first install gets [`crate::gym::INSTALL_FACTOR`] times as long).
pub fn server_options(timeout_s: f64) -> Result<ServerOptions> {
    let t = Duration::try_from_secs_f64(timeout_s)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or("--timeout must be > 0 seconds")?;
    Ok(ServerOptions {
        python: ensure_python(t)?,
        timeouts: Timeouts {
            startup: t,
            reply: t,
        },
        max_episode_steps: None,
        cancel: None,
    })
}

/// The per-seed file `runs/<method>-seed<k>.json`: the run, and the configuration it ran
/// with (`--replot` refuses to merge runs of another configuration).
#[derive(Serialize)]
pub struct RunFile<'a> {
    /// The run.
    #[serde(flatten)]
    pub run: &'a SeedRun,
    /// Its configuration.
    pub config: &'a RunConfig,
}

/// One method's runs: its seeds' outcomes (in seed order) and the wall time until its last
/// seed ended.
#[derive(Debug, Clone)]
pub struct MethodRuns {
    /// The configuration.
    pub config: RunConfig,
    /// One run per seed, in seed order.
    pub seeds: Vec<SeedRun>,
    /// Seconds from the start until the method's last seed ended.
    pub wall_seconds: f64,
}

/// Runs every (method, seed) pair of `cfgs`, `jobs` at a time, methods interleaved so that
/// partial progress covers all. On the bridge each finished seed is also written to
/// `<out>/<experiment>/runs/<method>-seed<k>.json` as soon as it ends. The error names the
/// first run that failed.
pub fn run_all(
    cfgs: Vec<RunConfig>,
    jobs: usize,
    out: &Path,
    progress: &AtomicU64,
) -> Result<Vec<MethodRuns>> {
    let opts: Vec<Option<ServerOptions>> = cfgs
        .iter()
        .map(|c| c.bridge.map(|b| server_options(b.timeout_s)).transpose())
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
    let done = run_pool(tasks.len(), jobs, "rl", |i, stop| {
        let (c, k) = tasks[i];
        let (cfg, seed) = (&cfgs[c], cfgs[c].seeds[k]);
        // The server gives up any wait once the pool stops (it is then killed).
        let opts = opts[c].clone().map(|o| ServerOptions {
            cancel: Some(stop.clone()),
            ..o
        });
        let r = run_seed(cfg, seed, opts.as_ref(), progress, stop).and_then(|r| {
            if cfg.bridge.is_some() {
                let dir = results_dir(out, cfg.task.experiment())?.join("runs");
                std::fs::create_dir_all(&dir)?;
                let file = RunFile {
                    run: &r,
                    config: cfg,
                };
                write_json(
                    &dir.join(format!("{}-seed{seed}.json", cfg.estimator)),
                    &file,
                )?;
            }
            Ok((r, start.elapsed().as_secs_f64()))
        });
        r.map_err(|e| {
            let e = pool::unless_stopped(stop, e);
            if e.is::<Stopped>() || e.to_string() == crate::interrupt::MESSAGE {
                return e;
            }
            let (env, method) = (cfg.task.label(), cfg.estimator);
            format!("{env} {method} seed {seed}: {e}").into()
        })
    })?;
    let mut runs: Vec<MethodRuns> = cfgs
        .into_iter()
        .map(|config| MethodRuns {
            config,
            seeds: Vec::new(),
            wall_seconds: 0.0,
        })
        .collect();
    // Tasks are in seed order within each configuration.
    for (&(c, _), (r, t)) in tasks.iter().zip(done) {
        runs[c].seeds.push(r);
        runs[c].wall_seconds = runs[c].wall_seconds.max(t);
    }
    Ok(runs)
}
