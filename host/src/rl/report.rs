//! What every task writes into `<out>/<experiment>/`: `returns.csv` (with the last-100
//! mean), `log_variance.csv`, `summary.json` (one entry per method), the plots
//! ([`super::plots`]); and the printed table. Also reads back the bridge's per-seed files
//! (`--replot`).

use super::learners::learner_state_bytes;
use super::plots;
use super::runner::{BridgeCounters, MethodRuns, SeedRun};
use super::task::{RunConfig, Task};
use crate::output::{as_stored, config_diff, results_dir, write_json, CsvWriter};
use crate::{stats, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

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

/// Steps per second: over all seeds (native CartPole: training steps over the summed seed
/// times), or per seed (bridge: training and measurement steps).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Throughput {
    /// One figure for the method.
    Overall(f64),
    /// One figure per seed.
    PerSeed(Vec<f64>),
}

/// The JSON summary of one method. The bridge's tasks add the environment, its threshold,
/// episodes and steps run and the bridge's counters; the native CartPole adds the
/// learner's state size.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// The gymnasium id (bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<&'static str>,
    /// The threshold of "solved" (bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solved_threshold: Option<f64>,
    /// The configuration.
    pub config: &'a RunConfig,
    /// Episodes to solve per seed, mean +- std over the solved seeds.
    pub episodes_to_solve: SolveStats,
    /// Training episodes run per seed (bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episodes_run: Option<Vec<usize>>,
    /// Training environment steps per seed (bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_steps: Option<Vec<u64>>,
    /// Wall time of each seed, seconds.
    pub wall_seconds_per_seed: Vec<f64>,
    /// Wall time until the method's last seed ended, seconds.
    pub wall_seconds: f64,
    /// Environment steps per second.
    pub steps_per_second: Throughput,
    /// Steps sent to the Python processes (bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_live_steps: Option<u64>,
    /// Steps replayed from memory (bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_replayed_steps: Option<u64>,
    /// Bytes of the learner's state (native CartPole, [`learner_state_bytes`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learner_state_bytes: Option<usize>,
}

impl<'a> Summary<'a> {
    /// The summary of one method's runs.
    pub fn of(m: &'a MethodRuns) -> Self {
        let (cfg, seeds) = (&m.config, &m.seeds);
        let bridge = cfg.bridge.is_some();
        let sum = |f: fn(&BridgeCounters) -> u64| -> Option<u64> {
            bridge.then(|| seeds.iter().filter_map(|s| s.bridge.as_ref()).map(f).sum())
        };
        let steps_per_second = if bridge {
            Throughput::PerSeed(seeds.iter().map(|s| s.steps_per_second).collect())
        } else {
            let steps: u64 = seeds.iter().flat_map(|r| &r.steps).map(|&s| s as u64).sum();
            let secs: f64 = seeds.iter().map(|r| r.wall_seconds).sum();
            Throughput::Overall(steps as f64 / secs.max(1e-9))
        };
        Self {
            env: bridge.then(|| cfg.task.env_id()),
            solved_threshold: bridge.then(|| cfg.task.threshold()),
            config: cfg,
            episodes_to_solve: SolveStats::of(seeds),
            episodes_run: bridge.then(|| seeds.iter().map(|r| r.returns.len()).collect()),
            env_steps: bridge.then(|| {
                seeds
                    .iter()
                    .map(|r| r.steps.iter().map(|&s| s as u64).sum())
                    .collect()
            }),
            wall_seconds_per_seed: seeds.iter().map(|r| r.wall_seconds).collect(),
            wall_seconds: m.wall_seconds,
            steps_per_second,
            bridge_live_steps: sum(|b| b.live_steps),
            bridge_replayed_steps: sum(|b| b.replayed_steps),
            learner_state_bytes: learner_state_bytes(cfg.task, cfg.estimator),
        }
    }
}

/// Writes `returns.csv`, `log_variance.csv`, `summary.json`, `rewards.png` and (when
/// measured) `log_variance.png` into `<out>/<experiment>/`. Returns the directory.
pub fn write_results(out: &Path, task: Task, runs: &[MethodRuns]) -> Result<PathBuf> {
    let dir = results_dir(out, task.experiment())?;
    let mut csv = CsvWriter::create(
        &dir.join("returns.csv"),
        &["estimator", "seed", "episode", "return", "steps", "mean100"],
    )?;
    let mut vcsv = CsvWriter::create(
        &dir.join("log_variance.csv"),
        &["estimator", "seed", "episode", "ln_mean_variance"],
    )?;
    for m in runs {
        let name = m.config.estimator.name();
        for r in &m.seeds {
            let mean = stats::mean100(&r.returns);
            for (e, (&ret, &st)) in r.returns.iter().zip(&r.steps).enumerate() {
                csv.row(&[&name, &r.seed, &(e + 1), &ret, &st, &mean[e]])?;
            }
            for &(e, lv) in &r.log_variance {
                vcsv.row(&[&name, &r.seed, &e, &lv])?;
            }
        }
    }
    csv.finish()?;
    vcsv.finish()?;
    let summaries: Vec<Summary<'_>> = runs.iter().map(Summary::of).collect();
    write_json(&dir.join("summary.json"), &summaries)?;
    plots::rewards(&dir.join("rewards.png"), task, runs)?;
    plots::log_variance(&dir.join("log_variance.png"), task, runs)?;
    Ok(dir)
}

