#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
//! placeholder crate docs

mod error;
pub mod dist;
pub mod math;
pub mod nn;
pub mod optim;
pub mod rl;

pub use error::Error;
pub(crate) use error::check_finite;
