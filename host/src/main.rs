//! `relax`: the command-line harness of the RELAX reproduction. One subcommand per
//! experiment; each writes CSV, a JSON summary and PNG plots under `<out>/<experiment>/`.

use clap::{Args, Parser, Subcommand};
use host::output::{results_dir, write_json, CsvWriter};
use host::Result;
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
    Toy(host::toy::ToyArgs),
    /// Cost per estimate of every estimator at N = 1 (the toy) and N = 200 bits.
    Bench(host::bench::BenchArgs),
    /// Reinforcement learning with the core's policy-gradient learners (section 6.3).
    Rl(RlArgs),
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
struct RlArgs {
    #[command(subcommand)]
    env: RlEnv,
}

#[derive(Debug, Subcommand)]
enum RlEnv {
    /// CartPole (the core's CartPole-v1): RELAX vs A2C (and REINFORCE), Table 2 and Figure 5.
    ///
    /// Policy 4-10-10-2 (ReLU); one episode per update, discounted returns (gamma 0.99),
    /// entropy bonus 0.01, Adam (beta2 0.99999). RELAX: control variate
    /// c(z, s) = scale * MLP([s, softmax(z / lambda)]) (10-10 ReLU, learned scale and
    /// log-temperature), trained on the variance of the episode's policy gradient, exact.
    /// A2C: value network 4-10-10-1 trained by regression. Seeds run in parallel; each
    /// trains --episodes episodes; "solved" is the first episode whose last-100 mean return
    /// is >= 195. Every --var-every episodes, --var-episodes extra episodes at the current
    /// parameters measure the policy gradient's variance (Figure 5). Writes
    /// <out>/rl-cartpole/: returns.csv, log_variance.csv, summary.json (episodes to solve
    /// per seed, mean +- std, wall times), rewards.png (median and 25-75% band over seeds)
    /// and log_variance.png. With --grid: the learning-rate grid search (5 seeds per point,
    /// stopping when solved) for each estimator, written to <out>/rl-cartpole-grid/.
    Cartpole(CartPoleArgs),
    /// Lunar Lander (gymnasium LunarLander-v3 through the bridge): RELAX vs A2C.
    ///
    /// The CartPole setup with 8 observations and 4 actions: policy 8-10-10-4, RELAX's
    /// control variate 12-10-10-1, A2C's value network 8-10-10-1 (ReLU); one episode per
    /// update, gamma 0.99, entropy 0.01, Adam (beta2 0.99999), lr 0.003 and scale 1 by
    /// default, at most 10,000 episodes per seed (about the paper's 5M-frame budget).
    /// Solved: last-100 mean return >= 200. Each (method, seed) run has its own Python process (host/python/gym_server.py, started from the repository's .venv, which
    /// is created or extended with gymnasium[box2d,mujoco] when missing), --jobs at a time.
    /// Writes <out>/rl-lunarlander/: returns.csv, log_variance.csv, summary.json (episodes
    /// to solve per seed, mean +- std, wall times, steps/s), rewards.png (last-100 mean,
    /// median and 25-75% band over seeds), log_variance.png, runs/<method>-seed<k>.json.
    Lunarlander(host::rl_gym::GymArgs),
    /// Inverted Pendulum (gymnasium InvertedPendulum-v5, MuJoCo, through the bridge): LAX vs A2C.
    ///
    /// Gaussian policy: tanh 64-64 mean network and a state-independent log-std (init 0).
    /// LAX: c(a, s) = V(s) + c^(a, s), ELU 64-64 networks; V by regression to the discounted
    /// returns, c^ on the exact gradient of the episode's variance loss |g/B|^2 (B =
    /// --batch-steps; --cv-loss-per-step: the reference code's |g/T|^2) (replayed
    /// episode), evaluated at the action taken. A2C: the same learner with c = V(s). V steps
    /// after every episode (--value-steps times); c^ once per policy update on the mean of
    /// the batch's variance gradients (--cv-per-episode: after every episode, --cv-steps
    /// times); the policy after every --batch-steps steps (whole episodes), on the batch's
    /// mean gradient, its Adam step size adapted to a KL target
    /// (--kl-target, 0.002) from lr 0.03; V and c^ at lr x scale (scale 1); running-normalised
    /// observations (--no-obs-norm: raw); gamma 0.99; at most 10,000 episodes per seed.
    /// Solved: last-100 mean return >= 950. Writes <out>/rl-inverted-pendulum/ (as
    /// lunarlander).
    InvertedPendulum(host::rl_gym::GymArgs),
    /// Inverted Pendulum: does LAX's c^(a, s) lower the gradient variance at a fixed policy?
    ///
    /// Per seed, A2C (or LAX, --pretrain lax) trains as `relax rl inverted-pendulum` (lr 0.03
    /// by default) up to each --at point; there the policy is frozen and forked into LAX and
    /// A2C (same networks, c^ on and off; after A2C pre-training c^ starts at zero output).
    /// Both train their critics for --critic-steps environment steps on the same episodes (V
    /// evolves identically; c^ steps once per 2500-step batch, or after every episode with
    /// --cv-per-episode), and E|g|^2 of both
    /// is measured on --measure common episodes at the freeze and after that training: both
    /// are unbiased for the same gradient, so the paired difference is the difference of
    /// their variances. Writes <out>/rl-inverted-pendulum-cv/{summary.json, check.csv}.
    InvertedPendulumCv(host::pendulum_cv::CvCheckArgs),
}

