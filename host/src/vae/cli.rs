//! The `relax vae` subcommand: arguments and the runner `main.rs` calls.

use super::checkpoint::{Checkpointing, Every};
use super::data::{Binarization, Data, DataSet};
use super::estimators::EstimatorKind;
use super::model::ModelKind;
use super::report;
use super::train::{train_with, RunResult, TrainConfig};
use super::LATENTS;
use crate::estimators::{parser, EstimatorId, Menu};
use crate::Result;
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Binarization, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BinarizationArg {
    /// One draw per pixel for the whole run, from --binarization-seed.
    Fixed,
    /// Training pixels redrawn for every batch (validation and test stay fixed).
    Dynamic,
}

/// The data set, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataArg {
    /// MNIST IDX files.
    Mnist,
    /// Fashion-MNIST IDX files (Debian: dataset-fashion-mnist).
    FashionMnist,
    /// Omniglot chardata.mat.
    Omniglot,
    /// Larochelle & Murray's binarized MNIST (.amat; the paper's data; fixed binarization
    /// only): `relax data fetch binarized-mnist`.
    BinarizedMnist,
}

/// Discrete VAEs on binarized MNIST, Fashion-MNIST or Omniglot (section 6.2: Table 1,
/// Tables 3-4, Figure 4).
///
/// 200 Bernoulli latents per layer; linear1, linear2 or nonlinear; trained by NVIL, MuProp,
/// Concrete, REBAR, RELAX, RLOO or DisARM with batch 24 and Adam (beta2 0.99999). Per epoch:
/// mean training -ELBO and the 100-sample IWAE bound on validation; the best-validation
/// parameters are evaluated on test. Writes <out>/vae-<data>-<model>/: curves.csv (and
/// curves-<estimator>.partial.csv as it goes, renamed curves-<estimator>.csv when the run
/// ends), summary.json (settings, results, Table 4's epochs to REBAR's best) and neg_elbo.png.
#[derive(Debug, Clone, Args)]
pub struct VaeArgs {
    /// Architecture: linear1 (one stochastic layer), linear2 (two), nonlinear (one layer,
    /// two 200-unit tanh layers in each mapping).
    #[arg(long, value_enum, default_value_t = ModelKind::Linear1)]
    pub model: ModelKind,
    /// Estimators to train with (comma-separated); one run each, --jobs at a time.
    #[arg(long, value_parser = parser(Menu::Vae), value_delimiter = ',', default_value = "rebar,relax")]
    pub estimator: Vec<EstimatorId>,
    /// Epochs (an epoch is floor(n_train / batch) iterations; 2083 for MNIST).
    #[arg(long, default_value_t = 100, value_parser = crate::args::count::<1, 1_000_000>)]
    pub epochs: usize,
    /// Data set.
    #[arg(long, value_enum, default_value_t = DataArg::Mnist)]
    pub data: DataArg,
    /// Directory of the data (IDX files, chardata.mat for Omniglot, the three .amat files for
    /// binarized MNIST). Default: the environment variable RELAX_MNIST_DIR /
    /// RELAX_FASHION_MNIST_DIR / RELAX_OMNIGLOT_DIR / RELAX_BINARIZED_MNIST_DIR, else where
    /// `relax data fetch` puts it ($RELAX_DATA/<data>, else $XDG_DATA_HOME/relax/<data> or
    /// ~/.local/share/relax/<data>, if the files are there), else ../shared/data/mnist
    /// (MNIST) or /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Fixed (one draw from --binarization-seed) or dynamic binarization.
    #[arg(long, value_enum, default_value_t = BinarizationArg::Fixed)]
    pub binarization: BinarizationArg,
    /// Seed of the fixed binarization (recorded in summary.json).
    #[arg(long, default_value_t = 0)]
    pub binarization_seed: u64,
    /// Model learning rate (Adam, beta2 = 0.99999).
    #[arg(long, default_value_t = 1e-3, value_parser = crate::args::step_size)]
    pub lr: f32,
    /// Learning rate of the variance parameters over the model's (the paper searched 1, 10).
    #[arg(long, default_value_t = 1.0, value_parser = crate::args::positive)]
    pub cv_lr_scale: f32,
    /// Hidden ReLU layers (of 200 units) in RELAX's r_rho: 2 or 4.
    #[arg(long, default_value_t = 2, value_parser = crate::args::count::<1, 16>)]
    pub cv_depth: usize,
    /// Weight decay on r_rho.
    #[arg(long, default_value_t = 1e-3, value_parser = crate::args::non_negative)]
    pub cv_weight_decay: f32,
    /// Control-variate pre-training steps (REBAR, RELAX).
    #[arg(long, default_value_t = 1000, value_parser = crate::args::count::<0, 100_000_000>)]
    pub pretrain: usize,
    /// Concrete's temperature.
    #[arg(long, default_value_t = 0.5, value_parser = crate::args::positive)]
    pub concrete_temperature: f32,
    /// Samples per example (evaluations of f) of RLOO, ARMS, Double CV and RODEO (2 to 4).
    #[arg(long = "samples", alias = "rloo-k", value_name = "K", default_value_t = 2, value_parser = crate::args::count::<2, 64>)]
    pub rloo_k: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 24, value_parser = crate::args::count::<1, 10_000>)]
    pub batch: usize,
    /// Importance samples of the validation and test bound.
    #[arg(long, default_value_t = 100, value_parser = crate::args::count::<1, 100_000>)]
    pub iwae_samples: usize,
    /// Evaluate the validation bound on only the first this many images.
    #[arg(long, value_parser = crate::args::count::<1, { usize::MAX }>)]
    pub valid_limit: Option<usize>,
    /// Validate after every N epochs only (and after the last); the validated epochs' bounds
    /// are those of a run validating every epoch. For long runs (e.g. 10 at 960 epochs).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::args::count::<1, 1_000_000>)]
    pub valid_every: usize,
    /// Cap on iterations per epoch (for quick checks).
    #[arg(long, value_parser = crate::args::count::<1, { usize::MAX }>)]
    pub max_iters: Option<usize>,
    /// Skip the test-set evaluation of the best parameters.
    #[arg(long)]
    pub no_test: bool,
    /// Train nothing: gather the per-estimator curves (curves-<estimator>.csv) already in
    /// <out>/vae-<data>-<model>/, from this and earlier commands, into one curves.csv,
    /// table.txt and neg_elbo.png.
    #[arg(long)]
    pub report_only: bool,
    /// Runs in parallel. With 1 the runs go one after another and each evaluation uses
    /// every core; with more, that many runs share that many threads.
    #[arg(long, default_value_t = 1, value_parser = crate::args::count::<1, 256>)]
    pub jobs: usize,
    /// Threads of a run (default: all cores): each weight matrix is stored in that many
    /// column blocks, one a thread, which computes its columns of every product, its Adam
    /// step and its share of the row-by-row work; its evaluations use them too. The numbers
    /// are deterministic for a seed and a thread count, and one thread gives the numbers of
    /// earlier versions; with N threads the input gradients are sums of N parts, which
    /// changes the last bits (resume a checkpoint with the --threads that wrote it). With
    /// --jobs > 1, the runs share --jobs threads and each run takes one.
    #[arg(long, value_parser = crate::args::count::<1, 256>)]
    pub threads: Option<usize>,
    /// After each run, print one `speed:` line: iterations/s, the matrix products' FLOPs per
    /// training iteration (counted from their shapes), the achieved GFLOP/s, the GEMM peak on
    /// the same shapes (each timed alone, hot, with the same threads) and the fraction of it.
    #[arg(long)]
    pub speed: bool,
    /// Write the whole training state to <out>/vae-<data>-<model>/checkpoint-<estimator>.bin
    /// every N training iterations (e.g. 5000) or epochs (e.g. 2epochs), and when the run
    /// ends or is stopped by Ctrl-C; atomically (never half-written).
    #[arg(long, value_name = "N|Nepochs")]
    pub checkpoint_every: Option<Every>,
    /// Continue each run from DIR/checkpoint-<estimator>.bin (the results directory of an
    /// interrupted run; same flags, --epochs may be larger): the curves are exactly those of
    /// an uninterrupted run. A checkpoint made with other settings is refused.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Stop after this many training iterations in all, with a checkpoint (tests).
    #[arg(long, hide = true)]
    pub stop_after: Option<u64>,
    /// One run per estimator: --run-index I trains estimator I alone (its curves-*.csv and
    /// summary-*.json); --report-only with the same options merges (docs/cluster.md).
    #[command(flatten)]
    pub sweep: crate::args::SweepArgs,
}

