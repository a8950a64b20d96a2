//! Cost of one gradient estimate for every estimator of the core, at `N = 1` (the toy) and at
//! `N = 200` bits (a 200-dimensional quadratic `f(b) = sum_i (b_i - t_i)^2`, the size of one
//! stochastic layer of the paper's VAE); then the categorical estimators on the categorical
//! problem of `relax compare` (one 4-way categorical, `n = 4` in the rows, the one-hot's size).
//!
//! Each estimator runs alone on one thread for a fixed time budget after a warm-up, so the
//! numbers are single-core throughput (running them in parallel would make them compete for
//! the two cores). Evaluations of `f` are counted twice, by the estimator ([`Estimate`]'s
//! `f_evals` and `relaxed_evals`) and by the objective itself, and the two counts must agree.
//!
//! The cases are the registry's Bench menu ([`crate::estimators`]), then its Categorical
//! menu (rows named `<label> (categorical)`). Estimators with a
//! learned control variate (REBAR, RELAX) are measured in training mode (each estimate also takes the Adam step on
//! the control variate, Algorithm 2's real cost) and frozen (the estimate alone). LAX is the
//! Gaussian estimator: same `f`, continuous `b`.

use crate::estimators::{
    menu, BernoulliBuilder, BernoulliBuilders, BernoulliEstimator, BernoulliSpec, Build,
    EstimatorId, GaussianBuilder, GaussianBuilders, Menu, CLASSES, WIDE,
};
use crate::objective::{Quadratic, CATEGORICAL_LOGITS, CATEGORICAL_TARGET};
use crate::seed;
use crate::Result;
use relax_core::estimator::{Coupling, Estimate};
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};

pub mod cli;
pub use cli::{run as run_cli, BenchArgs};

/// Benchmark settings.
#[derive(Debug, Clone, Serialize)]
pub struct BenchConfig {
    /// Timed seconds per estimator and size (after a warm-up of a tenth of it).
    pub seconds_per_case: f64,
    /// Seed of the random streams.
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            seconds_per_case: 0.5,
            seed: 0,
        }
    }
}

/// One measured case.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Estimator (and mode).
    pub estimator: String,
    /// Number of bits (or Gaussians for LAX).
    pub n: usize,
    /// Estimates timed.
    pub estimates: u64,
    /// Seconds timed.
    pub seconds: f64,
    /// Estimates per second.
    pub estimates_per_s: f64,
    /// Nanoseconds per estimate.
    pub ns_per_estimate: f64,
    /// Black-box evaluations `f(b)` per estimate.
    pub f_evals_per_estimate: f64,
    /// Relaxed evaluations `f(x)` (with gradient) per estimate.
    pub relaxed_evals_per_estimate: f64,
}

/// What one call reports: `(f evaluations, relaxed evaluations)` by the estimator's own count.
type Counts = (u32, u32);

fn counts<const N: usize>(e: &Estimate<N>) -> Counts {
    black_box(&e.grad);
    (e.f_evals, e.relaxed_evals)
}

