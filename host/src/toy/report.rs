//! Writes the toy experiments' results: CSV curves, a JSON summary, PNG figures and a text
//! table for the terminal.

use super::fixed_theta::FixedThetaResult;
use super::{ToyEstimator, ToyResult, ToyRun};
use crate::output::{write_json, CsvWriter};
use crate::plot::{line_plot, LegendAt, Panel, Series};
use crate::stats::{pointwise_mean_std, rolling_mean};
use crate::Result;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Window of the rolling mean of the log-variance plot (the paper's Figure 1, right).
pub const ROLLING_WINDOW: usize = 50;

/// One method's line of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ToySummaryRow {
    /// Machine name.
    pub estimator: &'static str,
    /// Display name.
    pub label: &'static str,
    /// Final exact loss, mean over seeds.
    pub final_exact_loss: f64,
    /// Final exact loss per seed.
    pub final_exact_loss_per_seed: Vec<f64>,
    /// Final `theta`, mean over seeds.
    pub final_theta: f64,
    /// Mean over log points and seeds of `ln(Var + 1e-20)` (null for the exact gradient).
    pub mean_log_var: Option<f64>,
    /// Evaluations of `f(b)` per training step.
    pub f_evals_per_step: f64,
    /// Relaxed evaluations `f(x)` per training step.
    pub relaxed_evals_per_step: f64,
}

/// The JSON summary of a toy run.
#[derive(Debug, Clone, Serialize)]
pub struct ToySummary<'a> {
    /// Always "toy".
    pub experiment: &'static str,
    /// The configuration.
    pub config: &'a super::ToyConfig,
    /// The optimum `t^2` (theta = 0).
    pub optimum_loss: f64,
    /// The loss at the start, `theta = 0.5`.
    pub initial_loss: f64,
    /// Which logarithm the variances are reported in.
    pub log_variance: &'static str,
    /// Per method, in `config.estimators` order.
    pub estimators: Vec<ToySummaryRow>,
    /// Wall time of the runs, seconds (excluding writing the outputs).
    pub wall_time_s: f64,
}

/// The summary of `r`.
pub fn summary(r: &ToyResult) -> ToySummary<'_> {
    let t = r.config.target as f64;
    let steps = r.config.steps.max(1) as f64;
    let estimators = r
        .config
        .estimators
        .iter()
        .map(|&k| {
            let runs: Vec<&ToyRun> = r.runs_of(k).collect();
            let n = runs.len().max(1) as f64;
            let mlv = r.mean_log_var(k);
            ToySummaryRow {
                estimator: k.name(),
                label: k.label(),
                final_exact_loss: r.final_loss(k),
                final_exact_loss_per_seed: runs.iter().map(|x| x.final_loss()).collect(),
                final_theta: runs.iter().map(|x| x.final_theta()).sum::<f64>() / n,
                mean_log_var: mlv.is_finite().then_some(mlv),
                f_evals_per_step: runs.iter().map(|x| x.train_f_evals as f64).sum::<f64>()
                    / n
                    / steps,
                relaxed_evals_per_step: runs
                    .iter()
                    .map(|x| x.train_relaxed_evals as f64)
                    .sum::<f64>()
                    / n
                    / steps,
            }
        })
        .collect();
    ToySummary {
        experiment: "toy",
        config: &r.config,
        optimum_loss: t * t,
        initial_loss: crate::objective::toy_exact_loss(0.5, t),
        log_variance:
            "natural log, ln(Var + 1e-20), of the logit gradient over var_samples fresh estimates",
        estimators,
        wall_time_s: r.wall_time_s,
    }
}

/// A fixed-width text table of the summary, for the terminal.
pub fn summary_table(r: &ToyResult) -> String {
    let s = summary(r);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>16} {:>10} {:>14} {:>8} {:>8}",
        "estimator", "final exact loss", "theta", "mean ln Var", "f/step", "fx/step"
    );
    for row in &s.estimators {
        let lv = row
            .mean_log_var
            .map_or("-".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "{:<16} {:>16.6} {:>10.2e} {:>14} {:>8.1} {:>8.1}",
            row.label,
            row.final_exact_loss,
            row.final_theta,
            lv,
            row.f_evals_per_step,
            row.relaxed_evals_per_step
        );
    }
    let _ = writeln!(
        out,
        "optimum t^2 = {:.6}; start L(0.5) = {:.6}; wall time {:.2} s",
        s.optimum_loss, s.initial_loss, s.wall_time_s
    );
    out
}

