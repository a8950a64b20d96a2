//! `relax`: the command-line harness of the RELAX reproduction. One subcommand per
//! experiment; each writes CSV, a JSON summary and PNG plots under `<out>/<experiment>/`.

use clap::{Args, Parser, Subcommand};
use host::bench::{self, BenchConfig};
use host::output::{results_dir, write_json, CsvWriter};
use host::toy::{self, CouplingArg, ToyConfig, ToyEstimator};
use host::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

/// Experiments of "Backpropagation through the Void" (Grathwohl et al., ICLR 2018) on the
/// no_std estimator core.
///
/// Each subcommand writes <out>/<experiment>/ (default results/): CSV of the curves, a JSON
/// summary and PNG plots; independent runs go in parallel on all cores. `relax <command>
/// --help` explains each experiment. The plots need a TrueType font: Debian's
/// fonts-dejavu-core, or a .ttf file named by the RELAX_FONT environment variable.
#[derive(Debug, Parser)]
#[command(name = "relax", version, propagate_version = true)]
struct Cli {
    /// Seed of every random stream (runs with the same seed are identical).
    #[arg(long, global = true, default_value_t = 0)]
    seed: u64,
    /// Directory under which each experiment writes `<experiment>/`.
    #[arg(long, global = true, default_value = "results")]
    out: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The toy problem of section 6.1: Figure 1 (and Figure 3 with --fixed-theta).
    ///
    /// Minimises E[(b - t)^2] over b ~ Bernoulli(theta), t = 0.499 by default, so the two
    /// outcomes differ by 0.002 and the gradient is tiny next to the noise of REINFORCE.
    /// Protocol of the reference code: logit l = 0 (theta = 0.5), batch 1, Adam step 0.01
    /// on l and on every control-variate parameter, 10,000 steps. Methods: the exact
    /// gradient (reference curve), REINFORCE, Concrete (temperature 0.5, biased), REBAR
    /// (eta f(sigma_lambda(z)), eta and lambda learned), RELAX (c = s MLP(x), x =
    /// 2 sigma_lambda(z) - 1, 10 tanh units, s initialised to 0), RLOO with K = 2, and
    /// DisARM. REBAR and RELAX tie z~ to z (the reference code's force_same) unless
    /// --coupling independent.
    ///
    /// Every --log-every steps it records the exact loss L(theta) = theta (1-t)^2 +
    /// (1-theta) t^2 and ln Var of --var-samples fresh estimates at the current parameters
    /// (control variates frozen). Writes <out>/toy/: curves.csv, summary.json, toy_loss.png,
    /// toy_logvar.png (rolling mean over 50 points) and figure1.png (both panels).
    /// The paper: RELAX drives theta to 0 (loss 0.249001); REINFORCE and REBAR stay near
    /// 0.25; RELAX's variance is orders of magnitude lower.
    ///
    /// With --fixed-theta: theta stays at 0.5 and only the control variates learn; writes
    /// <out>/toy-fixed-theta/ with figure3.png (f(H(z(u))) against REBAR's and RELAX's
    /// learned c(z(u)) over u in (0, 1), and their log-variance), relaxations.csv,
    /// logvar.csv and summary.json.
    Toy(ToyArgs),
    /// Cost per estimate of every estimator at N = 1 (the toy) and N = 200 bits.
    ///
    /// f(b) = sum_i (b_i - t_i)^2 with t_i spaced over [0, 1]. Each case runs alone on one
    /// thread for --seconds after a warm-up; evaluations of f are counted by the estimator
    /// and by the objective, and must agree. REBAR and RELAX run in training mode (the
    /// control-variate step of Algorithm 2 included) and frozen. RELAX uses 10 tanh units at
    /// N = 1 and 16 at N = 200. Writes <out>/bench/bench.csv and bench.json and prints a table.
    Bench(BenchArgs),
    /// Reinforcement learning with the core's policy-gradient learners (section 6.3).
    Rl(host::rl::RlArgs),
    /// Discrete VAEs on binarized MNIST, Fashion-MNIST or Omniglot (section 6.2: Table 1,
    /// Tables 3-4, Figure 4): 200 Bernoulli latents per layer; linear1, linear2 or
    /// nonlinear; trained by NVIL, MuProp, Concrete, REBAR, RELAX, RLOO or DisARM with batch
    /// 24 and Adam (beta2 0.99999). Per epoch: mean training -ELBO and the 100-sample IWAE
    /// bound on validation; the best-validation parameters are evaluated on test. Writes
    /// <out>/vae-<data>-<model>/: curves.csv (and curves-<estimator>.csv as it goes),
    /// summary.json (settings, results, Table 4's epochs to REBAR's best) and neg_elbo.png.
    Vae(host::vae::VaeArgs),
}