#[derive(Debug, Args)]
struct CartPoleArgs {
    /// Methods to run (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "relax")]
    estimator: Vec<host::rl::RlEstimator>,
    /// Independent runs (seeds --seed, --seed + 1, ...).
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Policy step size (default: the grid search's choice for the method).
    #[arg(long)]
    lr: Option<f32>,
    /// Control-variate (RELAX) or value (A2C) step size relative to --lr (default: the
    /// grid search's choice).
    #[arg(long)]
    cv_lr_scale: Option<f32>,
    /// Training episodes per seed.
    #[arg(long, default_value_t = 1000)]
    episodes: u32,
    /// Measure the gradient's variance every this many episodes (0: never).
    #[arg(long, default_value_t = 10)]
    var_every: u32,
    /// Episodes per variance measurement.
    #[arg(long, default_value_t = 100)]
    var_episodes: u32,
    /// Run the hyperparameter grid search instead.
    #[arg(long)]
    grid: bool,
    /// Run gymnasium's CartPole-v1 through the bridge instead of the core's CartPole (RELAX
    /// and A2C; stops each seed when solved; 2 runs at a time; writes
    /// <out>/rl-cartpole-bridge/), to check the bridge against the native environment.
    #[arg(long)]
    bridge: bool,
}

fn progress_bar(total: u64, what: &str, unit: &str) -> indicatif::ProgressBar {
    host::progress::bar(total, what, unit)
}

/// The grid search's choices (`relax rl cartpole --grid`, seeds 0-4; see README).
fn cartpole_defaults(e: host::rl::RlEstimator) -> (f32, f32) {
    match e {
        host::rl::RlEstimator::Relax => (0.01, 1.0),
        host::rl::RlEstimator::A2c => (0.01, 1.0),
        host::rl::RlEstimator::Reinforce => (0.01, 1.0),
    }
}

fn run_rl(seed: u64, out: &std::path::Path, a: RlArgs) -> Result<()> {
    use host::rl;
    use std::sync::atomic::{AtomicU64, Ordering};
    let a = match a.env {
        RlEnv::Cartpole(a) if a.bridge => return run_cartpole_bridge(seed, out, a),
        RlEnv::Cartpole(a) => a,
        RlEnv::Lunarlander(g) => {
            return host::rl_gym::run_cli(host::rl_gym::GymTask::LunarLander, seed, out, &g)
        }
        RlEnv::InvertedPendulum(g) => {
            return host::rl_gym::run_cli(host::rl_gym::GymTask::InvertedPendulum, seed, out, &g)
        }
        RlEnv::InvertedPendulumCv(a) => return host::pendulum_cv::run(&a, seed, out).map(drop),
    };
    let seeds: Vec<u64> = (seed..seed + a.seeds.max(1)).collect();
    let counter = AtomicU64::new(0);
    let total_per_run = seeds.len() as u64 * a.episodes as u64;
    let runs_total = if a.grid {
        (rl::GRID_LR.len() * rl::GRID_SCALE.len()) as u64
    } else {
        1
    } * a.estimator.len() as u64;
    let pb = progress_bar(runs_total * total_per_run, "rl cartpole", "episodes");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                pb.set_position(counter.load(Ordering::Relaxed));
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let result = (|| -> Result<()> {
            if a.grid {
                let dir = results_dir(out, "rl-cartpole-grid")?;
                let mut csv = CsvWriter::create(
                    &dir.join("grid.csv"),
                    &[
                        "estimator",
                        "lr",
                        "cv_lr_scale",
                        "seeds_solved",
                        "mean_episodes_to_solve",
                        "score",
                    ],
                )?;
                let mut all = Vec::new();
                for &e in &a.estimator {
                    let points = rl::grid_search(e, &seeds, a.episodes, &counter)?;
                    for p in &points {
                        let mean = p.episodes_to_solve.mean.unwrap_or(f64::NAN);
                        csv.row(&[
                            &e.name(),
                            &p.lr,
                            &p.cv_lr_scale,
                            &p.episodes_to_solve.solved,
                            &mean,
                            &p.score,
                        ])?;
                    }
                    println!(
                        "{}: best lr {} cv_lr_scale {} (mean episodes to solve {:.1}, {}/{} seeds solved)",
                        e.name(),
                        points[0].lr,
                        points[0].cv_lr_scale,
                        points[0].score,
                        points[0].episodes_to_solve.solved,
                        seeds.len()
                    );
                    all.extend(points);
                }
                csv.finish()?;
                write_json(&dir.join("grid.json"), &all)?;
                println!("wrote {}", dir.display());
                return Ok(());
            }
            let mut results = Vec::new();
            for &e in &a.estimator {
                let (dlr, dscale) = cartpole_defaults(e);
                let cfg = rl::CartPoleConfig {
                    estimator: e,
                    seeds: seeds.clone(),
                    lr: a.lr.unwrap_or(dlr),
                    cv_lr_scale: a.cv_lr_scale.unwrap_or(dscale),
                    episodes: a.episodes,
                    stop_when_solved: false,
                    var_every: a.var_every,
                    var_episodes: a.var_episodes,
                };
                let start = Instant::now();
                let runs = rl::run_all(&cfg, &counter)?;
                let wall = start.elapsed().as_secs_f64();
                results.push((cfg, runs, wall));
            }
            let dir = rl::write_results(out, &results)?;
            println!("episodes to solve (first episode with a last-100 mean return >= 195):");
            for (cfg, runs, wall) in &results {
                let s = rl::SolveStats::of(runs);
                let per: Vec<String> = s
                    .per_seed
                    .iter()
                    .map(|v| v.map_or("-".to_string(), |x| x.to_string()))
                    .collect();
                println!(
                    "  {:<10} lr {} scale {}: {}/{} solved, mean {:.1} +- {:.1}  [{}]  ({:.1} s, state {} B)",
                    cfg.estimator.name(),
                    cfg.lr,
                    cfg.cv_lr_scale,
                    s.solved,
                    runs.len(),
                    s.mean.unwrap_or(f64::NAN),
                    s.std.unwrap_or(f64::NAN),
                    per.join(" "),
                    wall,
                    rl::learner_state_bytes(cfg.estimator)
                );
            }
            println!("wrote {}", dir.display());
            Ok(())
        })();
        done.store(true, Ordering::Relaxed);
        result
    })?;
    pb.finish_and_clear();
    Ok(())
}

