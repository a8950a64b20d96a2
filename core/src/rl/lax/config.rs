//! The hyperparameters of the LAX learner.

use crate::Error;

/// Hyperparameters of the [`LaxLearner`](super::LaxLearner).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LaxConfig {
    /// Adam step size of the policy (mean network and log-std).
    pub lr: f32,
    /// Adam step size of the value network `V`.
    pub value_lr: f32,
    /// Adam step size of the control variate `c^`.
    pub cv_lr: f32,
    /// Discount factor in (0, 1].
    pub gamma: f32,
    /// Weight of the entropy bonus (0 in the paper's continuous runs).
    pub entropy: f32,
    /// The policy takes one step per batch of at least this many steps (whole episodes).
    pub batch_steps: u32,
    /// Episodes longer than this are cut (a guard for environments without a time limit).
    pub max_steps: u32,
    /// `true`: LAX, `c = V + c^`. `false`: A2C, `c = V` (no variance pass).
    pub control_variate: bool,
    /// Initial log-std of every action component.
    pub init_log_std: f32,
    /// Target mean `KL(old || new)` of a policy step (the paper's 0.002); 0 keeps the step
    /// size fixed at `lr`. After each step the KL is measured on the next batch's states:
    /// above twice the target the policy's step size is divided by 1.5, below half of it
    /// multiplied by 1.5, kept within `[lr / 100, 10 lr]`.
    pub kl_target: f32,
    /// Feed the networks running-normalised observations (`clamp((o - mean) / std, -5, 5)`,
    /// the statistics of every observation seen so far, frozen within an episode so that
    /// its replay sees the same inputs; identity before the first episode ends).
    pub normalize_obs: bool,
    /// Adam steps of `V` per episode (at least 1). Each step after the first replays the
    /// episode to recompute the regression gradient with the updated network (the paper
    /// took 25 steps per batch on the stored batch; this learner stores no batch).
    pub value_steps: u32,
    /// LAX: Adam steps of `c^` per episode on the variance loss (at least 1; the paper's
    /// `cv_num`, per batch there, in {1, 5, 25}). Each step after the first replays the
    /// episode twice: once for its gradient `g` under the updated `c^`, once for the
    /// variance gradient. The policy's batch gets the `g` of the first pass only, made
    /// before `c^` saw the episode, so that the estimate stays unbiased.
    pub cv_steps: u32,
    /// LAX: `true`, `c^` takes one Adam step per policy update, on the mean over the batch's
    /// episodes of their variance-loss gradients (the paper's per-batch step); `false`, a
    /// step after every episode ([`LaxConfig::cv_steps`] of them). One episode's variance
    /// gradient is noisy, and Adam moves every parameter by about the step size whatever
    /// the noise, so per-episode steps drift `c^` away from zero where a mean over the
    /// batch does not. Needs `cv_steps = 1`.
    pub cv_per_batch: bool,
    /// The variance loss of an episode with gradient `g` and `T` steps: `true`, `|g / T|^2`
    /// (the reference code's); `false`, `|g / B|^2` with `B = batch_steps`: the squared
    /// share of the episode in the policy's step, whose variance is the sum of these over
    /// the batch. The per-step loss weighs a 10-step episode 10,000 times more than a
    /// 1000-step one, so `c^` learns to cancel the short episodes' noise at the expense of
    /// the long ones, which dominate the step's variance (measured on Inverted Pendulum by
    /// `relax rl inverted-pendulum-cv`).
    pub cv_loss_per_step: bool,
    /// `false` freezes the policy: batches are counted and `V` and `c^` learn, but the
    /// policy never steps (to study the control variate at a fixed policy).
    pub train_policy: bool,
}

impl LaxConfig {
    /// The paper's continuous setup: gamma 0.99, no entropy bonus, batches of at least 2500
    /// steps, initial log-std 0, Adam (0.9, 0.999) everywhere, the policy's step size
    /// adapted to a KL target of 0.002 starting from `lr`, running-normalised observations.
    pub const fn paper(lr: f32, value_lr: f32, cv_lr: f32, control_variate: bool) -> Self {
        Self {
            lr,
            value_lr,
            cv_lr,
            gamma: 0.99,
            entropy: 0.0,
            batch_steps: 2500,
            max_steps: 100_000,
            control_variate,
            init_log_std: 0.0,
            kl_target: 0.002,
            normalize_obs: true,
            value_steps: 1,
            cv_steps: 1,
            cv_per_batch: true,
            cv_loss_per_step: false,
            train_policy: true,
        }
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        let pos = |x: f32| x.is_finite() && x > 0.0;
        let ok = pos(self.lr)
            && pos(self.value_lr)
            && pos(self.cv_lr)
            && self.gamma > 0.0
            && self.gamma <= 1.0
            && self.entropy.is_finite()
            && self.entropy >= 0.0
            && self.batch_steps > 0
            && self.max_steps > 0
            && self.init_log_std.is_finite()
            && self.kl_target.is_finite()
            && self.kl_target >= 0.0
            && self.value_steps >= 1
            && self.cv_steps >= 1
            && !(self.cv_per_batch && self.cv_steps > 1);
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter)
        }
    }
}
