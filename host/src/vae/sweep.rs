//! `relax vae` spread over many machines (docs/cluster.md): `--run-index I` trains estimator
//! I alone and, besides its curves-<est>.csv and summary-<est>.json, writes
//! `runs/<est>.json` (the whole run at full precision and the data settings); the same
//! command with `--report-only` then merges those files into the curves.csv, summary.json and
//! neg_elbo.png that one `relax vae` writes (only timing keys differ).

use super::data::Binarization;
use super::model::ModelKind;
use super::train::{RunResult, TrainConfig};
use crate::output::{as_stored, config_diff, write_json};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The data settings of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The data set.
    pub data: String,
    /// Where its files were read.
    pub data_dir: String,
    /// Training images.
    pub train_images: usize,
    /// Validation images.
    pub valid_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Fixed or dynamic binarization.
    pub binarization: Binarization,
    /// Seed of the fixed binarization.
    pub binarization_seed: u64,
    /// The model.
    pub model: ModelKind,
    /// The command line.
    pub command: String,
    /// Threads of the evaluation.
    pub threads: usize,
}

/// What `--run-index` writes to `runs/<estimator>.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunFile {
    /// The run's index (`--run-index`).
    pub index: usize,
    /// The data settings.
    pub settings: Settings,
    /// The run.
    pub run: RunResult,
}

fn path(dir: &Path, label: &str) -> PathBuf {
    dir.join("runs").join(format!("{label}.json"))
}

/// Writes run `index` to `<dir>/runs/<estimator>.json`.
pub fn write_run(
    dir: &Path,
    index: usize,
    settings: &Settings,
    run: &RunResult,
) -> Result<PathBuf> {
    let p = path(dir, run.config.estimator.kind.label());
    let file = RunFile {
        index,
        settings: settings.clone(),
        run: run.clone(),
    };
    write_json(&p, &file)?;
    Ok(p)
}

/// The runs of `configs` (in their order) and the data settings, read from `<dir>/runs/`;
/// `None` when there is no `runs/*.json` at all (then `--report-only` gathers the older
/// curves-*.csv). Refuses a missing run and one made with other settings, naming the file.
pub fn read_runs(
    dir: &Path,
    configs: &[TrainConfig],
) -> Result<Option<(Settings, Vec<RunResult>)>> {
    let any = std::fs::read_dir(dir.join("runs")).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok())
            .any(|e| e.path().extension().is_some_and(|x| x == "json"))
    });
    if !any {
        return Ok(None);
    }
    let mut settings: Option<(PathBuf, Settings)> = None;
    let mut runs = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let p = path(dir, c.estimator.kind.label());
        let text = std::fs::read_to_string(&p).map_err(|e| {
            format!(
                "{}: {e} (run {i} missing: `relax vae ... --run-index {i}`)",
                p.display()
            )
        })?;
        let f: RunFile =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        let differ = as_stored(&f.run.config)
            .and_then(|have| Ok(config_diff(&have, &as_stored(c)?, &[])))?;
        if !differ.is_empty() {
            return Err(format!(
                "{}: made with other settings than these flags ({}); pass that run's flags or \
                 another --out",
                p.display(),
                differ.join("; ")
            )
            .into());
        }
        let data = |s: &Settings| {
            (
                s.data.clone(),
                s.train_images,
                s.valid_images,
                s.test_images,
                s.binarization,
                s.binarization_seed,
                s.model,
            )
        };
        match &settings {
            Some((q, s)) if data(s) != data(&f.settings) => {
                return Err(
                    format!("{} and {}: other data settings", q.display(), p.display()).into(),
                )
            }
            Some(_) => {}
            None => settings = Some((p.clone(), f.settings.clone())),
        }
        runs.push(f.run);
    }
    Ok(settings.map(|(_, s)| (s, runs)))
}

/// The manifest of a `relax vae` sweep (`runs/sweep.json`, see [`crate::manifest`]): every
/// run's configuration in `--list-runs` order.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// One per estimator.
    pub configs: Vec<TrainConfig>,
}

/// The plot's title.
pub fn title(data: &str, model: ModelKind) -> String {
    format!(
        "{data} {}: -ELBO (train, solid) and -IWAE-100 (valid, dashed)",
        model.label()
    )
}

/// `relax report DIR` for a VAE sweep: the runs the manifest (read from `path`) names, read
/// and checked as `--report-only` does, written as one `relax vae` writes them.
pub fn merge_manifest(dir: &Path, manifest: serde_json::Value, path: &Path) -> Result<()> {
    let m: Manifest =
        serde_json::from_value(manifest).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let out = dir.parent().unwrap_or(Path::new("."));
    let claim = crate::output::claim(out, name)?;
    let Some((settings, runs)) = read_runs(claim.dir(), &m.configs)? else {
        return Err(format!(
            "{}: no run files yet (`relax vae ... --run-index I` writes them)",
            dir.join("runs").display()
        )
        .into());
    };
    let expected = format!("vae-{}-{}", settings.data, settings.model.label());
    if name != expected {
        return Err(format!(
            "{}: runs of {expected} must sit in a directory named {expected}",
            dir.display()
        )
        .into());
    }
    let title = title(&settings.data, settings.model);
    let files = super::report::write_all(claim.dir(), &title, &settings, &runs)?;
    print!("{}", super::report::table(&runs));
    crate::output::print_written(&files);
    Ok(())
}