fn set_of(d: DataArg) -> DataSet {
    match d {
        DataArg::Mnist => DataSet::Mnist,
        DataArg::FashionMnist => DataSet::FashionMnist,
        DataArg::Omniglot => DataSet::Omniglot,
        DataArg::BinarizedMnist => DataSet::BinarizedMnist,
    }
}

/// The training configuration the flags give for estimator `k`.
fn train_config(a: &VaeArgs, k: EstimatorKind, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::paper(a.model, k, a.epochs);
    c.lr = a.lr;
    c.cv_lr_scale = a.cv_lr_scale;
    c.estimator.cv_depth = a.cv_depth;
    c.estimator.cv_weight_decay = a.cv_weight_decay;
    c.estimator.concrete_temperature = a.concrete_temperature;
    c.estimator.rloo_k = a.rloo_k;
    c.pretrain_steps = a.pretrain;
    c.batch = a.batch;
    c.iwae_samples = a.iwae_samples;
    c.valid_limit = a.valid_limit;
    c.valid_every = a.valid_every;
    c.max_iters_per_epoch = a.max_iters;
    c.test = !a.no_test;
    c.seed = seed;
    c
}

/// `--report-only`: every gathered run must have been made with the settings the flags give
/// now (all but `epochs`, since runs of different lengths are merged on purpose), as its
/// `summary-<estimator>.json` records them; a mismatch names the file and the settings.
fn check_gathered(dir: &Path, a: &VaeArgs, seed: u64, runs: &[RunResult]) -> Result<()> {
    for run in runs {
        let kind = run.config.estimator.kind;
        let path = dir.join(format!("summary-{}.json", kind.label()));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e} (needed to check the run's settings)",
                path.display()
            )
        })?;
        let saved: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let saved = saved.get("config").cloned().unwrap_or_default();
        let now = crate::output::as_stored(&train_config(a, kind, seed))?;
        let differ = crate::output::config_diff(&saved, &now, &["epochs"]);
        if !differ.is_empty() {
            return Err(format!(
                "{}: made with other settings than these flags ({}); pass that run's flags or another --out",
                path.display(),
                differ.join("; ")
            )
            .into());
        }
    }
    Ok(())
}

