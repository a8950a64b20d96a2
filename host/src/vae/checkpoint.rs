//! Checkpoints of a training run: everything the loop carries from one iteration to the next
//! (parameters, both Adams' moments, the control variates' parameters and running centre,
//! the epoch's data order, the random generator, the sums of the epoch so far, the curves
//! and the best-validation parameters), so that `relax vae --resume` continues a run with
//! exactly the numbers of an uninterrupted one.
//!
//! One file per run, `checkpoint-<estimator>.bin`, written atomically (a temporary file, then
//! rename: [`crate::output::write_atomic`]), so an interruption never leaves half of one: the
//! 8-byte magic `RELAXVAE`, the length of a JSON header (little-endian u64), the header
//! (settings, data identity, counters, generator, curves; `f64`s as JSON round-trip exactly),
//! then the `f32` vectors and the data order (`u32`), little-endian.

use super::estimators::VaeEstimator;
use super::layers::AdamVec;
use super::train::{EpochRecord, TrainConfig};
use crate::Result;
use rand_xoshiro::Xoshiro128PlusPlus;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RELAXVAE";
const FORMAT: &str = "relax-vae-checkpoint-1";

/// How often to write a checkpoint: every this many training iterations, or epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Training iterations (pre-training not counted).
    Iters(u64),
    /// Epochs.
    Epochs(u64),
}

impl std::str::FromStr for Every {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?}: a positive count, e.g. 5000 (iterations) or 2epochs");
        let (num, epochs) = match s.strip_suffix("epochs").or_else(|| s.strip_suffix("epoch")) {
            Some(n) => (n, true),
            None => (s.strip_suffix("iters").unwrap_or(s), false),
        };
        let n: u64 = num.trim().parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(if epochs {
            Every::Epochs(n)
        } else {
            Every::Iters(n)
        })
    }
}

/// What a run does about checkpoints.
#[derive(Debug, Clone, Default)]
pub struct Checkpointing {
    /// Where to write them (None: never).
    pub path: Option<PathBuf>,
    /// How often (None: only when the run ends or is interrupted).
    pub every: Option<Every>,
    /// Continue from this checkpoint.
    pub resume: Option<PathBuf>,
    /// Stop after this many training iterations in all, with a checkpoint (tests: an
    /// interruption at a chosen point).
    pub stop_after: Option<u64>,
    /// What identifies the data (compared on resume, like the settings).
    pub data: serde_json::Value,
}

impl Checkpointing {
    /// Whether a checkpoint is due after `done` iterations in all, `per_epoch` an epoch.
    pub fn due(&self, done: u64, per_epoch: u64) -> bool {
        self.path.is_some()
            && match self.every {
                Some(Every::Iters(n)) => done.is_multiple_of(n),
                Some(Every::Epochs(n)) => done.is_multiple_of(n * per_epoch),
                None => false,
            }
    }
}

/// The error of a run stopped by [`Checkpointing::stop_after`].
pub const STOPPED: &str = "stopped at --stop-after";

/// The loop's position and what it carries besides the parameters and optimizers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    /// Whether the current epoch's order is drawn.
    pub shuffled: bool,
    /// Iterations done in the current epoch.
    pub it_done: usize,
    /// Training iterations done in all.
    pub iters_total: u64,
    /// The run's generator (batches, binarization, samples).
    pub rng: Xoshiro128PlusPlus,
    /// Records of the finished epochs.
    pub records: Vec<EpochRecord>,
    /// Best validation bound so far (None: no epoch yet).
    pub best_valid: Option<f64>,
    /// Its epoch.
    pub best_epoch: usize,
    /// Training seconds of the finished epochs.
    pub train_seconds: f64,
    /// Training seconds of the current epoch so far.
    pub epoch_seconds: f64,
    /// Seed of the last validation's generator.
    pub eval_rng_seed: u64,
    /// Sums over the current epoch: -ELBO and variance loss.
    pub sum_f: f64,
    /// See `sum_f`.
    pub sum_v: f64,
    /// The data order (not in the header).
    #[serde(skip)]
    pub order: Vec<usize>,
    /// The best-validation parameters (not in the header).
    #[serde(skip)]
    pub best_params: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    config: serde_json::Value,
    data: serde_json::Value,
    progress: Progress,
    adam_t: i32,
    cv_adam_t: i32,
    centre: Option<f32>,
    /// Lengths of the f32 vectors that follow: theta, Adam m, v, best parameters, phi, its
    /// Adam m, v; then `order` u32s.
    lengths: [usize; 7],
    order: usize,
    /// Column blocks of the weight matrices (`--threads`; older checkpoints: 1).
    #[serde(default = "one_part")]
    parts: usize,
}

