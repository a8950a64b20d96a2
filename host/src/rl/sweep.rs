//! `relax rl <task>` spread over many machines: `--list-runs` lists the independent
//! (method, seed) runs, `--run-index I` trains run I alone into
//! `<out>/<experiment>/runs/<method>-seed<k>.json` (the per-seed file of the bridge, with
//! the configuration of the whole sweep), and the same command with `--replot` merges them
//! into what one machine would write (only the wall times differ). See docs/cluster.md.

use super::pool::run_pool;
use super::runner::{run_seed, server_options, RunFile};
use super::task::{RunConfig, Task};
use crate::output::{claim_run, print_written, write_json};
use crate::{progress, Ctx, Result};

/// The runs of `cfgs`: (configuration index, seed), methods in order and seeds inner.
pub fn jobs(cfgs: &[RunConfig]) -> Vec<(usize, u64)> {
    cfgs.iter()
        .enumerate()
        .flat_map(|(c, cfg)| cfg.seeds.iter().map(move |&s| (c, s)))
        .collect()
}

/// `--list-runs`: one line per run, `index<TAB>task method seed k`.
pub fn list_runs(task: Task, cfgs: &[RunConfig]) {
    for (i, (c, s)) in jobs(cfgs).into_iter().enumerate() {
        println!("{i}\t{} {} seed {s}", task.experiment(), cfgs[c].estimator);
    }
}

/// `--run-index i`: trains run `i` of `cfgs` alone and writes its per-seed file.
pub fn run_index(task: Task, cfgs: &[RunConfig], i: usize, ctx: &Ctx) -> Result<()> {
    let all = jobs(cfgs);
    let Some(&(c, seed)) = all.get(i) else {
        return Err(format!(
            "--run-index {i}: this sweep has {} runs, 0 to {} (see --list-runs)",
            all.len(),
            all.len().saturating_sub(1)
        )
        .into());
    };
    let cfg = &cfgs[c];
    let claim = claim_run(&ctx.out, task.experiment(), i)?;
    let opts = cfg
        .bridge
        .map(|b| server_options(b.timeout_s))
        .transpose()?;
    let what = format!("rl {} run {i}", task.label());
    let run = progress::with_counter(cfg.episodes as u64, &what, "episodes", |counter| {
        run_pool(1, 1, "rl", |_, stop| {
            run_seed(cfg, seed, opts.as_ref(), counter, stop)
                .map_err(|e| format!("{} {} seed {seed}: {e}", task.label(), cfg.estimator).into())
        })
    })?;
    let path = claim
        .dir()
        .join(format!("{}-seed{seed}.json", cfg.estimator));
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
