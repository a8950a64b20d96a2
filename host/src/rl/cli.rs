//! The command line of `relax rl`: one subcommand per task (and the frozen-policy check),
//! with the options of each.

use crate::estimators::{parser, EstimatorId, Menu};
use clap::{Args, Subcommand};
use serde::Serialize;

/// Reinforcement learning with the core's policy-gradient learners (section 6.3).
#[derive(Debug, Args)]
pub struct RlArgs {
    /// The task.
    #[command(subcommand)]
    pub env: RlEnv,
}

/// The tasks of `relax rl`.
#[derive(Debug, Subcommand)]
pub enum RlEnv {
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
    Lunarlander(GymArgs),
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
    InvertedPendulum(GymArgs),
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
    InvertedPendulumCv(CvCheckArgs),
}

/// Options of `relax rl cartpole`.
#[derive(Debug, Args)]
pub struct CartPoleArgs {
    /// Methods to run (comma-separated).
    #[arg(long, value_parser = parser(Menu::Rl), value_delimiter = ',', default_value = "relax")]
    pub estimator: Vec<EstimatorId>,
    /// Independent runs (seeds --seed, --seed + 1, ...).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000), default_value_t = 10)]
    pub seeds: u64,
    /// Policy step size (default: the grid search's choice for the method).
    #[arg(long, value_parser = crate::args::step_size)]
    pub lr: Option<f32>,
    /// Control-variate (RELAX) or value (A2C) step size relative to --lr (default: the
    /// grid search's choice).
    #[arg(long, value_parser = crate::args::positive)]
    pub cv_lr_scale: Option<f32>,
    /// Training episodes per seed.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000), default_value_t = 1000)]
    pub episodes: u32,
    /// Measure the gradient's variance every this many episodes (0: never).
    #[arg(long, default_value_t = 10)]
    pub var_every: u32,
    /// Episodes per variance measurement.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=1_000_000), default_value_t = 100)]
    pub var_episodes: u32,
    /// Run the hyperparameter grid search instead (with --list-runs, --run-index and
    /// --replot, its runs are (method, lr, scale, seed)).
    #[arg(long, conflicts_with = "bridge")]
    pub grid: bool,
    /// Run gymnasium's CartPole-v1 through the bridge instead of the core's CartPole (RELAX
    /// and A2C; stops each seed when solved; 2 runs at a time; writes
    /// <out>/rl-cartpole-bridge/), to check the bridge against the native environment.
    #[arg(long)]
    pub bridge: bool,
    /// Do not train: rewrite the results from the per-seed files
    /// `<out>/<experiment>/runs/<method>-seed<k>.json` written by `--run-index` (pass the
    /// options of those runs; a file made with other settings is refused).
    #[arg(long)]
    pub replot: bool,
    /// The (method, seed) runs, one per process; `--replot` with the same options merges.
    #[command(flatten)]
    pub sweep: crate::args::SweepArgs,
}

/// Command-line options of `relax rl lunarlander`, `relax rl inverted-pendulum` (and of
/// `relax rl cartpole --bridge`, which maps its own options onto these).
#[derive(Debug, Clone, clap::Args)]
pub struct GymArgs {
    /// Methods to run (comma-separated); default both of the task's.
    #[arg(long, value_parser = parser(Menu::Rl), value_delimiter = ',')]
    pub estimator: Vec<EstimatorId>,
    /// Independent runs per method (seeds --seed, --seed + 1, ...).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000), default_value_t = 5)]
    pub seeds: u64,
    /// Policy step size (Adam); default per task and method (see --help of the task).
    #[arg(long, value_parser = crate::args::step_size)]
    pub lr: Option<f32>,
    /// Control-variate and value step size relative to --lr.
    #[arg(long, value_parser = crate::args::positive)]
    pub cv_lr_scale: Option<f32>,
    /// Training episodes per seed at most (default per task).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub episodes: Option<u32>,
    /// Keep training after a seed is solved, up to --episodes (default: stop when solved).
    #[arg(long)]
    pub run_after_solved: bool,
    /// Measure the gradient's variance every this many episodes (0: never).
    #[arg(long, default_value_t = 200)]
    pub var_every: u32,
    /// Episodes per variance measurement.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=1_000_000), default_value_t = 20)]
    pub var_episodes: u32,
    /// Continuous actions: at least this many steps (whole episodes) per policy update.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000_000), default_value_t = 2500)]
    pub batch_steps: u32,
    /// Continuous actions: adapt the policy's step size to this mean KL per update (the
    /// paper's 0.002; divided by 1.5 above twice the target, times 1.5 below half, within
    /// [lr / 100, 10 lr]); 0 keeps it fixed at --lr.
    #[arg(long, value_parser = crate::args::non_negative, default_value_t = 0.002)]
    pub kl_target: f32,
    /// Continuous actions: feed the networks raw observations instead of running-normalised
    /// ones (clamp((o - mean) / std, -5, 5), statistics frozen within an episode).
    #[arg(long)]
    pub no_obs_norm: bool,
    /// Continuous actions: Adam steps of the value network V per episode, each after the
    /// first on the episode replayed with the updated V (the paper: 25 per batch).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub value_steps: u32,
    /// LAX: step c^ after every episode on that episode's variance gradient, instead of
    /// once per policy update on the mean over the batch's episodes (the paper's way).
    #[arg(long)]
    pub cv_per_episode: bool,
    /// LAX: train c^ on the reference code's per-episode loss |g/T|^2 (T the episode's
    /// length) instead of |g/B|^2 (B = --batch-steps), which weighs every episode by its
    /// share in the policy's step.
    #[arg(long)]
    pub cv_loss_per_step: bool,
    /// LAX with --cv-per-episode: Adam steps of c^ per episode, each after the first on the
    /// episode replayed with the updated c^ (the paper's cv_num, per batch there: 1, 5, 25).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), requires = "cv_per_episode")]
    pub cv_steps: u32,
    /// Runs (method, seed) at a time, each with its own Python process.
    #[arg(long, value_parser = crate::args::count::<1, 256>, default_value_t = 2)]
    pub jobs: usize,
    /// Replay episodes for the variance pass through Python instead of from memory (slower;
    /// checks that the environment is deterministic given the reset seed).
    #[arg(long)]
    pub no_replay_cache: bool,
    /// Deadline in seconds of every wait on Python: the check of the interpreter, a
    /// server's start (its handshake) and every reply; a child that misses it is killed
    /// (a first install of the packages gets 20 times as long).
    #[arg(long, value_parser = crate::args::seconds, default_value_t = 30.0)]
    pub timeout: f64,
    /// Do not train: rewrite the CSV, JSON and PNG files from the per-seed files
    /// `<out>/<experiment>/runs/<method>-seed<k>.json` of earlier runs (for example runs of
    /// the methods made by separate invocations). Pass the options of those runs: a file
    /// made with other settings (its `config` key) is refused, naming the fields.
    #[arg(long)]
    pub replot: bool,
    /// The (method, seed) runs, one per process; `--replot` with the same options merges.
    #[command(flatten)]
    pub sweep: crate::args::SweepArgs,
}

