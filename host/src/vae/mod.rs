//! The discrete VAE experiments of section 6.2 (Table 1, Tables 3-4, Figure 4): sigmoid
//! belief networks with 200 Bernoulli latents per layer trained on binarized MNIST (ours or
//! Larochelle's), Fashion-MNIST or Omniglot by NVIL, MuProp, Concrete, REBAR, RELAX, RLOO or DisARM.
//!
//! | module | what |
//! |---|---|
//! | [`idx`], [`omniglot`], [`amat`], [`data`] | IDX, `chardata.mat` and `.amat` loaders, splits, binarization |
//! | [`linalg`], [`skinny`], [`skinny_t`], [`layers`], [`adam`] | batched matrix products (split over threads; those of a few rows without packing the weights), dense layers with FD-checked derivatives, Adam |
//! | [`model`], [`fastmath`] | the three architectures and the (relaxed) negative ELBO; vectorisable exp, sigmoid, softplus |
//! | [`estimators`] | each estimator's gradient for a minibatch, through the core |
//! | [`train`], [`checkpoint`] | training loop, IWAE evaluation, best-validation parameters; checkpoints and resume |
//! | [`report`] | CSV, JSON summary, Figure 4-style plot, the results table |
//! | [`timing`] | where a training iteration's time goes (`--speed`) |
//! | [`team`] | a spinning barrier with a deadline, for threads that each own part of the work |

// Index loops mirror the formulas (rows r, latents j) and batched layers take their shapes
// as arguments, as the core does.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

pub mod adam;
pub mod amat;
pub mod awake;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod dense;
pub mod estimators;
pub mod fastmath;
pub mod idx;
pub mod layers;
pub mod linalg;
pub mod model;
pub mod omniglot;
pub mod report;
pub mod rows;
pub mod skinny;
pub mod skinny_t;
pub mod sweep;
pub mod team;
pub mod timing;
pub mod train;

pub use cli::{run_cli, VaeArgs};
pub use data::{Binarization, Data, DataSet};
pub use estimators::{EstimatorConfig, EstimatorKind, VaeEstimator};
pub use model::{ModelKind, Vae};
pub use train::{neg_iwae, train, train_with, EpochRecord, RunResult, TrainConfig};

/// Latents per stochastic layer in the paper's models.
pub const LATENTS: usize = 200;
