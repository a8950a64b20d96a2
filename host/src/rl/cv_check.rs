//! `relax rl inverted-pendulum-cv`, the frozen-policy check: does LAX's action-dependent control variate `c^(a, s)`
//! lower the variance of the policy gradient on Inverted Pendulum, at a fixed policy?
//!
//! Episodes-to-solve mixes the estimator's variance with everything else that moves during
//! training. This check isolates it. Per seed, a learner (A2C by default, or LAX) trains as
//! in `relax rl inverted-pendulum` up to each freeze point; there the policy is frozen
//! (`train_policy = false`) and the learner is forked into LAX and A2C (`control_variate =
//! false`, the same networks). Both then train their critics for `critic_steps` steps on the
//! same episodes (same generator, same policy, so `V` evolves identically and only `c^`
//! differs; after A2C pre-training `c^` starts at zero output, A2C's estimator), and the
//! per-episode policy gradients of both are measured on `measure` common episodes before and
//! after that training. Both estimators are unbiased for the same gradient, so
//! `E|g_LAX|^2 - E|g_A2C|^2 = tr Var(g_LAX) - tr Var(g_A2C)`: the paired per-episode
//! difference of squared norms, with its standard error, says whether `c^` lowers the
//! variance and by how much.

use super::cli::{CvCheckArgs, Pretrain};
use super::learners::PENDULUM_MEAN_PARAMS as PM;
use super::pool::{self, run_pool, Stopped};
use super::runner::server_options;
use crate::gym::{GymEnv, ServerOptions};
use crate::output::{write_json, CsvWriter};
use crate::{seed, stats, Result};
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::rl::lax::{LaxConfig, PendulumLax};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// LAX against A2C on the same measured episodes.
#[derive(Debug, Clone, Serialize)]
pub struct Compare {
    /// Mean over episodes of `|g|^2`, LAX.
    pub lax_sq: f64,
    /// Mean over episodes of `|g|^2`, A2C.
    pub a2c_sq: f64,
    /// `lax_sq / a2c_sq`.
    pub ratio: f64,
    /// The same ratio for `|g / T|^2` (T the episode's length), the reference code's loss
    /// for `c^` (`--cv-loss-per-step`).
    pub ratio_per_step: f64,
    /// Standard error of `lax_sq - a2c_sq` (paired over episodes).
    pub diff_se: f64,
    /// `(lax_sq - a2c_sq) / diff_se`.
    pub z: f64,
    /// Trace of the sample covariance of the episode gradients, LAX and A2C.
    pub lax_var: f64,
    /// The same for A2C.
    pub a2c_var: f64,
    /// Mean steps of the measured episodes.
    pub mean_steps: f64,
}

/// One seed at one freeze point.
#[derive(Debug, Clone, Serialize)]
pub struct CheckPoint {
    /// The seed.
    pub seed: u64,
    /// LAX training episodes before the freeze.
    pub trained_episodes: u32,
    /// Mean return of the last (up to) 100 training episodes.
    pub last100_return: f64,
    /// At the freeze (LAX's c^ as co-trained with the moving policy).
    pub before: Compare,
    /// After `critic_steps` steps of critic training at the frozen policy.
    pub after: Compare,
}

/// Measures both estimators on `n` common episodes starting from `rng`.
fn compare(
    lax: &PendulumLax,
    a2c: &PendulumLax,
    env: &mut GymEnv<4>,
    rng: &Xoshiro128PlusPlus,
    n: u32,
    stop: &AtomicBool,
) -> Result<Compare> {
    let mut rng = rng.clone();
    let (mut gl, mut ga) = (Box::new([0.0f32; PM]), Box::new([0.0f32; PM]));
    let (mut sl, mut sa) = ([0.0f32; 1], [0.0f32; 1]);
    let (mut sum_l, mut sum_a) = (vec![0.0f64; PM + 1], vec![0.0f64; PM + 1]);
    let (mut sq_l, mut sq_a, mut diffs) = (0.0f64, 0.0f64, Vec::new());
    let (mut sqt_l, mut sqt_a) = (0.0f64, 0.0f64);
    let mut steps = 0u64;
    for _ in 0..n {
        pool::check(stop)?;
        let mut r = rng.clone();
        let rl = lax.episode_gradient(env, &mut r, &mut gl, &mut sl);
        let rl = rl.map_err(|e| env.explain(e))?;
        let ra = a2c.episode_gradient(env, &mut rng, &mut ga, &mut sa);
        let ra = ra.map_err(|e| env.explain(e))?;
        if rl.steps != ra.steps {
            return Err("LAX and A2C saw different episodes at the same frozen policy".into());
        }
        steps += rl.steps as u64;
        let mut d = [0.0f64; 2];
        for (k, (x, y)) in gl.iter().chain(&sl).zip(ga.iter().chain(&sa)).enumerate() {
            let (x, y) = (*x as f64, *y as f64);
            sum_l[k] += x;
            sum_a[k] += y;
            d[0] += x * x;
            d[1] += y * y;
        }
        sq_l += d[0];
        sq_a += d[1];
        let t2 = (rl.steps as f64).powi(2);
        sqt_l += d[0] / t2;
        sqt_a += d[1] / t2;
        diffs.push(d[0] - d[1]);
    }
    let nf = n as f64;
    let mean_d = diffs.iter().sum::<f64>() / nf;
    let var_d = diffs.iter().map(|d| (d - mean_d).powi(2)).sum::<f64>() / (nf - 1.0);
    let trace =
        |sq: f64, sum: &[f64]| (sq - sum.iter().map(|s| s * s).sum::<f64>() / nf) / (nf - 1.0);
    let diff_se = (var_d / nf).sqrt();
    // c^ = 0 (A2C pre-training) gives identical gradients: a difference of exactly 0.
    let z = if diff_se > 0.0 { mean_d / diff_se } else { 0.0 };
    Ok(Compare {
        lax_sq: sq_l / nf,
        a2c_sq: sq_a / nf,
        ratio: sq_l / sq_a,
        ratio_per_step: sqt_l / sqt_a,
        diff_se,
        z,
        lax_var: trace(sq_l, &sum_l),
        a2c_var: trace(sq_a, &sum_a),
        mean_steps: steps as f64 / nf,
    })
}

