//! The std host harness of the RELAX reproduction: the paper's experiments, benchmarks and
//! plots, behind the `relax` binary. The library exposes the runners so integration tests can
//! call them with reduced settings.
//!
//! | module | what |
//! |---|---|
//! | [`toy`] | the toy problem of section 6.1 (Figure 1) and the learned relaxations (Figure 3) |
//! | [`bench`] | cost per estimate of every estimator at `N = 1` and `N = 200` bits |
//! | [`gym`] | a bridge to gymnasium environments (a Python server per environment) |
//! | [`objective`] | the quadratic objective both use |
//! | [`plot`] | PNG line plots with named series, labelled axes and legends |
//! | [`output`] | results directories, CSV and JSON |
//! | [`stats`] | variance, log-variance, rolling means |
//! | [`datadir`] | where downloaded data sets live (`$RELAX_DATA`, the XDG data directory) |
//! | [`datasets`] | `relax data`: verified downloads of MNIST, binarized MNIST, Fashion-MNIST |
//! | [`seed`] | independent random streams from one seed |
//! | [`rl`] | policy gradients (Table 2, Figure 5): CartPole (native and through [`gym`]), Lunar Lander, Inverted Pendulum; the frozen-policy variance check |
//!
//! New experiments (`rl`, `vae`) add a module here and a subcommand in `main.rs`, and write
//! into `results/<experiment>/` with [`output`] and [`plot`].

// `unsafe` only in `simd` (calls to `#[target_feature]` functions after the CPU check).
#![deny(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod args;
pub mod bench;
pub mod compare;
pub mod datadir;
pub mod datasets;
pub mod estimators;
pub mod gym;
pub mod interrupt;
pub mod manifest;
pub mod objective;
pub mod output;
pub mod plot;
pub mod progress;
pub mod rl;
pub mod seed;
pub mod simd;
pub mod stats;
pub mod toy;
pub mod vae;

/// The harness's error: anything printable (core errors, I/O, plotting).
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// The harness's result.
pub type Result<T> = std::result::Result<T, Error>;

/// What every experiment's `run` gets from the global flags.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Seed of every random stream (`--seed`).
    pub seed: u64,
    /// Directory under which each experiment writes `<experiment>/` (`--out`).
    pub out: std::path::PathBuf,
}
