//! LAX for continuous (Gaussian) actions, the paper's section 6.3: a Gaussian policy, and the
//! control variate `c(a, s) = V(s) + c^(a, s)` with `V` trained by regression and `c^` on the
//! variance of the policy gradient. With the control variate switched off the same learner
//! is the A2C baseline (`c = V(s)`), so the two differ in nothing else.
//!
//! By concern: [`ContinuousEnvironment`] (`env.rs`), [`LaxConfig`] (`config.rs`), the
//! running observation statistics that normalise the networks' inputs (`obs_stats.rs`), the
//! policy's KL-adapted step size (`kl.rs`), and [`LaxLearner`] with its batching, value
//! regression, LAX gradient and variance-pass replay (`learner.rs`).

mod config;
mod env;
mod kl;
mod learner;
mod obs_stats;

pub use config::LaxConfig;
pub use env::ContinuousEnvironment;
pub use learner::{LaxLearner, LaxReport, PendulumLax};

#[cfg(test)]
mod tests;
