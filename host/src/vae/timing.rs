//! Where a training iteration's wall time goes, seen from the thread that runs it: in the
//! matrix products ([`super::linalg::thread_gemm_seconds`]), in Adam's steps
//! ([`super::adam::thread_adam_seconds`]) and the rest (`relax vae --speed`).

use super::{adam, linalg};
use std::time::Instant;

/// Wall seconds of training iterations (a sum, or per iteration): whole, in the products (a
/// split product counts for the time its caller waits), in Adam's steps (the model's and the
/// control variates'); the rest is sampling, the element-wise passes, the per-example
/// estimator functions and copies.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeSplit {
    /// Whole iterations (batch preparation to the model's Adam step).
    pub total: f64,
    /// In the matrix products.
    pub products: f64,
    /// In Adam's steps.
    pub adam: f64,
}

impl TimeSplit {
    /// This sum divided over `iters` iterations.
    pub fn per_iteration(&self, iters: u64) -> TimeSplit {
        let n = iters.max(1) as f64;
        TimeSplit {
            total: self.total / n,
            products: self.products / n,
            adam: self.adam / n,
        }
    }
}

/// One iteration's readings at its start.
pub struct IterClock {
    t0: Instant,
    products: f64,
    adam: f64,
}

impl IterClock {
    /// Reads the clocks (call on the training thread).
    pub fn start() -> Self {
        IterClock {
            t0: Instant::now(),
            products: linalg::thread_gemm_seconds(),
            adam: adam::thread_adam_seconds(),
        }
    }

    /// Adds the iteration since [`IterClock::start`] to `sum` (on the same thread).
    pub fn stop(self, sum: &mut TimeSplit) {
        sum.total += self.t0.elapsed().as_secs_f64();
        sum.products += linalg::thread_gemm_seconds() - self.products;
        sum.adam += adam::thread_adam_seconds() - self.adam;
    }
}
