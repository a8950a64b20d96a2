//! `relax toy` spread over many machines: `--list-runs` lists the independent (method, seed)
//! runs, `--run-index I` computes run I alone into `<out>/toy/runs/<method>-seed<k>.json`
//! (the whole run and its configuration), and `relax report <out>/toy` ([`merge`]) reads
//! them all back and writes curves.csv, summary.json and the plots exactly as one `relax toy`
//! on one machine would (only `wall_time_s` differs: there it is the sum over the runs).
//! See docs/cluster.md.

use super::{jobs, report, run_one, ToyConfig, ToyResult, ToyRun};
use crate::output::{claim, claim_run, print_written, write_json};
use crate::{progress, Ctx, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `--run-index` writes: one run with everything needed to merge and check it.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunFile {
    /// Always "toy".
    pub experiment: String,
    /// The run's index in [`jobs`] (`--run-index`).
    pub index: usize,
    /// How many runs the sweep has.
    pub runs: usize,
    /// The configuration of the whole sweep (every run file of a sweep has the same).
    pub config: ToyConfig,
    /// The run.
    pub run: ToyRun,
    /// Wall time of this run, seconds.
    pub wall_time_s: f64,
}

/// Reads a list of numbers in which JSON null stands for NaN (as serde_json writes NaN).
pub(crate) fn null_as_nan<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<f64>, D::Error> {
    let v = Vec::<Option<f64>>::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

/// The file name of a run under `runs/`.
pub fn file_name(run: (super::ToyEstimator, u64)) -> String {
    format!("{}-seed{}.json", run.0.name(), run.1)
}

/// `--list-runs`: one line per run, `index<TAB>method seed k`.
pub fn list_runs(cfg: &ToyConfig) {
    for (i, (k, s)) in jobs(cfg).into_iter().enumerate() {
        println!("{i}\t{} seed {s}", k.name());
    }
}

/// `--run-index i`: computes run `i` alone and writes `<out>/toy/runs/<method>-seed<k>.json`.
pub fn run_index(cfg: &ToyConfig, i: usize, ctx: &Ctx) -> Result<()> {
    let all = jobs(cfg);
    let Some(&(k, s)) = all.get(i) else {
        return Err(format!(
            "--run-index {i}: this sweep has {} runs, 0 to {} (see --list-runs)",
            all.len(),
            all.len() - 1
        )
        .into());
    };
    let claim = claim_run(&ctx.out, "toy", i)?;
    let start = Instant::now();
    let what = format!("toy run {i} ({} seed {s})", k.name());
    let run = progress::with_bar(cfg.steps as u64, &what, "steps", |inc| {
        run_one(cfg, k, s, inc)
    })?;
    let file = RunFile {
        experiment: "toy".into(),
        index: i,
        runs: all.len(),
        config: cfg.clone(),
        run,
        wall_time_s: start.elapsed().as_secs_f64(),
    };
    let path = claim.dir().join(file_name((k, s)));
    write_json(&path, &file)?;
    print_written(&[path]);
    Ok(())
}

/// Reads every `runs/*.json` of `dir`, sorted by name, each with its path.
fn read_run_files(dir: &Path) -> Result<Vec<(PathBuf, RunFile)>> {
    let runs = dir.join("runs");
    let rd = std::fs::read_dir(&runs).map_err(|e| format!("{}: {e}", runs.display()))?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let f: RunFile = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a toy run file: {e}", p.display()))?;
            Ok((p, f))
        })
        .collect()
}

/// The runs of `files` in [`jobs`] order, after checking that they share one configuration
/// and that every run is there exactly once; errors name the file at fault.
pub fn collect(files: Vec<(PathBuf, RunFile)>) -> Result<ToyResult> {
    let Some((first, f0)) = files.first() else {
        return Err("no run files (runs/*.json): run `relax toy --run-index I` first".into());
    };
    let (first, config) = (first.clone(), f0.config.clone());
    let all = jobs(&config);
    let mut slots: Vec<Option<(PathBuf, ToyRun)>> = vec![None; all.len()];
    let mut wall_time_s = 0.0;
    for (p, f) in files {
        if f.experiment != "toy" || f.config != config {
            return Err(format!(
                "{}: another configuration than {} (a run of another sweep? remove it or use \
                 another --out)",
                p.display(),
                first.display()
            )
            .into());
        }
        if all.get(f.index) != Some(&(f.run.estimator, f.run.seed)) || f.runs != all.len() {
            return Err(format!(
                "{}: run {} does not belong to this sweep",
                p.display(),
                f.index
            )
            .into());
        }
        if let Some((q, _)) = &slots[f.index] {
            return Err(format!(
                "{} and {}: both hold run {}",
                q.display(),
                p.display(),
                f.index
            )
            .into());
        }
        wall_time_s += f.wall_time_s;
        slots[f.index] = Some((p, f.run));
    }
    let missing: Vec<String> = (0..all.len())
        .filter(|&i| slots[i].is_none())
        .map(|i| format!("{i} ({})", file_name(all[i])))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} of {} runs missing: {} (run them with `relax toy ... --run-index I`)",
            missing.len(),
            all.len(),
            missing.join(", ")
        )
        .into());
    }
    Ok(ToyResult {
        config,
        runs: slots.into_iter().flatten().map(|(_, r)| r).collect(),
        wall_time_s,
    })
}

/// `relax report <out>/toy`: merges the run files of `dir` and writes curves.csv,
/// summary.json and the plots into `dir`, as the one-machine `relax toy` would.
pub fn merge(dir: &Path) -> Result<()> {
    let out = dir.parent().unwrap_or(Path::new(""));
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("toy");
    let claim = claim(out, name)?;
    let r = collect(read_run_files(claim.dir())?)?;
    let files = report::write_toy(&r, claim.dir())?;
    print!("{}", report::summary_table(&r));
    print_written(&files);
    Ok(())
}