fn one_part() -> usize {
    1
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Loaded {
    /// The loop's state.
    pub progress: Progress,
    /// Model parameters.
    pub theta: Vec<f32>,
    /// The model's Adam: m, v, t.
    pub adam: (Vec<f32>, Vec<f32>, i32),
    /// Control-variate parameters.
    pub phi: Vec<f32>,
    /// Their Adam.
    pub cv_adam: (Vec<f32>, Vec<f32>, i32),
    /// The running centre.
    pub centre: Option<f32>,
}

/// Writes the state to `path`, atomically.
pub fn save<const N: usize>(
    path: &Path,
    cfg: &TrainConfig,
    data: &serde_json::Value,
    p: &Progress,
    theta: &[f32],
    adam: &AdamVec,
    est: &VaeEstimator<N>,
) -> Result<()> {
    let (am, av, at) = adam.state();
    let (phi, cv_adam, centre) = est.state();
    let (cm, cv, ct) = cv_adam.state();
    let vecs: [&[f32]; 7] = [theta, am, av, &p.best_params, phi, cm, cv];
    let header = Header {
        format: FORMAT.into(),
        config: crate::output::as_stored(cfg)?,
        data: data.clone(),
        progress: p.clone(),
        adam_t: at,
        cv_adam_t: ct,
        centre,
        lengths: vecs.map(<[f32]>::len),
        order: p.order.len(),
        parts: adam.parts(),
    };
    let head = serde_json::to_vec(&header)?;
    let floats: usize = header.lengths.iter().sum();
    let mut bytes = Vec::with_capacity(16 + head.len() + 4 * (floats + p.order.len()));
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(head.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&head);
    for v in vecs {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    for &i in &p.order {
        bytes.extend_from_slice(&(i as u32).to_le_bytes());
    }
    crate::output::write_atomic(path, &bytes)?;
    Ok(())
}

/// Reads the checkpoint at `path`, refusing one made with other settings than `cfg` (all but
/// `epochs`: a run may be continued for longer), on other data, or with its weights in
/// other than `parts` column blocks (another `--threads`), and naming what differs.
pub fn load(
    path: &Path,
    cfg: &TrainConfig,
    data: &serde_json::Value,
    parts: usize,
) -> Result<Loaded> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let bad = |what: &str| format!("{shown}: not a VAE checkpoint ({what})");
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("no magic").into());
    }
    let hl = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
    let head = bytes
        .get(16..16 + hl.min(bytes.len()))
        .ok_or_else(|| bad("short"))?;
    let h: Header = serde_json::from_slice(head).map_err(|e| bad(&e.to_string()))?;
    if h.format != FORMAT {
        return Err(bad(&format!("format {}", h.format)).into());
    }
    let mut differ =
        crate::output::config_diff(&h.config, &crate::output::as_stored(cfg)?, &["epochs"]);
    for d in crate::output::config_diff(&h.data, data, &[]) {
        differ.push(format!("data {d}"));
    }
    if !differ.is_empty() {
        return Err(format!(
            "{shown}: a checkpoint of another run ({}); resume with that run's flags",
            differ.join("; ")
        )
        .into());
    }
    if h.parts != parts {
        return Err(format!(
            "{shown}: written by a run with --threads {}, which stores the weights in \
             that many column blocks and whose numbers depend on it; resume with --threads \
             {} (this run has {parts})",
            h.parts, h.parts
        )
        .into());
    }
    if h.progress.records.len() > cfg.epochs {
        return Err(format!(
            "{shown}: {} epochs done already, more than --epochs {}",
            h.progress.records.len(),
            cfg.epochs
        )
        .into());
    }
    let floats: usize = h.lengths.iter().sum();
    let body = &bytes[16 + hl..];
    if body.len() != 4 * (floats + h.order) {
        return Err(bad("wrong length").into());
    }
    let mut words = body
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")));
    let mut take = |n: usize| -> Vec<f32> { (&mut words).take(n).map(f32::from_bits).collect() };
    let [theta, am, av, best, phi, cm, cv] = h.lengths.map(&mut take);
    let mut progress = h.progress;
    progress.best_params = best;
    progress.order = words.map(|w| w as usize).collect();
    Ok(Loaded {
        progress,
        theta,
        adam: (am, av, h.adam_t),
        phi,
        cv_adam: (cm, cv, h.cv_adam_t),
        centre: h.centre,
    })
}