/// Trains both forks' critics on the same episodes, at least `steps` steps.
fn train_critics(
    lax: &mut PendulumLax,
    a2c: &mut PendulumLax,
    env: &mut GymEnv<4>,
    rng: &mut Xoshiro128PlusPlus,
    steps: u64,
    stop: &AtomicBool,
) -> Result<()> {
    let mut done = 0u64;
    while done < steps {
        pool::check(stop)?;
        let mut r = rng.clone();
        let a = lax.train_episode(env, &mut r).map_err(|e| env.explain(e))?;
        let b = a2c.train_episode(env, rng).map_err(|e| env.explain(e))?;
        if a.steps != b.steps || a.policy_updated || b.policy_updated {
            return Err("the frozen policy moved or the forks saw different episodes".into());
        }
        done += a.steps as u64;
    }
    Ok(())
}

fn run_seed(
    args: &CvCheckArgs,
    seed: u64,
    opts: &ServerOptions,
    stop: &AtomicBool,
) -> Result<Vec<CheckPoint>> {
    let (lr, cv) = (args.lr, args.lr * args.cv_lr_scale);
    let mut config = LaxConfig::paper(lr, cv, cv, args.pretrain == Pretrain::Lax);
    config.cv_per_batch = !args.cv_per_episode;
    config.cv_loss_per_step = args.cv_loss_per_step;
    let mut learner = PendulumLax::new(config, &mut seed::rng(seed, 0))?;
    let mut env = GymEnv::<4>::start(opts, "InvertedPendulum-v5", true)?;
    // Stream 1 trains, as in `relax rl inverted-pendulum`; 3 and 4 are the check's.
    let mut rng = seed::rng(seed, 1);
    let (critic_rng, measure_rng) = (seed::rng(seed, 3), seed::rng(seed, 4));
    let mut returns = Vec::new();
    let mut out = Vec::new();
    for &at in &args.at {
        while (returns.len() as u32) < at {
            pool::check(stop)?;
            let r = learner.train_episode(&mut env, &mut rng);
            returns.push(r.map_err(|e| env.explain(e))?.ret);
        }
        let mut frozen = config;
        frozen.train_policy = false;
        frozen.cv_steps = args.cv_steps;
        frozen.control_variate = true;
        frozen.cv_lr = args.check_cv_lr.unwrap_or(cv);
        let mut lax = learner.clone();
        lax.set_config(frozen)?;
        let mut a2c = lax.clone();
        a2c.set_config(LaxConfig {
            control_variate: false,
            ..frozen
        })?;
        let before = compare(&lax, &a2c, &mut env, &measure_rng, args.measure, stop)?;
        let mut r = critic_rng.clone();
        train_critics(
            &mut lax,
            &mut a2c,
            &mut env,
            &mut r,
            args.critic_steps,
            stop,
        )?;
        let after = compare(&lax, &a2c, &mut env, &measure_rng, args.measure, stop)?;
        out.push(CheckPoint {
            seed,
            trained_episodes: at,
            last100_return: stats::mean100(&returns).last().copied().unwrap_or(0.0),
            before,
            after,
        });
    }
    Ok(out)
}