/// Mean (and, with several seeds, a +-1 std band) of a per-run curve over the seeds of `k`.
fn seed_mean_series(
    r: &ToyResult,
    k: ToyEstimator,
    x: Vec<f64>,
    curve: impl Fn(&ToyRun) -> Vec<f64>,
) -> Series {
    let curves: Vec<Vec<f64>> = r.runs_of(k).map(curve).collect();
    let refs: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
    let (m, s) = pointwise_mean_std(&refs);
    let x = x[..m.len().min(x.len())].to_vec();
    let mut series = Series::new(k.label(), x, m.clone()).with_color(k.color());
    if curves.len() > 1 {
        let lo = m.iter().zip(&s).map(|(m, s)| m - s).collect();
        let hi = m.iter().zip(&s).map(|(m, s)| m + s).collect();
        series = series.with_band(lo, hi);
    }
    series
}

/// Figure 1's two panels: the exact loss, and the rolling mean of the log-variance.
pub fn figure1_panels(r: &ToyResult) -> (Panel, Panel) {
    let Some(first) = r.runs.first() else {
        let empty = |t: &str| Panel {
            title: t.into(),
            x_label: "steps".into(),
            y_label: String::new(),
            series: vec![],
            y_range: None,
            legend: LegendAt::UpperRight,
            headroom: 0.0,
        };
        return (empty("no runs"), empty("no runs"));
    };
    let steps: Vec<f64> = first.steps.iter().map(|&s| s as f64).collect();
    let seeds = r.config.seeds.len();
    let mean_note = if seeds > 1 {
        format!(", mean +- std of {seeds} seeds")
    } else {
        String::new()
    };
    let t = r.config.target as f64;
    // The optimum first, so the exact-gradient curve that reaches it is drawn on top.
    let mut loss_series = vec![Series::new(
        format!("optimum t^2 = {:.6}", t * t),
        vec![steps[0], *steps.last().unwrap_or(&0.0)],
        vec![t * t; 2],
    )
    .with_color((170, 170, 170))];
    loss_series.extend(
        r.config
            .estimators
            .iter()
            .map(|&k| seed_mean_series(r, k, steps.clone(), |run| run.loss.clone())),
    );
    let loss = Panel {
        title: format!("Exact loss, t = {}{mean_note}", r.config.target),
        x_label: "steps".into(),
        y_label: "exact loss E[(b - t)^2]".into(),
        series: loss_series,
        y_range: None,
        legend: LegendAt::UpperRight,
        // Room above the curves for the legend of eight entries.
        headroom: 0.5,
    };
    let w = ROLLING_WINDOW;
    let rolled_x: Vec<f64> = steps.iter().skip(w.saturating_sub(1)).copied().collect();
    let var_series = r
        .config
        .estimators
        .iter()
        .filter(|&&k| k != super::exact())
        .map(|&k| seed_mean_series(r, k, rolled_x.clone(), |run| rolling_mean(&run.log_var, w)))
        .collect();
    let logvar = Panel {
        title: format!(
            "Log variance of {} estimates, rolling mean of {w}{mean_note}",
            r.config.var_samples
        ),
        x_label: "steps".into(),
        y_label: "ln Var(gradient estimate)".into(),
        series: var_series,
        y_range: None,
        legend: LegendAt::LowerLeft,
        headroom: 0.0,
    };
    (loss, logvar)
}

/// Writes `curves.csv`, `summary.json`, `toy_loss.png`, `toy_logvar.png` and `figure1.png`
/// (both panels) into `dir`; returns the paths written.
pub fn write_toy(r: &ToyResult, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let csv_path = dir.join("curves.csv");
    let mut csv = CsvWriter::create(
        &csv_path,
        &[
            "seed",
            "step",
            "estimator",
            "exact_loss",
            "log_var",
            "theta",
        ],
    )?;
    for run in &r.runs {
        for i in 0..run.steps.len() {
            let lv = run.log_var[i];
            let lv: &dyn std::fmt::Display = if lv.is_finite() { &lv } else { &"" };
            csv.row(&[
                &run.seed,
                &run.steps[i],
                &run.estimator.name(),
                &run.loss[i],
                lv,
                &run.theta[i],
            ])?;
        }
    }
    csv.finish()?;
    written.push(csv_path);
    let json_path = dir.join("summary.json");
    write_json(&json_path, &summary(r))?;
    written.push(json_path);
    let (loss, logvar) = figure1_panels(r);
    for (name, panels, size) in [
        ("toy_loss.png", vec![loss.clone()], (900, 600)),
        ("toy_logvar.png", vec![logvar.clone()], (900, 600)),
        ("figure1.png", vec![loss, logvar], (1600, 600)),
    ] {
        let p = dir.join(name);
        line_plot(&p, &panels, size)?;
        written.push(p);
    }
    Ok(written)
}

