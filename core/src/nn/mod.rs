//! A fixed-size multilayer perceptron with exactly the derivatives the estimators need.

mod activation;
mod mlp;

pub use activation::Activation;
pub use mlp::{mlp_param_count, Mlp, MlpCache};
