//! The plots of every task: the last-100 mean return per method (median and 25-75% band over
//! seeds) against the "solved" threshold, and the log-variance of the policy gradient.

use super::runner::MethodRuns;
use super::task::Task;
use crate::plot::{hline, line_plot, LegendAt, Panel, Series};
use crate::{stats, Result};
use std::path::Path;

/// Each seed's last-100 mean return; a seed that stopped when solved holds its last value up
/// to the longest seed, so the band does not jump when it leaves.
pub fn held_mean100(m: &MethodRuns) -> Vec<Vec<f64>> {
    let mut curves: Vec<Vec<f64>> = m.seeds.iter().map(|r| stats::mean100(&r.returns)).collect();
    let longest = curves.iter().map(Vec::len).max().unwrap_or(0);
    for (c, r) in curves.iter_mut().zip(&m.seeds) {
        if m.config.stop_when_solved && r.solved_at.is_some() {
            let last = c.last().copied().unwrap_or(f64::NAN);
            c.resize(longest, last);
        }
    }
    curves
}

/// `rewards.png`: per method the median over seeds of the last-100 mean return with its
/// 25-75% band, and the threshold as a dashed line.
pub fn rewards(path: &Path, task: Task, runs: &[MethodRuns]) -> Result<()> {
    let mut series = Vec::new();
    let mut last_episode = 1.0f64;
    for m in runs {
        let (med, lo, hi) = stats::quantile_band(&held_mean100(m));
        let x: Vec<f64> = (1..=med.len()).map(|e| e as f64).collect();
        last_episode = last_episode.max(med.len() as f64);
        let e = m.config.estimator;
        series.push(
            Series::new(e.label(), x, med)
                .with_band(lo, hi)
                .with_color(e.color()),
        );
    }
    let threshold = task.threshold();
    series.push(hline(
        format!("solved ({threshold})"),
        threshold,
        (1.0, last_episode),
    ));
    let held = runs.iter().any(|m| m.config.stop_when_solved);
    let seeds = match runs.iter().map(|m| m.seeds.len()).max().unwrap_or(0) {
        1 => "1 seed".to_string(),
        n => format!("{n} seeds"),
    };
    line_plot(
        path,
        &[Panel {
            title: format!(
                "{}: last-100 mean return (median, 25-75% over {seeds})",
                task.label()
            ),
            x_label: "Episode".into(),
            y_label: if held {
                "Mean return of the last 100 episodes (solved seeds held)".into()
            } else {
                "Mean return of the last 100 episodes".into()
            },
            series,
            y_range: Some(task.return_range()),
            legend: LegendAt::LowerRight,
            headroom: 0.0,
        }],
        (900, 600),
    )
}

/// `log_variance.png` (when measured): per method the median over seeds of the
/// log-variance with its 25-75% band.
pub fn log_variance(path: &Path, task: Task, runs: &[MethodRuns]) -> Result<()> {
    let mut series = Vec::new();
    for m in runs {
        let curves: Vec<Vec<f64>> = m
            .seeds
            .iter()
            .map(|r| r.log_variance.iter().map(|&(_, v)| v).collect())
            .collect();
        if curves.iter().all(Vec::is_empty) {
            continue;
        }
        let every = m.config.var_every.max(1) as f64;
        let (med, lo, hi) = stats::quantile_band(&curves);
        let x: Vec<f64> = (0..med.len()).map(|k| k as f64 * every).collect();
        let e = m.config.estimator;
        series.push(
            Series::new(e.label(), x, med)
                .with_band(lo, hi)
                .with_color(e.color()),
        );
    }
    if series.is_empty() {
        return Ok(());
    }
    line_plot(
        path,
        &[Panel {
            title: format!("{}: log-variance of the policy gradient", task.label()),
            x_label: "Episode".into(),
            y_label: "ln(mean over parameters of Var[g])".into(),
            series,
            y_range: None,
            legend: LegendAt::UpperRight,
            headroom: 0.15,
        }],
        (900, 600),
    )
}
