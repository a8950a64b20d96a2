//! `relax bench`: its command-line options, and the CSV, JSON and table it writes.

use super::{case_names, categorical_case_names, run_bench, table, BenchConfig, BenchRow};
use crate::output::{print_written, write_json, CsvWriter};
use crate::{progress, Ctx, Result};
use clap::Args;
use std::time::Instant;

/// Cost per estimate of every estimator at N = 1 (the toy) and N = 200 bits, and of the
/// categorical estimators on one 4-way categorical (relax compare's problem; N = 4 rows).
///
/// f(b) = sum_i (b_i - t_i)^2 with t_i spaced over [0, 1]. Each case runs alone on one
/// thread for --seconds after a warm-up; evaluations of f are counted by the estimator
/// and by the objective, and must agree. Estimators with a learned control variate run in
/// training mode (the control-variate step of Algorithm 2 included) and frozen. RELAX uses
/// 10 tanh units at N = 1 and 16 at N = 200. Writes <out>/bench/bench.csv and bench.json
/// and prints a table.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Timed seconds per estimator and size.
    #[arg(long, default_value_t = 0.5, value_parser = crate::args::seconds)]
    pub seconds: f64,
}

/// The columns of `bench.csv`.
const COLUMNS: [&str; 8] = [
    "estimator",
    "n",
    "estimates",
    "seconds",
    "estimates_per_s",
    "ns_per_estimate",
    "f_evals_per_estimate",
    "relaxed_evals_per_estimate",
];

/// Runs `relax bench`: times every case, writes `bench.csv` and `bench.json`, prints a table.
pub fn run(a: BenchArgs, ctx: &Ctx) -> Result<()> {
    let cfg = BenchConfig {
        seconds_per_case: a.seconds,
        seed: ctx.seed,
    };
    let claim = crate::output::claim(&ctx.out, "bench")?;
    let start = Instant::now();
    let total = (2 * case_names().len() + categorical_case_names().len()) as u64;
    let pb = progress::bar(total, "bench", "cases");
    let rows = run_bench(&cfg, &mut |row| {
        pb.set_message(format!("bench: {} at N = {}", row.estimator, row.n));
        pb.inc(1);
    })?;
    pb.finish_and_clear();
    let dir = claim.dir();
    let csv_path = dir.join("bench.csv");
    let mut csv = CsvWriter::create(&csv_path, &COLUMNS)?;
    for r in &rows {
        csv.row(&[
            &r.estimator,
            &r.n,
            &r.estimates,
            &r.seconds,
            &r.estimates_per_s,
            &r.ns_per_estimate,
            &r.f_evals_per_estimate,
            &r.relaxed_evals_per_estimate,
        ])?;
    }
    csv.finish()?;
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        experiment: &'static str,
        config: &'a BenchConfig,
        threads: usize,
        rows: &'a [BenchRow],
        wall_time_s: f64,
    }
    let json_path = dir.join("bench.json");
    write_json(
        &json_path,
        &Summary {
            experiment: "bench",
            config: &cfg,
            threads: 1,
            rows: &rows,
            wall_time_s: start.elapsed().as_secs_f64(),
        },
    )?;
    print!("{}", table(&rows));
    print_written(&[csv_path, json_path]);
    Ok(())
}