#[derive(Debug, Args)]
struct ToyArgs {
    /// The target t.
    #[arg(long, default_value_t = 0.499)]
    target: f32,
    /// Optimisation steps.
    #[arg(long, default_value_t = 10_000)]
    steps: usize,
    /// Adam step size for the logit and the control variates.
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    /// Record loss and log-variance every this many steps.
    #[arg(long, default_value_t = 10)]
    log_every: usize,
    /// Fresh estimates per log-variance measurement.
    #[arg(long, default_value_t = 1000)]
    var_samples: usize,
    /// How REBAR and RELAX couple z~ to z.
    #[arg(long, value_enum, default_value_t = CouplingArg::Tied)]
    coupling: CouplingArg,
    /// Independent runs per method (seeds --seed, --seed + 1, ...); plots show their mean.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Methods to run (comma-separated); default all.
    #[arg(long, value_enum, value_delimiter = ',')]
    estimators: Vec<ToyEstimator>,
    /// Figure 3: hold theta at 0.5 and train only the control variates.
    #[arg(long)]
    fixed_theta: bool,
    /// Points on the u grid of Figure 3.
    #[arg(long, default_value_t = 1000)]
    points: usize,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Timed seconds per estimator and size.
    #[arg(long, default_value_t = 0.5)]
    seconds: f64,
}

fn progress_bar(total: u64, what: &str, unit: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    let template =
        format!("{{msg}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit}, eta {{eta}}");
    pb.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    pb.set_message(what.to_string());
    pb
}

fn run_toy(seed: u64, out: &std::path::Path, a: ToyArgs) -> Result<()> {
    let cfg = ToyConfig {
        target: a.target,
        steps: a.steps,
        lr: a.lr,
        log_every: a.log_every,
        var_samples: a.var_samples,
        coupling: a.coupling,
        concrete_temperature: 0.5,
        estimators: if a.estimators.is_empty() {
            ToyEstimator::ALL.to_vec()
        } else {
            a.estimators
        },
        seeds: (seed..seed + a.seeds.max(1)).collect(),
    };
    if a.fixed_theta {
        let pb = progress_bar(
            (toy::fixed_theta::FIXED_THETA_METHODS.len() * cfg.steps) as u64,
            "toy, theta fixed at 0.5",
            "steps",
        );
        let r = toy::fixed_theta::run_fixed_theta(&cfg, a.points, &|k| pb.inc(k))?;
        pb.finish_and_clear();
        let dir = results_dir(out, "toy-fixed-theta")?;
        let files = toy::report::write_fixed_theta(&r, &dir)?;
        println!(
            "theta = 0.5, {} steps of control-variate training ({:.2} s)",
            cfg.steps, r.wall_time_s
        );
        println!(
            "REBAR: eta = {:.4}, lambda = {:.4}; RELAX: scale = {:.4}, lambda = {:.4}",
            r.rebar_eta, r.rebar_temperature, r.relax_scale, r.relax_temperature
        );
        for (k, lv) in &r.log_var {
            println!(
                "{:<10} ln Var: start {:>8.2}, end {:>8.2}",
                k.label(),
                lv.first().copied().unwrap_or(f64::NAN),
                lv.last().copied().unwrap_or(f64::NAN)
            );
        }
        print_written(&files);
        return Ok(());
    }
    let total = (cfg.estimators.len() * cfg.seeds.len() * cfg.steps) as u64;
    let pb = progress_bar(total, "toy", "steps");
    let r = toy::run(&cfg, &|k| pb.inc(k))?;
    pb.finish_and_clear();
    let dir = results_dir(out, "toy")?;
    let files = toy::report::write_toy(&r, &dir)?;
    print!("{}", toy::report::summary_table(&r));
    print_written(&files);
    Ok(())
}

fn run_bench(seed: u64, out: &std::path::Path, a: BenchArgs) -> Result<()> {
    let cfg = BenchConfig {
        seconds_per_case: a.seconds,
        seed,
    };
    let start = Instant::now();
    let pb = progress_bar(2 * bench::CASES.len() as u64, "bench", "cases");
    let pb2 = pb.clone();
    let rows = bench::run_bench(&cfg, &mut move |row| {
        pb2.set_message(format!("bench: {} at N = {}", row.estimator, row.n));
        pb2.inc(1);
    })?;
    pb.finish_and_clear();
    let dir = results_dir(out, "bench")?;
    let csv_path = dir.join("bench.csv");
    let mut csv = CsvWriter::create(
        &csv_path,
        &[
            "estimator",
            "n",
            "estimates",
            "seconds",
            "estimates_per_s",
            "ns_per_estimate",
            "f_evals_per_estimate",
            "relaxed_evals_per_estimate",
        ],
    )?;
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
        rows: &'a [bench::BenchRow],
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
    print!("{}", bench::table(&rows));
    print_written(&[csv_path, json_path]);
    Ok(())
}

fn print_written(files: &[PathBuf]) {
    for f in files {
        println!("wrote {}", f.display());
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Toy(a) => run_toy(cli.seed, &cli.out, a),
        Command::Bench(a) => run_bench(cli.seed, &cli.out, a),
        Command::Rl(a) => host::rl::run(
            a,
            &host::Ctx {
                seed: cli.seed,
                out: cli.out.clone(),
            },
        ),
        Command::Vae(a) => host::vae::run_cli(cli.seed, &cli.out, a),
    };
    if let Err(e) = result {
        eprintln!("relax: {e}");
        std::process::exit(1);
    }
}