/// `relax rl cartpole --bridge`: the CartPole options mapped onto the gymnasium runner.
fn run_cartpole_bridge(seed: u64, out: &std::path::Path, a: CartPoleArgs) -> Result<()> {
    use host::rl::RlEstimator;
    use host::rl_gym::{GymArgs, GymEstimator, GymTask};
    let estimator = a
        .estimator
        .iter()
        .map(|e| match e {
            RlEstimator::Relax => Ok(GymEstimator::Relax),
            RlEstimator::A2c => Ok(GymEstimator::A2c),
            RlEstimator::Reinforce => Err("--bridge runs relax and a2c"),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (lr, scale) = cartpole_defaults(a.estimator[0]);
    let g = GymArgs {
        estimator,
        seeds: a.seeds,
        lr: Some(a.lr.unwrap_or(lr)),
        cv_lr_scale: Some(a.cv_lr_scale.unwrap_or(scale)),
        episodes: Some(a.episodes),
        run_after_solved: false,
        var_every: a.var_every,
        var_episodes: a.var_episodes,
        batch_steps: 2500,
        kl_target: 0.0,
        no_obs_norm: false,
        value_steps: 1,
        cv_steps: 1,
        cv_per_episode: false,
        cv_loss_per_step: false,
        jobs: 2,
        no_replay_cache: false,
        timeout: 30.0,
        replot: false,
    };
    host::rl_gym::run_cli(GymTask::CartPole, seed, out, &g)
}

fn main() {
    let cli = Cli::parse();
    let ctx = host::Ctx {
        seed: cli.seed,
        out: cli.out.clone(),
    };
    let result = match cli.command {
        Command::Toy(a) => host::toy::run_cli(a, &ctx),
        Command::Bench(a) => host::bench::run_cli(a, &ctx),
        Command::Rl(a) => run_rl(cli.seed, &cli.out, a),
        Command::Vae(a) => host::vae::cli::run(a, &ctx),
    };
    if let Err(e) = result {
        eprintln!("relax: {e}");
        std::process::exit(1);
    }
}