/// `--speed`: the run's rate against the GEMM peak on its own product shapes.
fn speed_line(run: &RunResult, threads: usize) {
    let shapes = super::linalg::take_shapes();
    let iters = run.iters_per_epoch * run.records.len();
    let secs = super::linalg::time_shapes(&shapes, 0.05);
    // Per training iteration: the products' FLOPs and the time they take at peak.
    let (mut flops, mut mix) = (0.0f64, 0.0f64);
    for (s @ &(m, n, k, _, _), &count) in &shapes {
        let per_iter = count as f64 / iters.max(1) as f64;
        flops += per_iter * 2.0 * (m * n * k) as f64;
        mix += per_iter * secs[s];
    }
    let peak = flops / mix.max(1e-12) / 1e9;
    let achieved = run.flops_per_iter * run.iters_per_s / 1e9;
    println!(
        "speed: {} {} threads {threads} iters/s {:.1} MFLOP/iter {:.2} GFLOP/s {:.2} peak {:.2} fraction {:.3} products {} shapes {}",
        run.config.model.label(),
        run.config.estimator.kind.label(),
        run.iters_per_s,
        run.flops_per_iter / 1e6,
        achieved,
        peak,
        achieved / peak,
        shapes.values().sum::<u64>() / iters.max(1) as u64,
        shapes.len(),
    );
    // Where the training thread's time goes (for what a second thread can take over).
    let t = &run.time_split;
    println!(
        "speed: {} {} threads {threads} ms/iter {:.3} products {:.3} adam {:.3} other {:.3}",
        run.config.model.label(),
        run.config.estimator.kind.label(),
        t.total * 1e3,
        t.products * 1e3,
        t.adam * 1e3,
        (t.total - t.products - t.adam) * 1e3,
    );
}

