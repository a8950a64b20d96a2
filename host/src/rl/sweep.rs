//! `relax rl <task>` spread over many machines: `--list-runs` lists the independent
//! (method, seed) runs (for `--grid`: (method, lr, scale, seed)), `--run-index I` trains run
//! I alone into `<out>/<experiment>/runs/<method>-seed<k>.json` (the per-seed file of the
//! bridge, with the configuration of its method) and writes the sweep's manifest
//! `runs/sweep.json` ([`crate::manifest`]); `relax report <out>/<experiment>`, or the same
//! command with `--replot`, merges them into what one machine would write (only the wall
//! times differ). See docs/cluster.md.

use super::pool::run_pool;
use super::report::read_runs;
use super::runner::{run_seed, server_options, MethodRuns, RunFile};
use super::task::{RunConfig, Task};
use crate::output::{claim_run, print_written, write_json};
use crate::{progress, Ctx, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A sweep: the configurations of one `relax rl` command, in its order. Also the body of
/// the manifest `runs/sweep.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// The task.
    pub task: Task,
    /// The grid search (`relax rl cartpole --grid`).
    pub grid: bool,
    /// One per method (per grid point with `--grid`), each with all its seeds.
    pub configs: Vec<RunConfig>,
}

impl Sweep {
    /// The results directory under `--out`.
    pub fn experiment(&self) -> &'static str {
        if self.grid {
            super::grid::EXPERIMENT
        } else {
            self.task.experiment()
        }
    }

    /// The runs: (configuration index, seed), configurations in order and seeds inner.
    pub fn jobs(&self) -> Vec<(usize, u64)> {
        self.configs
            .iter()
            .enumerate()
            .flat_map(|(c, cfg)| cfg.seeds.iter().map(move |&s| (c, s)))
            .collect()
    }
}

/// The name of a run's file under `runs/`: `<method>-seed<k>.json`, or on the grid
/// `<method>-lr<lr>-scale<s>-seed<k>.json`.
pub fn run_file(cfg: &RunConfig, seed: u64, grid: bool) -> String {
    if grid {
        format!(
            "{}-lr{}-scale{}-seed{seed}.json",
            cfg.estimator, cfg.lr, cfg.cv_lr_scale
        )
    } else {
        format!("{}-seed{seed}.json", cfg.estimator)
    }
}

/// `--list-runs`: one line per run, `index<TAB>experiment method [lr X cv_lr_scale Y] seed k`.
pub fn list_runs(sweep: &Sweep) {
    for (i, (c, s)) in sweep.jobs().into_iter().enumerate() {
        let cfg = &sweep.configs[c];
        let point = if sweep.grid {
            format!(" lr {} cv_lr_scale {}", cfg.lr, cfg.cv_lr_scale)
        } else {
            String::new()
        };
        println!(
            "{i}\t{} {}{point} seed {s}",
            sweep.experiment(),
            cfg.estimator
        );
    }
}

/// `--run-index i`: checks or writes the manifest, then trains run `i` alone and writes its
/// per-seed file.
pub fn run_index(sweep: &Sweep, i: usize, ctx: &Ctx) -> Result<()> {
    let all = sweep.jobs();
    let Some(&(c, seed)) = all.get(i) else {
        return Err(format!(
            "--run-index {i}: this sweep has {} runs, 0 to {} (see --list-runs)",
            all.len(),
            all.len().saturating_sub(1)
        )
        .into());
    };
    let cfg = &sweep.configs[c];
    let experiment = sweep.experiment();
    let claim = claim_run(&ctx.out, experiment, i)?;
    crate::manifest::write_manifest(&ctx.out.join(experiment), "rl", sweep)?;
    let opts = cfg
        .bridge
        .map(|b| server_options(b.timeout_s))
        .transpose()?;
    let task = sweep.task;
    let what = format!("rl {} run {i}", task.label());
    let run = progress::with_counter(cfg.episodes as u64, &what, "episodes", |counter| {
        run_pool(1, 1, "rl", |_, stop| {
            run_seed(cfg, seed, opts.as_ref(), counter, stop)
                .map_err(|e| format!("{} {} seed {seed}: {e}", task.label(), cfg.estimator).into())
        })
    })?;
    let path = claim.dir().join(run_file(cfg, seed, sweep.grid));
    write_json(
        &path,
        &RunFile {
            run: &run[0],
            config: cfg,
        },
    )?;
    print_written(&[path]);
    Ok(())
}

/// Every run of `cfgs` read back from `<dir>/runs/` (refusing a missing one or one of other
/// settings), one [`MethodRuns`] per configuration; a method's wall time is the sum over its
/// seeds.
pub fn read_all(dir: &Path, cfgs: Vec<RunConfig>, grid: bool) -> Result<Vec<MethodRuns>> {
    cfgs.into_iter()
        .map(|config| {
            let seeds = read_runs(dir, &config, grid)?;
            let wall_seconds = seeds.iter().map(|r| r.wall_seconds).sum();
            Ok(MethodRuns {
                config,
                seeds,
                wall_seconds,
            })
        })
        .collect()
}

/// `relax report <out>/<dir_name>` for an RL sweep: its manifest (read from `path`) names
/// the configurations; the merge is `--replot`'s.
pub fn merge_manifest(
    out: &Path,
    dir_name: &str,
    manifest: serde_json::Value,
    path: &Path,
) -> Result<()> {
    let sweep: Sweep =
        serde_json::from_value(manifest).map_err(|e| format!("{}: {e}", path.display()))?;
    if dir_name != sweep.experiment() {
        return Err(format!(
            "{}: a sweep of {} must sit in a directory named {} (relax writes its results \
             there), not {dir_name}",
            path.display(),
            sweep.experiment(),
            sweep.experiment()
        )
        .into());
    }
    if sweep.grid {
        super::grid::merge(out, sweep.configs)
    } else {
        super::merge(sweep.task, sweep.configs, out)
    }
}
