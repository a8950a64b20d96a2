//! `relax toy`: its command-line options and what the command does with them.

use super::{all_methods, fixed_theta, report, CouplingArg, ToyConfig, ToyEstimator};
use crate::estimators::{parser, Menu};
use crate::{progress, Ctx, Result};
use clap::Args;

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
#[derive(Debug, Args)]
pub struct ToyArgs {
    /// The target t.
    #[arg(long, default_value_t = 0.499, value_parser = crate::args::finite)]
    pub target: f32,
    /// Optimisation steps.
    #[arg(long, default_value_t = 10_000, value_parser = crate::args::count::<1, 100_000_000>)]
    pub steps: usize,
    /// Adam step size for the logit and the control variates.
    #[arg(long, default_value_t = 0.01, value_parser = crate::args::step_size)]
    pub lr: f32,
    /// Record loss and log-variance every this many steps.
    #[arg(long, default_value_t = 10, value_parser = crate::args::count::<1, 100_000_000>)]
    pub log_every: usize,
    /// Fresh estimates per log-variance measurement.
    #[arg(long, default_value_t = 1000, value_parser = crate::args::count::<2, 100_000_000>)]
    pub var_samples: usize,
    /// How REBAR and RELAX couple z~ to z.
    #[arg(long, value_enum, default_value_t = CouplingArg::Tied)]
    pub coupling: CouplingArg,
    /// Independent runs per method (seeds --seed, --seed + 1, ...); plots show their mean.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub seeds: u64,
    /// Methods to run (comma-separated); default all.
    #[arg(long, value_parser = parser(Menu::Toy), value_delimiter = ',')]
    pub estimators: Vec<ToyEstimator>,
    /// Figure 3: hold theta at 0.5 and train only the control variates.
    #[arg(long, conflicts_with_all = ["list_runs", "run_index"])]
    pub fixed_theta: bool,
    /// Points on the u grid of Figure 3.
    #[arg(long, default_value_t = 1000, value_parser = crate::args::count::<2, 100_000_000>)]
    pub points: usize,
    /// The (method, seed) runs; `relax report <out>/toy` merges them.
    #[command(flatten)]
    pub sweep: crate::args::SweepArgs,
}

/// Runs `relax toy`: trains, writes the results, prints the summary table.
pub fn run(a: ToyArgs, ctx: &Ctx) -> Result<()> {
    let cfg = ToyConfig {
        target: a.target,
        steps: a.steps,
        lr: a.lr,
        log_every: a.log_every,
        var_samples: a.var_samples,
        coupling: a.coupling,
        concrete_temperature: 0.5,
        estimators: if a.estimators.is_empty() {
            all_methods()
        } else {
            a.estimators
        },
        seeds: crate::args::seed_range(ctx.seed, a.seeds)?,
    };
    if a.fixed_theta {
        return run_fixed_theta(&cfg, a.points, ctx);
    }
    if a.sweep.list_runs {
        super::sweep::list_runs(&cfg);
        return Ok(());
    }
    if let Some(i) = a.sweep.run_index {
        return super::sweep::run_index(&cfg, i, ctx);
    }
    let claim = crate::output::claim(&ctx.out, "toy")?;
    let total = (cfg.estimators.len() * cfg.seeds.len() * cfg.steps) as u64;
    let r = progress::with_bar(total, "toy", "steps", |inc| super::run(&cfg, inc))?;
    let files = report::write_toy(&r, claim.dir())?;
    print!("{}", report::summary_table(&r));
    crate::output::print_written(&files);
    Ok(())
}

fn run_fixed_theta(cfg: &ToyConfig, points: usize, ctx: &Ctx) -> Result<()> {
    let claim = crate::output::claim(&ctx.out, "toy-fixed-theta")?;
    let total = (fixed_theta::fixed_theta_methods().len() * cfg.steps) as u64;
    let r = progress::with_bar(total, "toy, theta fixed at 0.5", "steps", |inc| {
        fixed_theta::run_fixed_theta(cfg, points, inc)
    })?;
    let files = report::write_fixed_theta(&r, claim.dir())?;
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
    crate::output::print_written(&files);
    Ok(())
}