/// What identifies the training data in a checkpoint: set, binarization and a hash of the
/// training bits (FNV-1a).
fn data_id(d: &Data) -> serde_json::Value {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in &d.train.bits {
        h = (h ^ b.to_bits() as u64).wrapping_mul(0x100_0000_01b3);
    }
    serde_json::json!({
        "set": d.set.label(),
        "binarization": d.binarization,
        "binarization_seed": d.binarization_seed,
        "train_images": d.train.n,
        "pixels": d.pixels,
        "train_bits_fnv": format!("{h:016x}"),
    })
}

/// `relax vae` with the global flags.
pub fn run(a: VaeArgs, ctx: &crate::Ctx) -> Result<()> {
    run_cli(ctx.seed, &ctx.out, a)
}

/// Loads the data, trains one run per estimator, writes the results and prints the table.
pub fn run_cli(seed: u64, out: &Path, a: VaeArgs) -> Result<()> {
    let kinds = a
        .estimator
        .iter()
        .map(|&id| {
            EstimatorKind::from_id(id)
                .ok_or_else(|| format!("--estimator {id}: the VAE has no implementation of it"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if a.model == ModelKind::Linear2 {
        if let Some(k) = kinds.iter().find(|k| k.one_layer_only()) {
            return Err(format!(
                "--estimator {}: implemented for the one-layer models (--model linear1 or \
                 nonlinear), not linear2",
                k.label()
            )
            .into());
        }
    }
    if a.speed && a.jobs > 1 {
        return Err("--speed counts one run's products at a time: use it with --jobs 1".into());
    }
    let set = set_of(a.data);
    if set == DataSet::BinarizedMnist && a.binarization == BinarizationArg::Dynamic {
        return Err(super::data::DYNAMIC_REFUSED.into());
    }
    let name = format!("vae-{}-{}", set.label(), a.model.label());
    if a.sweep.list_runs {
        for (i, k) in kinds.iter().enumerate() {
            println!("{i}\t{name} {}", k.label());
        }
        return Ok(());
    }
    // --run-index: this estimator alone, under a lock of its own (runs/.lock-<I>).
    let (kinds, _claim, rdir) = match a.sweep.run_index {
        Some(i) => {
            let k = *kinds.get(i).ok_or_else(|| {
                format!("--run-index {i}: {} runs (see --list-runs)", kinds.len())
            })?;
            let claim = crate::output::claim_run(out, &name, i)?;
            if !a.report_only {
                let configs = kinds.iter().map(|&k| train_config(&a, k, seed)).collect();
                let manifest = super::sweep::Manifest { configs };
                crate::manifest::write_manifest(&out.join(&name), "vae", &manifest)?;
            }
            (vec![k], claim, out.join(&name))
        }
        None => {
            let c = crate::output::claim(out, &name)?;
            let d = c.dir().to_path_buf();
            (kinds, c, d)
        }
    };
    if a.report_only {
        let configs: Vec<TrainConfig> = kinds.iter().map(|&k| train_config(&a, k, seed)).collect();
        if let Some((settings, runs)) = super::sweep::read_runs(&rdir, &configs)? {
            let title = super::sweep::title(set.label(), a.model);
            let files = report::write_all(&rdir, &title, &settings, &runs)?;
            print!("{}", report::table(&runs));
            crate::output::print_written(&files);
            return Ok(());
        }
        let runs = report::gather(&rdir, a.model)?;
        check_gathered(&rdir, &a, seed, &runs)?;
        let title = super::sweep::title(set.label(), a.model);
        let files = report::write_all(&rdir, &title, &"gathered from curves-*.csv", &runs)?;
        let table = report::table(&runs);
        std::fs::write(rdir.join("table.txt"), &table)?;
        print!("{table}");
        for f in files {
            println!("wrote {}", f.display());
        }
        return Ok(());
    }
    let dir = set.resolve_dir(a.data_dir.as_deref())?;
    let bin = match a.binarization {
        BinarizationArg::Fixed => Binarization::Fixed,
        BinarizationArg::Dynamic => Binarization::Dynamic,
    };
    let data = Data::load(set, &dir, bin, a.binarization_seed)?;
    eprintln!(
        "{}: {} train / {} valid / {} test images of {} pixels from {}",
        set.label(),
        data.train.n,
        data.valid.n,
        data.test.n,
        data.pixels,
        dir.display()
    );
    let configs: Vec<TrainConfig> = kinds.iter().map(|&k| train_config(&a, k, seed)).collect();
    let iters = (data.train.n / a.batch).min(a.max_iters.unwrap_or(usize::MAX));
    let pb = crate::progress::bar(
        (iters * a.epochs * configs.len()) as u64,
        &format!("vae {} {}", a.model.label(), set.label()),
        "iterations, {per_sec}",
    );
    let log = Mutex::new(());
    // With --jobs 1 the runs go one after another and the evaluation of each uses every
    // core; with more jobs, the runs share a pool of that many threads.
    let cores = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let jobs = a.jobs.max(1);
    super::linalg::set_threads(if jobs == 1 { cores } else { 1 });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(if jobs == 1 { cores } else { jobs })
        .start_handler(|_| super::linalg::prepare_thread())
        .build()?;
    let one = |c: &TrainConfig| -> Result<RunResult> {
        let label = c.estimator.kind.label();
        let mut on_epoch = |r: &super::train::EpochRecord| {
            let _g = log.lock();
            let valid = r.valid_neg_iwae.map_or(String::new(), |v| {
                format!(", valid -IWAE{} {v:.2}", c.iwae_samples)
            });
            let line = format!(
                "{label:<8} epoch {:>4}: train -ELBO {:.2}{valid}, {:.1} it/s",
                r.epoch, r.train_neg_elbo, r.iters_per_s
            );
            // A hidden bar (output not a terminal) drops println: log to stderr.
            if pb.is_hidden() {
                eprintln!("{line}");
            } else {
                pb.println(line);
            }
            if let Err(e) = report::append_epoch(&rdir, label, r) {
                eprintln!("could not write curves-{label}.csv: {e}");
            }
        };
        let file = format!("checkpoint-{label}.bin");
        let ck = Checkpointing {
            path: (a.checkpoint_every.is_some() || a.resume.is_some() || a.stop_after.is_some())
                .then(|| rdir.join(&file)),
            every: a.checkpoint_every,
            resume: a.resume.as_ref().map(|d| d.join(&file)),
            stop_after: a.stop_after,
            data: data_id(&data),
        };
        super::linalg::take_shapes();
        super::linalg::record_shapes(a.speed);
        let run = train_with::<LATENTS>(&data, c, &ck, &|k| pb.inc(k), &mut on_epoch)?;
        if a.speed {
            speed_line(&run, cores);
        }
        let path = rdir.join(format!("summary-{label}.json"));
        crate::output::write_json(&path, &run)?;
        report::complete_curves(&rdir, label)?;
        Ok(run)
    };
    let results: Vec<Result<RunResult>> = pool.install(|| {
        if jobs == 1 {
            // One run at a time on every core: the other workers spin between the pieces
            // of each iteration they are given (see `awake`); not with more threads than
            // cores, where spinning workers would take the cores from the working ones.
            let free = std::thread::available_parallelism().map_or(1, |n| n.get());
            let _awake = if cores > 1 && cores <= free {
                match super::awake::KeepAwake::start() {
                    Ok(a) => Some(a),
                    Err(e) => return vec![Err(e)],
                }
            } else {
                None
            };
            configs.iter().map(one).collect()
        } else {
            configs.par_iter().map(one).collect()
        }
    });
    pb.finish_and_clear();
    let mut runs = Vec::new();
    for r in results {
        runs.push(r?);
    }
    let command: String = std::env::args().collect::<Vec<_>>().join(" ");
    let title = super::sweep::title(set.label(), a.model);
    let settings = super::sweep::Settings {
        data: set.label().to_string(),
        data_dir: dir.display().to_string(),
        train_images: data.train.n,
        valid_images: data.valid.n,
        test_images: data.test.n,
        binarization: data.binarization,
        binarization_seed: data.binarization_seed,
        model: a.model,
        command,
        threads: if jobs == 1 { cores } else { jobs },
    };
    if let Some(i) = a.sweep.run_index {
        let p = super::sweep::write_run(&rdir, i, &settings, &runs[0])?;
        crate::output::print_written(&[p]);
        return Ok(());
    }
    let files = report::write_all(&rdir, &title, &settings, &runs)?;
    print!("{}", report::table(&runs));
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
