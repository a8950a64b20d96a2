//! `relax compare`: options, the run over problems and budgets, and the CSV, JSON and
//! Markdown table it writes.

use super::cases::{self, K};
use super::{
    exact_bernoulli, exact_categorical, measure, Case, CompareConfig, Row, BUDGETS, PROBLEMS,
};
use crate::estimators::{EstimatorId, HIDDEN_WIDE, WIDE};
use crate::objective::{Quadratic, CATEGORICAL_LOGITS, CATEGORICAL_TARGET};
use crate::output::{print_written, write_atomic, write_json, CsvWriter};
use crate::{progress, seed, Ctx, Result};
use clap::Args;
use relax_core::nn::mlp_param_count;
use std::time::Instant;

/// Gradient variance of every estimator at equal cost: 2, 3 and 4 evaluations of f per
/// estimate, on the toy (one bit, t = 0.499), 200 bits and a 4-way categorical.
///
/// Multi-sample estimators use all the evaluations (RLOO with K = m); an estimator of fixed
/// cost c is averaged over m / c calls where c divides m. Learned control variates are
/// trained for --warmup estimates at the problem's logits, then frozen. Writes
/// <out>/compare/{compare.csv, compare.json, compare.md} and prints the table.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Estimates per case (each the mean of its calls).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(2..=100_000_000))]
    pub samples: u64,
    /// Training estimates of a learned control variate before it is measured frozen.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub warmup: u64,
}

