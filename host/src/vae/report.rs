//! What a `relax vae` command writes under `<out>/vae-<dataset>-<model>/`: one CSV of curves
//! per estimator (appended epoch by epoch, so an interrupted run keeps what it did), one
//! combined `curves.csv`, `summary.json` (settings, per-estimator results, Table 4's epochs
//! to REBAR's best validation bound) and `neg_elbo.png` in the style of Figure 4.

use super::train::{EpochRecord, RunResult};
use crate::output::{write_json, CsvWriter};
use crate::plot::{line_plot, palette, LegendAt, Panel, Series};
use crate::Result;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CSV header of the curves.
pub const HEADER: [&str; 7] = [
    "estimator",
    "epoch",
    "train_neg_elbo",
    "valid_neg_iwae",
    "variance_loss",
    "train_seconds",
    "iters_per_s",
];

/// Appends one epoch to `<dir>/curves-<estimator>.csv` (header on a new file).
pub fn append_epoch(dir: &Path, estimator: &str, r: &EpochRecord) -> Result<()> {
    let path = partial_curves(dir, estimator);
    let new = r.epoch == 1 || !path.exists();
    let mut f = if new {
        std::fs::File::create(&path)?
    } else {
        OpenOptions::new().append(true).open(&path)?
    };
    if new {
        writeln!(f, "{}", HEADER.join(","))?;
    }
    writeln!(
        f,
        "{estimator},{},{:.4},{},{:.6e},{:.2},{:.2}",
        r.epoch,
        r.train_neg_elbo,
        r.valid_neg_iwae
            .map_or(String::new(), |v| format!("{v:.4}")),
        r.variance_loss,
        r.train_seconds,
        r.iters_per_s
    )?;
    Ok(())
}

/// Where a run's curve grows while it trains: `curves-<estimator>.partial.csv`. Only a run
/// that ends renames it to `curves-<estimator>.csv` ([`complete_curves`]), so an interrupted
/// run never replaces an earlier complete curve, and `--report-only` never takes a partial
/// curve for a complete one.
pub fn partial_curves(dir: &Path, estimator: &str) -> std::path::PathBuf {
    dir.join(format!("curves-{estimator}.partial.csv"))
}

/// Renames the finished run's partial curve into place (atomically).
pub fn complete_curves(dir: &Path, estimator: &str) -> Result<()> {
    let done = dir.join(format!("curves-{estimator}.csv"));
    crate::output::commit(&partial_curves(dir, estimator), &done)?;
    Ok(())
}

/// The first epoch at which `run`'s validation bound is at least `target` (Table 4).
pub fn epochs_to_reach(run: &RunResult, target: f64) -> Option<usize> {
    run.records
        .iter()
        .find(|r| r.valid_neg_iwae.is_some_and(|v| -v >= target))
        .map(|r| r.epoch)
}

/// A one-line-per-estimator table: best training ELBO, best validation IWAE, its epoch, test
/// IWAE, iterations per second.
pub fn table(runs: &[RunResult]) -> String {
    let mut s = format!(
        "{:<9} {:>7} {:>15} {:>16} {:>10} {:>12} {:>9}\n",
        "estimator",
        "epochs",
        "best train ELBO",
        "best valid IWAE",
        "best epoch",
        "test IWAE",
        "iters/s"
    );
    for r in runs {
        s += &format!(
            "{:<9} {:>7} {:>15.2} {:>16.2} {:>10} {:>12} {:>9.1}\n",
            r.config.estimator.kind.label(),
            r.records.len(),
            r.best_train_elbo,
            r.best_valid_iwae,
            r.best_epoch,
            r.test_iwae.map_or("-".into(), |t| format!("{t:.2}")),
            r.iters_per_s
        );
    }
    if let Some(rebar) = runs
        .iter()
        .find(|r| r.config.estimator.kind.label() == "rebar")
    {
        for r in runs
            .iter()
            .filter(|r| r.config.estimator.kind.label() != "rebar")
        {
            s += &format!(
                "epochs for {} to reach REBAR's best validation bound {:.2} (REBAR: {}): {}\n",
                r.config.estimator.kind.label(),
                rebar.best_valid_iwae,
                rebar.best_epoch,
                epochs_to_reach(r, rebar.best_valid_iwae)
                    .map_or("not reached".into(), |e| e.to_string())
            );
        }
    }
    s
}

