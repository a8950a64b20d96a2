//! Optimizers with fixed-size state. Both refuse a non-finite gradient and then leave the
//! parameters and their own state unchanged.

mod adam;
mod sgd;

pub(crate) use adam::AdamStep;
pub use adam::{Adam, AdamConfig};
pub use sgd::Sgd;