/// Options of `relax rl inverted-pendulum-cv`.
#[derive(Debug, Clone, clap::Args)]
pub struct CvCheckArgs {
    /// Seeds (--seed, --seed + 1, ...).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000), default_value_t = 3)]
    pub seeds: u64,
    /// Freeze points: LAX training episodes before each check (comma-separated, increasing).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000), value_delimiter = ',', default_value = "100,300,600")]
    pub at: Vec<u32>,
    /// Environment steps of V and c^ training at the frozen policy (whole episodes).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000), default_value_t = 100_000)]
    pub critic_steps: u64,
    /// Step c^ after every episode (--cv-steps times) instead of once per batch of 2500
    /// steps on the batch's mean variance gradient, before and after the freeze.
    #[arg(long)]
    pub cv_per_episode: bool,
    /// Train c^ on the reference code's |g/T|^2 instead of |g/B|^2 (B = 2500), before and
    /// after the freeze.
    #[arg(long)]
    pub cv_loss_per_step: bool,
    /// Episodes per measurement (the same episodes for LAX and A2C).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=1_000_000), default_value_t = 100)]
    pub measure: u32,
    /// With --cv-per-episode: Adam steps of c^ per episode while the policy is frozen.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), requires = "cv_per_episode")]
    pub cv_steps: u32,
    /// The learner that trains the policy up to each freeze: `a2c` leaves c^ at its
    /// initialisation (zero output), so the check starts from c^ = 0, exactly A2C's
    /// estimator; `lax` co-trains c^ with the moving policy, as in `relax rl
    /// inverted-pendulum`.
    #[arg(long, value_enum, default_value_t = Pretrain::A2c)]
    pub pretrain: Pretrain,
    /// Policy step size of the training before each freeze (as `relax rl inverted-pendulum`).
    #[arg(long, value_parser = crate::args::step_size, default_value_t = 0.03)]
    pub lr: f32,
    /// V and c^ step size relative to --lr.
    #[arg(long, value_parser = crate::args::positive, default_value_t = 1.0)]
    pub cv_lr_scale: f32,
    /// Adam step size of c^ while the policy is frozen (default: --lr x --cv-lr-scale, as
    /// in the training before).
    #[arg(long, value_parser = crate::args::step_size)]
    pub check_cv_lr: Option<f32>,
    /// Seeds at a time, each with its own Python process.
    #[arg(long, value_parser = crate::args::count::<1, 256>, default_value_t = 2)]
    pub jobs: usize,
    /// Deadline in seconds of every wait on Python (interpreter check, server start,
    /// every reply); a child that misses it is killed.
    #[arg(long, value_parser = crate::args::seconds, default_value_t = 30.0)]
    pub timeout: f64,
}

/// Which estimator trains the policy before the freeze.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pretrain {
    /// A2C: c^ stays at its initialisation (zero output) until the freeze.
    A2c,
    /// LAX: c^ learns along with the policy.
    Lax,
}