/// Writes `curves.csv`, `summary.json` and `neg_elbo.png` for `runs` into `dir`.
pub fn write_all<S: serde::Serialize>(
    dir: &Path,
    title: &str,
    settings: &S,
    runs: &[RunResult],
) -> Result<Vec<PathBuf>> {
    let csv_path = dir.join("curves.csv");
    let mut csv = CsvWriter::create(&csv_path, &HEADER)?;
    for run in runs {
        for r in &run.records {
            csv.row(&[
                &run.config.estimator.kind.label(),
                &r.epoch,
                &r.train_neg_elbo,
                &r.valid_neg_iwae.map_or(String::new(), |v| v.to_string()),
                &r.variance_loss,
                &r.train_seconds,
                &r.iters_per_s,
            ])?;
        }
    }
    csv.finish()?;
    let rebar_best = runs
        .iter()
        .find(|r| r.config.estimator.kind.label() == "rebar")
        .map(|r| r.best_valid_iwae);
    #[derive(serde::Serialize)]
    struct Table4 {
        estimator: &'static str,
        epochs_to_reach_rebar_best_valid: Option<usize>,
    }
    #[derive(serde::Serialize)]
    struct Summary<'a, S> {
        experiment: &'a str,
        settings: &'a S,
        runs: &'a [RunResult],
        rebar_best_valid_iwae: Option<f64>,
        table4: Vec<Table4>,
    }
    let table4 = match rebar_best {
        Some(t) => runs
            .iter()
            .map(|r| Table4 {
                estimator: r.config.estimator.kind.label(),
                epochs_to_reach_rebar_best_valid: epochs_to_reach(r, t),
            })
            .collect(),
        None => Vec::new(),
    };
    let json_path = dir.join("summary.json");
    write_json(
        &json_path,
        &Summary {
            experiment: title,
            settings,
            runs,
            rebar_best_valid_iwae: rebar_best,
            table4,
        },
    )?;
    let png = dir.join("neg_elbo.png");
    let mut series = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let c = palette(i);
        let name = run.config.estimator.kind.label().to_uppercase();
        let x: Vec<f64> = run.records.iter().map(|r| r.epoch as f64).collect();
        series.push(
            Series::new(
                format!("{name} train"),
                x,
                run.records.iter().map(|r| r.train_neg_elbo).collect(),
            )
            .with_color(c),
        );
        // The validated epochs only (all of them unless --valid-every).
        let (vx, vy): (Vec<f64>, Vec<f64>) = run
            .records
            .iter()
            .filter_map(|r| r.valid_neg_iwae.map(|v| (r.epoch as f64, v)))
            .unzip();
        series.push(
            Series::new(format!("{name} valid (IWAE-100)"), vx, vy)
                .with_color(c)
                .dashed(),
        );
    }
    if let Some(t) = rebar_best {
        let last = runs
            .iter()
            .map(|r| r.records.len())
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        series.push(
            Series::new("REBAR best valid", vec![1.0, last], vec![-t, -t])
                .with_color((0, 0, 0))
                .dashed(),
        );
    }
    // Clip the first epochs' large values so the interesting range is visible.
    let finals: Vec<f64> = runs
        .iter()
        .flat_map(|r| {
            r.records.iter().map(|e| {
                e.valid_neg_iwae
                    .map_or(e.train_neg_elbo, |v| e.train_neg_elbo.min(v))
            })
        })
        .filter(|v| v.is_finite())
        .collect();
    let y_range = if finals.is_empty() {
        None
    } else {
        let lo = finals.iter().cloned().fold(f64::INFINITY, f64::min);
        let late: Vec<f64> = runs
            .iter()
            .flat_map(|r| {
                let skip = r.records.len() / 5;
                r.records.iter().skip(skip).map(|e| {
                    e.valid_neg_iwae
                        .map_or(e.train_neg_elbo, |v| e.train_neg_elbo.max(v))
                })
            })
            .collect();
        let hi = late.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (hi > lo).then_some((lo - 0.5, hi + 0.5 + 0.3 * (hi - lo)))
    };
    line_plot(
        &png,
        &[Panel {
            title: title.to_string(),
            x_label: "epoch".into(),
            y_label: "-ELBO (nats)".into(),
            series,
            y_range,
            legend: LegendAt::UpperRight,
            headroom: 0.3,
        }],
        (900, 600),
    )?;
    Ok(vec![csv_path, json_path, png])
}

/// Rebuilds runs from the `curves-<estimator>.csv` files in `dir` (for `--report-only`):
/// the records, the best values and the mean iterations per second; the settings are the
/// defaults for `model` (the commands that made the files are in their `summary-*.json`).
pub fn gather(dir: &Path, model: super::model::ModelKind) -> Result<Vec<RunResult>> {
    use super::estimators::EstimatorKind;
    use super::train::TrainConfig;
    let mut runs = Vec::new();
    for kind in EstimatorKind::all() {
        let path = dir.join(format!("curves-{}.csv", kind.label()));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut records = Vec::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != HEADER.len() {
                return Err(format!("{}: bad line {line:?}", path.display()).into());
            }
            let num = |i: usize| -> Result<f64> {
                f[i].parse::<f64>()
                    .map_err(|e| format!("{}: {e} in {line:?}", path.display()).into())
            };
            records.push(EpochRecord {
                epoch: num(1)? as usize,
                train_neg_elbo: num(2)?,
                valid_neg_iwae: if f[3].is_empty() { None } else { Some(num(3)?) },
                variance_loss: num(4)?,
                train_seconds: num(5)?,
                iters_per_s: num(6)?,
            });
        }
        let Some(last) = records.last().copied() else {
            continue;
        };
        // The first of the best (as training keeps it), over the validated epochs.
        let best = records
            .iter()
            .filter_map(|r| r.valid_neg_iwae.map(|v| (v, r.epoch)))
            .fold(None, |b: Option<(f64, usize)>, (v, e)| match b {
                Some((bv, _)) if bv <= v => b,
                _ => Some((v, e)),
            })
            .ok_or_else(|| format!("{}: no validated epoch", path.display()))?;
        let best_train = records
            .iter()
            .map(|r| r.train_neg_elbo)
            .fold(f64::INFINITY, f64::min);
        // Iterations per epoch, from the first epoch's rate and duration.
        let iters_per_epoch = (records[0].iters_per_s * records[0].train_seconds).round() as usize;
        runs.push(RunResult {
            config: TrainConfig::paper(model, kind, records.len()),
            best_train_elbo: -best_train,
            best_valid_iwae: -best.0,
            best_epoch: best.1,
            test_iwae: None,
            iters_per_s: (iters_per_epoch * records.len()) as f64 / last.train_seconds.max(1e-9),
            iters_per_epoch,
            wall_seconds: f64::NAN,
            etas: Vec::new(),
            temperatures: Vec::new(),
            records,
            best_params: Vec::new(),
            flops_per_iter: 0.0,
            time_split: Default::default(),
        });
    }
    if runs.is_empty() {
        return Err(format!("no curves-<estimator>.csv in {}", dir.display()).into());
    }
    Ok(runs)
}
