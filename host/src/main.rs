//! `relax`: the command-line harness of the RELAX reproduction. One subcommand per
//! experiment; each owns its arguments and its `run` (host/src/<experiment>/cli.rs) and
//! writes CSV, a JSON summary and PNG plots under `<out>/<experiment>/`. This file only
//! parses and dispatches.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Experiments of "Backpropagation through the Void" (Grathwohl et al., ICLR 2018) on the
/// no_std estimator core.
///
/// Each subcommand writes <out>/<experiment>/ (default results/): CSV of the curves, a JSON
/// summary and PNG plots; independent runs go in parallel on all cores. `relax <command>
/// --help` explains each experiment. The plots need a TrueType font: Debian's
/// fonts-dejavu-core, or a .ttf file named by the RELAX_FONT environment variable.
/// Ctrl-C (or SIGTERM) stops a run cleanly: files of earlier runs stay as they were.
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
    Toy(host::toy::ToyArgs),
    Bench(host::bench::BenchArgs),
    Compare(host::compare::CompareArgs),
    Rl(host::rl::RlArgs),
    Vae(host::vae::VaeArgs),
    Data(host::datasets::DataArgs),
    /// Merges the runs of a sweep spread with --run-index (docs/cluster.md): the toy's
    /// from its run files, RL's and the VAE's from the manifest runs/sweep.json.
    Report(ReportArgs),
}

/// Options of `relax report`.
#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// The experiment's directory, e.g. results/toy, results/rl-cartpole,
    /// results/rl-cartpole-grid or results/vae-mnist-linear1.
    dir: PathBuf,
}

/// `relax report DIR`: the toy's merge by name, else the one the sweep's manifest names.
fn report(dir: &std::path::Path) -> host::Result<()> {
    if dir.file_name().and_then(|n| n.to_str()) == Some("toy") {
        return host::toy::merge(dir);
    }
    let (command, manifest, path) = host::manifest::read_manifest(dir)?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let out = dir.parent().unwrap_or(std::path::Path::new("."));
    match command.as_str() {
        "rl" => host::rl::sweep::merge_manifest(out, name, manifest, &path),
        _ => host::vae::sweep::merge_manifest(dir, manifest, &path),
    }
}

fn main() {
    let cli = Cli::parse();
    host::interrupt::install();
    let ctx = host::Ctx {
        seed: cli.seed,
        out: cli.out,
    };
    let result = match cli.command {
        Command::Toy(a) => host::toy::run_cli(a, &ctx),
        Command::Bench(a) => host::bench::run_cli(a, &ctx),
        Command::Compare(a) => host::compare::run(a, &ctx),
        Command::Rl(a) => host::rl::run(a, &ctx),
        Command::Vae(a) => host::vae::cli::run(a, &ctx),
        Command::Data(a) => host::datasets::run(a, &ctx),
        Command::Report(a) => report(&a.dir),
    };
    match result {
        Err(_) if host::interrupt::requested() => {
            eprintln!("relax: {}", host::interrupt::MESSAGE);
            std::process::exit(130);
        }
        Err(e) => {
            eprintln!("relax: {e}");
            std::process::exit(1);
        }
        // A stop asked for while the results were being written: they were finished first.
        Ok(()) if host::interrupt::requested() => {
            eprintln!("relax: interrupted; the results above were written whole first");
            std::process::exit(130);
        }
        Ok(()) => {}
    }
}
