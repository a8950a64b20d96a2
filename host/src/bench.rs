//! Cost of one gradient estimate for every estimator of the core, at `N = 1` (the toy) and at
//! `N = 200` bits (a 200-dimensional quadratic `f(b) = sum_i (b_i - t_i)^2`, the size of one
//! stochastic layer of the paper's VAE).
//!
//! Each estimator runs alone on one thread for a fixed time budget after a warm-up, so the
//! numbers are single-core throughput (running them in parallel would make them compete for
//! the two cores). Evaluations of `f` are counted twice, by the estimator ([`Estimate`]'s
//! `f_evals` and `relaxed_evals`) and by the objective itself, and the two counts must agree.
//!
//! REBAR and RELAX are measured in training mode (each estimate also takes the Adam step on
//! the control variate, Algorithm 2's real cost) and frozen (the estimate alone). LAX is the
//! Gaussian estimator: same `f`, continuous `b`.

use crate::objective::Quadratic;
use crate::seed;
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::dist::Bernoulli;
use relax_core::estimator::{
    Concrete, CvInput, DisArm, Estimate, Estimator, Lax, NeuralCv, Plus, Rebar, RebarCv, Reinforce,
    Relax, Rloo, StraightThrough,
};
use relax_core::nn::{mlp_param_count, Activation, Mlp};
use relax_core::optim::AdamConfig;
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Hidden units of the RELAX and LAX control-variate networks at `N = 200` (one layer; the
/// toy's 10 at `N = 1`).
pub const HIDDEN_200: usize = 16;

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

/// Names of the cases, in the order they run (for progress bars and tables).
pub const CASES: [&str; 11] = [
    "REINFORCE",
    "RLOO (K=2)",
    "DisARM",
    "Concrete",
    "Straight-through",
    "REBAR (training)",
    "REBAR (frozen)",
    "RELAX (training)",
    "RELAX (frozen)",
    "RELAX eta f + net (training)",
    "LAX Gaussian (training)",
];

fn estimator_case<const N: usize, E: Estimator<N, Quadratic<N>>>(
    name: &str,
    budget: Duration,
    est: &mut E,
    logits: &[f32; N],
    rng: &mut Xoshiro128PlusPlus,
) -> Result<BenchRow> {
    let mut f = Quadratic::<N>::spaced();
    time_case(name, budget, &mut f, |f| {
        Ok(counts(&est.estimate(logits, f, rng)?))
    })
}

/// Every case at size `N`, with control-variate networks of `H` hidden units (`P` their
/// parameter count, `mlp_param_count(N, H, 1, 1)`: spelled by the caller because stable Rust
/// cannot compute it from generic parameters). `done` is called after each case.
fn bench_size<const N: usize, const H: usize, const P: usize>(
    cfg: &BenchConfig,
    done: &mut dyn FnMut(&BenchRow),
) -> Result<Vec<BenchRow>> {
    let budget = Duration::from_secs_f64(cfg.seconds_per_case.max(1e-3));
    let logits = [0.0f32; N];
    let mut rng = seed::rng(cfg.seed, 1000 + N as u64);
    let mut rows = Vec::with_capacity(CASES.len());
    let mut push = |row: BenchRow, rows: &mut Vec<BenchRow>| {
        done(&row);
        rows.push(row);
    };
    let lr = AdamConfig::new(0.01);
    let r = &mut rng;

    let row = estimator_case(
        CASES[0],
        budget,
        &mut Reinforce::<Bernoulli<N>, N>::new(),
        &logits,
        r,
    )?;
    push(row, &mut rows);
    let row = estimator_case(
        CASES[1],
        budget,
        &mut Rloo::<Bernoulli<N>, N, 2>::new()?,
        &logits,
        r,
    )?;
    push(row, &mut rows);
    let row = estimator_case(CASES[2], budget, &mut DisArm::<N>::new(), &logits, r)?;
    push(row, &mut rows);
    let row = estimator_case(
        CASES[3],
        budget,
        &mut Concrete::<Bernoulli<N>, N>::new(0.5)?,
        &logits,
        r,
    )?;
    push(row, &mut rows);
    let mut st = StraightThrough::<Bernoulli<N>, N>::new(0.5)?;
    let row = estimator_case(CASES[4], budget, &mut st, &logits, r)?;
    push(row, &mut rows);

    let mut rebar = Rebar::<Bernoulli<N>, N>::new(RebarCv::paper_default(0.01)?);
    let row = estimator_case(CASES[5], budget, &mut rebar, &logits, r)?;
    push(row, &mut rows);
    rebar.set_training(false);
    let row = estimator_case(CASES[6], budget, &mut rebar, &logits, r)?;
    push(row, &mut rows);

    let net = Mlp::<N, H, 1, 1, P>::new_random(Activation::Tanh, 1.0, r);
    let cv: NeuralCv<Bernoulli<N>, N, 0, N, H, 1, P> =
        NeuralCv::new(net, CvInput::RelaxedSigned, 0.1, 0.5, lr)?;
    let mut relax = Relax::<Bernoulli<N>, N, _>::new(cv);
    let row = estimator_case(CASES[7], budget, &mut relax, &logits, r)?;
    push(row, &mut rows);
    relax.set_training(false);
    let row = estimator_case(CASES[8], budget, &mut relax, &logits, r)?;
    push(row, &mut rows);

    // The VAE's control variate: eta f(sigma_lambda(z)) + r_rho(z) with r_rho on the logits.
    let net = Mlp::<N, H, 1, 1, P>::new_random(Activation::Relu, 1.0, r);
    let r_rho: NeuralCv<Bernoulli<N>, N, 0, N, H, 1, P> =
        NeuralCv::new(net, CvInput::Logits, 0.1, 1.0, lr)?;
    let mut relax_vae = Relax::<Bernoulli<N>, N, _>::new(Plus(
        RebarCv::<Bernoulli<N>, N>::paper_default(0.01)?,
        r_rho,
    ));
    let row = estimator_case(CASES[9], budget, &mut relax_vae, &logits, r)?;
    push(row, &mut rows);

    let net = Mlp::<N, H, 1, 1, P>::new_random(Activation::Tanh, 1.0, r);
    let mut lax = Lax::new(net, lr)?;
    let mean = [0.0f32; N];
    let log_std = [0.0f32; N];
    let mut f = Quadratic::<N>::spaced();
    let row = time_case(CASES[10], budget, &mut f, |f| {
        let e = lax.estimate(&mean, &log_std, f, r)?;
        black_box(&e.grad_mean);
        Ok((e.f_evals, 0))
    })?;
    push(row, &mut rows);
    Ok(rows)
}

/// Runs every case at `N = 1` and `N = 200`. Runs on a thread of its own with a 256 MiB stack:
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
                let mut rows = bench_size::<1, 10, { mlp_param_count(1, 10, 1, 1) }>(cfg, done)?;
                rows.extend(bench_size::<
                    200,
                    HIDDEN_200,
                    { mlp_param_count(200, HIDDEN_200, 1, 1) },
                >(cfg, done)?);
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