/// Times `one` for `budget` after a warm-up; checks the estimator's evaluation counts against
/// the objective's.
fn time_case<const N: usize>(
    name: &str,
    budget: Duration,
    f: &mut Quadratic<N>,
    mut one: impl FnMut(&mut Quadratic<N>) -> Result<Counts>,
) -> Result<BenchRow> {
    const BATCH: u64 = 32;
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        one(f)?;
    }
    let (f0, r0) = (f.f_evals, f.relaxed_evals);
    let (mut fe, mut re, mut n) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    loop {
        for _ in 0..BATCH {
            let (a, b) = one(f)?;
            fe += a as u64;
            re += b as u64;
        }
        n += BATCH;
        crate::interrupt::check()?;
        if start.elapsed() >= budget {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if (fe, re) != (f.f_evals - f0, f.relaxed_evals - r0) {
        return Err(format!(
            "{name} at N = {N}: the estimator counted ({fe}, {re}) evaluations, the objective ({}, {})",
            f.f_evals - f0,
            f.relaxed_evals - r0
        )
        .into());
    }
    Ok(BenchRow {
        estimator: name.to_string(),
        n: N,
        estimates: n,
        seconds: secs,
        estimates_per_s: n as f64 / secs,
        ns_per_estimate: secs * 1e9 / n as f64,
        f_evals_per_estimate: fe as f64 / n as f64,
        relaxed_evals_per_estimate: re as f64 / n as f64,
    })
}

/// Names of the cases at one size, in the order they run: every estimator of the registry's
/// Bench menu, those with a learned control variate in training mode and then frozen.
pub fn case_names() -> Vec<String> {
    let mut names = Vec::new();
    for id in menu(Menu::Bench) {
        match id.entry().build {
            Build::Bernoulli(_) if learns(id) => {
                names.push(format!("{} (training)", id.label()));
                names.push(format!("{} (frozen)", id.label()));
            }
            Build::Bernoulli(_) => names.push(id.label().to_string()),
            Build::Gaussian(_) => names.push(format!("{} Gaussian (training)", id.label())),
            Build::None => {}
        }
    }
    names
}

/// Names of the categorical cases, in the order they run after the Bernoulli sizes: every
/// estimator of the registry's Categorical menu that it can build, those with a learned
/// control variate in training mode and then frozen.
pub fn categorical_case_names() -> Vec<String> {
    let mut names = Vec::new();
    for id in menu(Menu::Categorical) {
        let Some(b) = id.entry().categorical else {
            continue;
        };
        if b(&spec(), &mut seed::rng(0, 0)).is_ok_and(|e| e.learns()) {
            names.push(format!("{} (categorical, training)", id.label()));
            names.push(format!("{} (categorical, frozen)", id.label()));
        } else {
            names.push(format!("{} (categorical)", id.label()));
        }
    }
    names
}

/// Every categorical case on the categorical problem of `relax compare`, at its logits.
fn bench_categorical(cfg: &BenchConfig, done: &mut dyn FnMut(&BenchRow)) -> Result<Vec<BenchRow>> {
    let budget = Duration::from_secs_f64(cfg.seconds_per_case.max(1e-3));
    let logits: [f32; CLASSES] = CATEGORICAL_LOGITS;
    let mut rng = seed::rng(cfg.seed, 2000 + CLASSES as u64);
    let r = &mut rng;
    let mut rows = Vec::new();
    let mut f = Quadratic::<CLASSES>::new(CATEGORICAL_TARGET);
    for id in menu(Menu::Categorical) {
        let Some(build) = id.entry().categorical else {
            continue;
        };
        let mut est = build(&spec(), r)?;
        let mut case = |name: String, est: &mut Box<dyn BernoulliEstimator<CLASSES>>| {
            let r = &mut *r;
            time_case(&name, budget, &mut f, |f| {
                Ok(counts(&est.estimate(&logits, f, r)?))
            })
        };
        let mut push = |row: BenchRow| {
            done(&row);
            rows.push(row);
        };
        if est.learns() {
            push(case(
                format!("{} (categorical, training)", id.label()),
                &mut est,
            )?);
            est.set_training(false);
            push(case(
                format!("{} (categorical, frozen)", id.label()),
                &mut est,
            )?);
        } else {
            push(case(format!("{} (categorical)", id.label()), &mut est)?);
        }
    }
    Ok(rows)
}

/// Whether the registry's one-bit build of `id` learns a control variate.
fn learns(id: EstimatorId) -> bool {
    match id.entry().build {
        Build::Bernoulli(b) => (b.one)(&spec(), &mut seed::rng(0, 0)).is_ok_and(|e| e.learns()),
        _ => false,
    }
}

/// The bench's settings of every estimator: Adam 0.01 on control variates, fresh noise for
/// `z~`, temperature 0.5, RELAX's network output scale starting at 0.1.
fn spec() -> BernoulliSpec {
    BernoulliSpec {
        lr: 0.01,
        coupling: Coupling::Independent,
        concrete_temperature: 0.5,
        relax_init_scale: 0.1,
    }
}

/// Every case at size `N`: the registry builds each estimator (`bernoulli` and `gaussian`
/// pick the builder of this size). `done` is called after each case.
fn bench_size<const N: usize>(
    cfg: &BenchConfig,
    bernoulli: fn(&BernoulliBuilders) -> BernoulliBuilder<N>,
    gaussian: fn(&GaussianBuilders) -> GaussianBuilder<N>,
    done: &mut dyn FnMut(&BenchRow),
) -> Result<Vec<BenchRow>> {
    let budget = Duration::from_secs_f64(cfg.seconds_per_case.max(1e-3));
    let logits = [0.0f32; N];
    let mut rng = seed::rng(cfg.seed, 1000 + N as u64);
    let r = &mut rng;
    let mut rows = Vec::new();
    let mut push = |row: BenchRow| {
        done(&row);
        rows.push(row);
    };
    let mut f = Quadratic::<N>::spaced();
    for id in menu(Menu::Bench) {
        match id.entry().build {
            Build::Bernoulli(b) => {
                let mut est = bernoulli(&b)(&spec(), r)?;
                let mut case = |name: String, est: &mut Box<dyn BernoulliEstimator<N>>| {
                    let r = &mut *r;
                    time_case(&name, budget, &mut f, |f| {
                        Ok(counts(&est.estimate(&logits, f, r)?))
                    })
                };
                if est.learns() {
                    push(case(format!("{} (training)", id.label()), &mut est)?);
                    est.set_training(false);
                    push(case(format!("{} (frozen)", id.label()), &mut est)?);
                } else {
                    push(case(id.label().to_string(), &mut est)?);
                }
            }
            Build::Gaussian(g) => {
                let mut est = gaussian(&g)(&spec(), r)?;
                let (mean, log_std) = ([0.0f32; N], [0.0f32; N]);
                let name = format!("{} Gaussian (training)", id.label());
                push(time_case(&name, budget, &mut f, |f| {
                    let e = est.estimate(&mean, &log_std, f, r)?;
                    black_box(&e.grad_mean);
                    Ok((e.f_evals, 0))
                })?);
            }
            Build::None => {}
        }
    }
    Ok(rows)
}

/// Runs every case at `N = 1` and `N = 200`, then the categorical cases. Runs on a thread of its own with a 256 MiB stack:
/// the `N = 200` estimators keep their networks, gradients and Adam moments in fixed-size
/// arrays, and the core's passes put arrays of that size on the stack.
pub fn run_bench(
    cfg: &BenchConfig,
    done: &mut (dyn FnMut(&BenchRow) + Send),
) -> Result<Vec<BenchRow>> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("bench".into())
            .stack_size(256 << 20)
            .spawn_scoped(s, || -> Result<Vec<BenchRow>> {
                let mut rows = bench_size::<1>(cfg, |b| b.one, |g| g.one, done)?;
                rows.extend(bench_size::<WIDE>(cfg, |b| b.wide, |g| g.wide, done)?);
                rows.extend(bench_categorical(cfg, done)?);
                Ok(rows)
            })
            .map_err(|e| format!("spawning the bench thread: {e}"))?
            .join()
            .map_err(|_| "the bench thread panicked")?
    })
}

/// A fixed-width text table: estimates per second at each size, evaluations per estimate.
pub fn table(rows: &[BenchRow]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<30} {:>5} {:>14} {:>12} {:>9} {:>9}",
        "estimator", "N", "estimates/s", "ns/estimate", "f/est", "fx/est"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<30} {:>5} {:>14.0} {:>12.1} {:>9.2} {:>9.2}",
            r.estimator,
            r.n,
            r.estimates_per_s,
            r.ns_per_estimate,
            r.f_evals_per_estimate,
            r.relaxed_evals_per_estimate
        );
    }
    out
}