/// `v` to no decimals, "-" when undefined (no solved seed; one seed for a std).
fn fmt0(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

/// The results as text: episodes to solve per seed, mean +- std, wall time per seed.
pub fn table(task: Task, runs: &[MethodRuns]) -> String {
    let mut s = format!(
        "{}: episodes to solve (first episode whose last-100 mean return is >= {}):\n",
        task.label(),
        task.threshold()
    );
    for m in runs {
        let (cfg, seeds) = (&m.config, &m.seeds);
        let st = SolveStats::of(seeds);
        let per: Vec<String> = seeds
            .iter()
            .map(|r| match r.solved_at {
                Some(e) => format!("{e} ({:.0} s)", r.wall_seconds),
                None => format!("not in {} ({:.0} s)", r.returns.len(), r.wall_seconds),
            })
            .collect();
        let state = learner_state_bytes(cfg.task, cfg.estimator)
            .map_or_else(String::new, |b| format!("; learner state {b} B"));
        s += &format!(
            "  {:<9} lr {} scale {}: {}/{} solved, mean {} +- {}; per seed: {}; {:.0} s in all{state}\n",
            cfg.estimator.name(),
            cfg.lr,
            cfg.cv_lr_scale,
            st.solved,
            seeds.len(),
            fmt0(st.mean),
            fmt0(st.std),
            per.join(", "),
            m.wall_seconds
        );
    }
    s
}

/// Keys of a run's configuration that may differ between runs merged by `--replot`: the
/// seeds (the file's name says which one it is) and the reply deadline (it changes no
/// number).
const MERGEABLE: [&str; 2] = ["seeds", "timeout_s"];

/// Refuses the run file `f` (parsed: `v`) unless it was made with `cfg` (up to
/// [`MERGEABLE`]).
fn check_config(f: &Path, v: &serde_json::Value, cfg: &RunConfig) -> Result<()> {
    let have = v.get("config").ok_or_else(|| {
        format!(
            "{}: no configuration stored (written by an older relax); --replot cannot tell \
             which settings made it: train again",
            f.display()
        )
    })?;
    let diff = config_diff(have, &as_stored(cfg)?, &MERGEABLE);
    if diff.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}: made with other settings than the options given now ({}); pass the options of \
         that run, or train again",
        f.display(),
        diff.join("; ")
    )
    .into())
}

/// Reads `<dir>/runs/<method>-seed<k>.json` for every seed of `cfg` (written by the bridge's
/// tasks and by `--run-index`),
/// refusing a file made with another configuration (see [`check_config`]).
pub fn read_runs(dir: &Path, cfg: &RunConfig, grid: bool) -> Result<Vec<SeedRun>> {
    cfg.seeds
        .iter()
        .map(|&seed| {
            let f = dir
                .join("runs")
                .join(super::sweep::run_file(cfg, seed, grid));
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
            check_config(&f, &v, cfg)?;
            let field = |k: &str| -> Result<&serde_json::Value> {
                v.get(k)
                    .ok_or_else(|| format!("{}: no field {k}", f.display()).into())
            };
            let nums = |k: &str| -> Result<Vec<f64>> {
                field(k)?
                    .as_array()
                    .ok_or_else(|| format!("{}: {k} is not a list", f.display()))?
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
                    let episode = p[0].as_u64().unwrap_or(0) as u32;
                    (episode, p[1].as_f64().unwrap_or(f64::NAN))
                })
                .collect();
            let count = |k: &str| -> Result<u64> { Ok(field(k)?.as_u64().unwrap_or(0)) };
            Ok(SeedRun {
                seed,
                returns: nums("returns")?.into_iter().map(|x| x as f32).collect(),
                steps: nums("steps")?.into_iter().map(|x| x as u32).collect(),
                solved_at: field("solved_at")?.as_u64().map(|x| x as u32),
                log_variance,
                wall_seconds: field("wall_seconds")?.as_f64().unwrap_or(f64::NAN),
                // Native runs (no bridge) have no counters.
                bridge: match cfg.bridge {
                    None => None,
                    Some(_) => Some(BridgeCounters {
                        resets: count("resets")?,
                        live_steps: count("live_steps")?,
                        replayed_steps: count("replayed_steps")?,
                    }),
                },
                steps_per_second: field("steps_per_second")?.as_f64().unwrap_or(f64::NAN),
            })
        })
        .collect()
}