fn rows_for<const N: usize>(
    problem: &'static str,
    mut f: Quadratic<N>,
    logits: [f32; N],
    exact: [f64; N],
    cases: fn(u32) -> Vec<Case<N>>,
    cfg: &CompareConfig,
    done: &(dyn Fn(&Row) + Sync),
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for budget in BUDGETS {
        let mut reinforce = f64::NAN;
        for case in cases(budget) {
            let id = EstimatorId::named(case.name);
            let stream = 2000 + 64 * id.stream() + budget as u64;
            let mut rng = seed::rng(cfg.seed, stream);
            let (variance, max_abs_z) = measure(&case, &mut f, &logits, &exact, cfg, &mut rng)
                .map_err(|e| format!("{problem}, {} at budget {budget}: {e}", case.name))?;
            if case.name == "reinforce" {
                reinforce = variance;
            }
            let row = Row {
                problem,
                budget,
                estimator: case.name,
                label: id.label().split(" (").next().unwrap_or_default(),
                form: case.form,
                unbiased: id.entry().unbiased,
                variance,
                vs_reinforce: variance / reinforce,
                max_abs_z,
            };
            done(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Every problem at every budget (on a thread with a 256 MiB stack: the 200-bit estimators
/// keep their networks in fixed-size arrays).
pub fn compare_all(cfg: &CompareConfig, done: &(dyn Fn(&Row) + Sync)) -> Result<Vec<Row>> {
    const P1: usize = mlp_param_count(1, 10, 1, 1);
    const PW: usize = mlp_param_count(WIDE, HIDDEN_WIDE, 1, 1);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("compare".into())
            .stack_size(256 << 20)
            .spawn_scoped(s, || -> Result<Vec<Row>> {
                let toy = Quadratic::<1>::new([0.499]);
                let mut rows = rows_for(
                    "toy",
                    toy,
                    [0.0],
                    exact_bernoulli(&toy, &[0.0]),
                    cases::bernoulli::<1, 10, P1>,
                    cfg,
                    done,
                )?;
                let wide = Quadratic::<WIDE>::spaced();
                let l: [f32; WIDE] =
                    core::array::from_fn(|i| -2.0 + 4.0 * i as f32 / (WIDE - 1) as f32);
                rows.extend(rows_for(
                    "wide",
                    wide,
                    l,
                    exact_bernoulli(&wide, &l),
                    cases::bernoulli::<WIDE, HIDDEN_WIDE, PW>,
                    cfg,
                    done,
                )?);
                let cat = Quadratic::<K>::new(CATEGORICAL_TARGET);
                let lc = CATEGORICAL_LOGITS;
                rows.extend(rows_for(
                    "categorical",
                    cat,
                    lc,
                    exact_categorical(&cat, &lc),
                    cases::categorical,
                    cfg,
                    done,
                )?);
                Ok(rows)
            })
            .map_err(|e| format!("spawning the compare thread: {e}"))?
            .join()
            .map_err(|_| "the compare thread panicked")?
    })
}

/// The Markdown table: per problem, one row per estimator, one column per budget (variance,
/// and in brackets relative to REINFORCE at that budget).
pub fn table(rows: &[Row]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for problem in PROBLEMS {
        let here: Vec<&Row> = rows.iter().filter(|r| r.problem == problem).collect();
        if here.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n{problem}: mean per-coordinate variance (x REINFORCE's)\n"
        );
        let _ = writeln!(
            out,
            "| estimator | unbiased | m = 2 | m = 3 | m = 4 | max abs z |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        let mut names: Vec<&str> = Vec::new();
        for r in &here {
            if !names.contains(&r.estimator) {
                names.push(r.estimator);
            }
        }
        for name in names {
            let mine: Vec<&&Row> = here.iter().filter(|r| r.estimator == name).collect();
            let cell = |b: u32| {
                mine.iter()
                    .find(|r| r.budget == b)
                    .map_or("-".to_string(), |r| {
                        format!("{:.3e} ({:.3}; {})", r.variance, r.vs_reinforce, r.form)
                    })
            };
            let z = mine.iter().map(|r| r.max_abs_z).fold(0.0, f64::max);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.1} |",
                mine[0].label,
                if mine[0].unbiased { "yes" } else { "no" },
                cell(2),
                cell(3),
                cell(4),
                z
            );
        }
    }
    out
}

/// Runs `relax compare`.
pub fn run(a: CompareArgs, ctx: &Ctx) -> Result<()> {
    let cfg = CompareConfig {
        samples: a.samples,
        warmup: a.warmup,
        seed: ctx.seed,
    };
    let claim = crate::output::claim(&ctx.out, "compare")?;
    let start = Instant::now();
    let total: u64 = BUDGETS
        .iter()
        .map(|&b| {
            2 * cases::bernoulli::<1, 10, { mlp_param_count(1, 10, 1, 1) }>(b).len() as u64
                + cases::categorical(b).len() as u64
        })
        .sum();
    let pb = progress::bar(total, "compare", "cases");
    let rows = compare_all(&cfg, &|r: &Row| {
        pb.set_message(format!(
            "compare: {} {} m = {}",
            r.problem, r.estimator, r.budget
        ));
        pb.inc(1);
    })?;
    pb.finish_and_clear();
    let dir = claim.dir();
    let csv_path = dir.join("compare.csv");
    let mut csv = CsvWriter::create(
        &csv_path,
        &[
            "problem",
            "budget",
            "estimator",
            "form",
            "unbiased",
            "variance",
            "vs_reinforce",
            "max_abs_z",
        ],
    )?;
    for r in &rows {
        csv.row(&[
            &r.problem,
            &r.budget,
            &r.estimator,
            &r.form,
            &r.unbiased,
            &r.variance,
            &r.vs_reinforce,
            &r.max_abs_z,
        ])?;
    }
    csv.finish()?;
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        experiment: &'static str,
        config: &'a CompareConfig,
        rows: &'a [Row],
        wall_time_s: f64,
    }
    let json_path = dir.join("compare.json");
    write_json(
        &json_path,
        &Summary {
            experiment: "compare",
            config: &cfg,
            rows: &rows,
            wall_time_s: start.elapsed().as_secs_f64(),
        },
    )?;
    let t = table(&rows);
    let md_path = dir.join("compare.md");
    write_atomic(&md_path, t.as_bytes())?;
    print!("{t}");
    print_written(&[csv_path, json_path, md_path]);
    Ok(())
}