/// Writes `relaxations.csv`, `logvar.csv`, `summary.json` and `figure3.png` into `dir`.
pub fn write_fixed_theta(r: &FixedThetaResult, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let p = dir.join("relaxations.csv");
    let mut csv = CsvWriter::create(&p, &["u", "z", "f_hard", "rebar_c", "relax_c"])?;
    for i in 0..r.u.len() {
        csv.row(&[&r.u[i], &r.z[i], &r.f_hard[i], &r.rebar_c[i], &r.relax_c[i]])?;
    }
    csv.finish()?;
    written.push(p);
    let p = dir.join("logvar.csv");
    let mut csv = CsvWriter::create(&p, &["step", "estimator", "log_var"])?;
    for (k, lv) in &r.log_var {
        for (s, v) in r.steps.iter().zip(lv) {
            csv.row(&[s, &k.name(), v])?;
        }
    }
    csv.finish()?;
    written.push(p);

    #[derive(Serialize)]
    struct Summary<'a> {
        experiment: &'static str,
        theta: f64,
        config: &'a super::ToyConfig,
        rebar_eta: f32,
        rebar_temperature: f32,
        relax_scale: f32,
        relax_temperature: f32,
        final_log_var: Vec<(&'static str, f64)>,
        mean_log_var_last_quarter: Vec<(&'static str, f64)>,
        wall_time_s: f64,
    }
    let quarter = |lv: &[f64]| crate::stats::mean(&lv[lv.len() * 3 / 4..]);
    let s = Summary {
        experiment: "toy-fixed-theta",
        theta: 0.5,
        config: &r.config,
        rebar_eta: r.rebar_eta,
        rebar_temperature: r.rebar_temperature,
        relax_scale: r.relax_scale,
        relax_temperature: r.relax_temperature,
        final_log_var: r
            .log_var
            .iter()
            .map(|(k, lv)| (k.name(), *lv.last().unwrap_or(&f64::NAN)))
            .collect(),
        mean_log_var_last_quarter: r
            .log_var
            .iter()
            .map(|(k, lv)| (k.name(), quarter(lv)))
            .collect(),
        wall_time_s: r.wall_time_s,
    };
    let p = dir.join("summary.json");
    write_json(&p, &s)?;
    written.push(p);

    let grey = (120, 120, 120);
    let hard = Series::new("f(b), b = H(z(u))", r.u.clone(), r.f_hard.clone()).with_color(grey);
    let rebar = Panel {
        title: format!(
            "REBAR (eta = {:.3}, lambda = {:.2})",
            r.rebar_eta, r.rebar_temperature
        ),
        x_label: "u".into(),
        y_label: "value".into(),
        series: vec![
            hard.clone(),
            Series::new(
                "REBAR eta f(sigma_lambda(z(u)))",
                r.u.clone(),
                r.rebar_c.clone(),
            )
            .with_color(crate::estimators::EstimatorId::named("rebar").color()),
        ],
        y_range: None,
        legend: LegendAt::UpperLeft,
        headroom: 0.0,
    };
    let relax = Panel {
        title: format!(
            "RELAX (scale = {:.3}, lambda = {:.2})",
            r.relax_scale, r.relax_temperature
        ),
        x_label: "u".into(),
        y_label: "value".into(),
        series: vec![
            hard,
            Series::new("RELAX c_phi(z(u))", r.u.clone(), r.relax_c.clone())
                .with_color(crate::estimators::EstimatorId::named("relax").color()),
        ],
        y_range: None,
        legend: LegendAt::UpperLeft,
        headroom: 0.0,
    };
    let w = ROLLING_WINDOW.min(r.steps.len().max(1));
    let x: Vec<f64> = r.steps.iter().skip(w - 1).map(|&s| s as f64).collect();
    let var = Panel {
        title: format!("ln Var at theta = 0.5 (rolling mean of {w})"),
        x_label: "steps (only phi trained)".into(),
        y_label: "ln Var(gradient estimate)".into(),
        // REBAR's eta goes to 0 at theta = 0.5 (its relaxation carries no information there),
        // so its curve lies on REINFORCE's: REINFORCE is drawn last and dashed.
        series: r
            .log_var
            .iter()
            .rev()
            .map(|(k, lv)| {
                let s =
                    Series::new(k.label(), x.clone(), rolling_mean(lv, w)).with_color(k.color());
                if k.name() == "reinforce" {
                    s.dashed()
                } else {
                    s
                }
            })
            .collect(),
        y_range: None,
        legend: LegendAt::LowerLeft,
        headroom: 0.0,
    };
    let p = dir.join("figure3.png");
    line_plot(&p, &[rebar, relax, var], (1800, 560))?;
    written.push(p);
    Ok(written)
}
