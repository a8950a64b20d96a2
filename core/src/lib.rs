#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
// Index loops mirror the formulas (g_i = ... s_i ...) and are kept for readability.
#![allow(clippy::needless_range_loop)]
//! placeholder crate docs

pub mod dist;
mod error;
pub mod estimator;
pub mod math;
pub mod nn;
pub mod optim;
pub mod rl;

pub(crate) use error::check_finite;
pub use error::Error;
