//! The policy's step size adapted to a KL target (the paper's 0.002).
//!
//! After each policy step the learner keeps a copy of the policy from before it; the next
//! batch's episodes measure `KL(before || after)` on their states, and the next step's size
//! is divided by 1.5 when that mean KL is above twice the target, multiplied by 1.5 when
//! below half of it, kept within `[lr / 100, 10 lr]`.

use crate::dist::Gaussian;
use crate::nn::Mlp;

/// The policy before its last step and the KL of that step summed over the batch so far.
#[derive(Debug, Clone)]
pub(super) struct KlTracker<const S: usize, const A: usize, const H: usize, const PM: usize> {
    /// The policy before its last step (for the KL of that step).
    prev_policy: Mlp<S, H, A, 2, PM>,
    prev_log_std: [f32; A],
    has_prev: bool,
    kl_sum: f32,
    kl_steps: u32,
}

impl<const S: usize, const A: usize, const H: usize, const PM: usize> KlTracker<S, A, H, PM> {
    /// No step taken yet (`policy` only fills the copy's storage).
    pub(super) fn new(policy: &Mlp<S, H, A, 2, PM>, log_std: [f32; A]) -> Self {
        Self {
            prev_policy: Clone::clone(policy),
            prev_log_std: log_std,
            has_prev: false,
            kl_sum: 0.0,
            kl_steps: 0,
        }
    }

    /// Whether episodes measure the KL (a step was taken and the step size adapts).
    pub(super) fn measuring(&self, kl_target: f32) -> bool {
        self.has_prev && kl_target > 0.0
    }

    /// `KL(previous policy || policy)` at one (normalised) observation `obs`, where the
    /// policy gives `mean` and has log-std `log_std`.
    pub(super) fn kl_at(&self, obs: &[f32; S], mean: &[f32; A], log_std: &[f32; A]) -> f32 {
        let before = self.prev_policy.forward(obs);
        Gaussian::<A>::kl(&before, &self.prev_log_std, mean, log_std)
    }

    /// Adds an episode's summed KL over its `steps` states to the batch (a non-finite sum
    /// is dropped).
    pub(super) fn add_episode(&mut self, kl_sum: f32, steps: u32) {
        if self.has_prev && kl_sum.is_finite() {
            self.kl_sum += kl_sum;
            self.kl_steps += steps;
        }
    }

    /// Forgets the batch's KL (a new batch starts).
    pub(super) fn clear_batch(&mut self) {
        self.kl_sum = 0.0;
        self.kl_steps = 0;
    }

    /// The batch's mean KL and the step size adapted from `step` to `kl_target` (within
    /// `[lr / 100, 10 lr]`), or `None` when the batch measured no KL.
    pub(super) fn adapt(&self, kl_target: f32, lr: f32, step: f32) -> Option<(f32, f32)> {
        if self.kl_steps == 0 {
            return None;
        }
        let kl = self.kl_sum / self.kl_steps as f32;
        let step = if kl > 2.0 * kl_target {
            (step / 1.5).max(lr / 100.0)
        } else if kl < 0.5 * kl_target {
            (step * 1.5).min(lr * 10.0)
        } else {
            step
        };
        Some((kl, step))
    }

    /// Keeps `policy` and `log_std` as the reference of the next step's KL.
    pub(super) fn remember(&mut self, policy: &Mlp<S, H, A, 2, PM>, log_std: &[f32; A]) {
        self.prev_policy
            .params_mut()
            .copy_from_slice(policy.params());
        self.prev_log_std = *log_std;
        self.has_prev = true;
    }
}