/// Runs the check for every seed (`jobs` at a time) and writes
/// `<out>/rl-inverted-pendulum-cv/{summary.json, check.csv}`; returns the checks.
pub fn run(args: &CvCheckArgs, first_seed: u64, out: &Path) -> Result<Vec<CheckPoint>> {
    if args.at.is_empty() || args.at.windows(2).any(|w| w[0] >= w[1]) || args.at[0] == 0 {
        return Err("--at needs positive, increasing episode counts".into());
    }
    if args.measure < 2 || args.timeout.is_nan() || args.timeout <= 0.0 {
        return Err("--measure must be >= 2 and --timeout > 0".into());
    }
    let opts = server_options(args.timeout)?;
    let seeds = crate::args::seed_range(first_seed, args.seeds)?;
    let claim = crate::output::claim(out, "rl-inverted-pendulum-cv")?;
    let start = Instant::now();
    let per_seed = run_pool(seeds.len(), args.jobs, "pendulum-cv", |k, stop| {
        let opts = ServerOptions {
            cancel: Some(stop.clone()),
            ..opts.clone()
        };
        run_seed(args, seeds[k], &opts, stop).map_err(|e| {
            let e = pool::unless_stopped(stop, e);
            if e.is::<Stopped>() || e.to_string() == crate::interrupt::MESSAGE {
                return e;
            }
            format!("InvertedPendulum-v5 check seed {}: {e}", seeds[k]).into()
        })
    })?;
    let points: Vec<CheckPoint> = per_seed.into_iter().flatten().collect();
    let dir = claim.dir();
    #[derive(Serialize)]
    struct Summary<'a> {
        env: &'static str,
        lr: f32,
        cv_lr_scale: f32,
        pretrain: Pretrain,
        cv_steps: u32,
        check_cv_lr: f32,
        cv_per_batch: bool,
        cv_loss_per_step: bool,
        critic_steps: u64,
        measure: u32,
        wall_seconds: f64,
        checks: &'a [CheckPoint],
    }
    write_json(
        &dir.join("summary.json"),
        &Summary {
            env: "InvertedPendulum-v5",
            lr: args.lr,
            cv_lr_scale: args.cv_lr_scale,
            pretrain: args.pretrain,
            cv_steps: args.cv_steps,
            check_cv_lr: args.check_cv_lr.unwrap_or(args.lr * args.cv_lr_scale),
            cv_per_batch: !args.cv_per_episode,
            cv_loss_per_step: args.cv_loss_per_step,
            critic_steps: args.critic_steps,
            measure: args.measure,
            wall_seconds: start.elapsed().as_secs_f64(),
            checks: &points,
        },
    )?;
    let mut csv = CsvWriter::create(
        &dir.join("check.csv"),
        &[
            "seed",
            "trained_episodes",
            "last100_return",
            "phase",
            "mean_steps",
            "lax_sq",
            "a2c_sq",
            "ratio",
            "diff_se",
            "z",
            "ratio_per_step",
        ],
    )?;
    for p in &points {
        for (phase, c) in [("before", &p.before), ("after", &p.after)] {
            csv.row(&[
                &p.seed,
                &p.trained_episodes,
                &p.last100_return,
                &phase,
                &c.mean_steps,
                &c.lax_sq,
                &c.a2c_sq,
                &c.ratio,
                &c.diff_se,
                &c.z,
                &c.ratio_per_step,
            ])?;
        }
    }
    csv.finish()?;
    println!("{}", table(&points, args));
    println!("wrote {}", dir.display());
    Ok(points)
}

/// The printed table: one row per seed and freeze point.
pub fn table(points: &[CheckPoint], args: &CvCheckArgs) -> String {
    let mut s = format!(
        "InvertedPendulum-v5, policy frozen after {:?} training; E|g|^2 LAX / A2C on {} common \
         episodes (z of the paired difference), at the freeze and after {} steps of critic \
         training (c^ {}, loss {}, lr {}):\n",
        args.pretrain,
        args.measure,
        args.critic_steps,
        if args.cv_per_episode {
            format!("{} steps per episode", args.cv_steps)
        } else {
            "one step per batch of 2500 steps".to_string()
        },
        if args.cv_loss_per_step {
            "|g/T|^2"
        } else {
            "|g/B|^2"
        },
        args.check_cv_lr.unwrap_or(args.lr * args.cv_lr_scale)
    );
    s += "| seed | episodes | last-100 return | steps | before: ratio (z) | after: ratio (z) | after: ratio of |g/T|^2 |\n";
    s += "|---|---|---|---|---|---|---|\n";
    for p in points {
        s += &format!(
            "| {} | {} | {:.0} | {:.0} | {:.3} ({:.1}) | {:.3} ({:.1}) | {:.3} |\n",
            p.seed,
            p.trained_episodes,
            p.last100_return,
            p.after.mean_steps,
            p.before.ratio,
            p.before.z,
            p.after.ratio,
            p.after.z,
            p.after.ratio_per_step
        );
    }
    s
}
