//! Reinforcement learning: the CartPole environment, small policies and the paper's
//! policy-gradient learners (RELAX, A2C, REINFORCE; LAX for Gaussian actions in [`lax`]), all
//! fixed-size and allocation-free.
//!
//! Every learner does one update per episode (discounted returns, no bootstrap, entropy
//! bonus), as in the paper's discrete experiments. None of them stores the episode: returns
//! enter through eligibility traces (`sum_t R_t a_t = sum_k r_k sum_{t<=k} gamma^{k-t} a_t`),
//! and RELAX's variance pass replays the episode from the saved generator state. The RAM a
//! learner needs is its own fixed-size struct plus a stack frame, whatever the episode length.

pub mod a2c;
pub mod cartpole;
mod episode;
pub mod lax;
pub mod reinforce;
pub mod relax;
pub mod window;

pub use a2c::A2c;
pub use lax::{ContinuousEnvironment, LaxConfig, LaxLearner};
pub use reinforce::ReinforceLearner;
pub use relax::RelaxLearner;
pub use window::ReturnWindow;

use crate::dist::{Categorical, Relaxed};
use crate::nn::mlp_param_count;
use crate::Error;
use rand_core::Rng;

/// One environment step as the learners see it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition<const S: usize> {
    /// The next observation.
    pub obs: [f32; S],
    /// The reward of this step.
    pub reward: f32,
    /// The episode ended (failure or goal).
    pub terminated: bool,
    /// The episode was cut by a time limit.
    pub truncated: bool,
}

/// An episodic environment with `S`-dimensional observations and discrete actions.
///
/// `reset` must draw all of the episode's randomness from `rng`, and `step` must be
/// deterministic: RELAX replays an episode from a copy of the generator.
pub trait Environment<const S: usize> {
    /// Starts an episode; returns the first observation.
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; S], Error>;
    /// Applies `action`.
    fn step(&mut self, action: usize) -> Result<Transition<S>, Error>;
}

impl Environment<4> for cartpole::CartPole {
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; 4], Error> {
        Ok(cartpole::CartPole::reset(self, rng))
    }

    fn step(&mut self, action: usize) -> Result<Transition<4>, Error> {
        let s = cartpole::CartPole::step(self, action)?;
        Ok(Transition {
            obs: s.obs,
            reward: s.reward,
            terminated: s.terminated,
            truncated: s.truncated,
        })
    }
}

/// Hyperparameters shared by the policy-gradient learners.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PgConfig {
    /// Adam step size of the policy.
    pub lr: f32,
    /// The control variate's (RELAX) or value network's (A2C) step size is `lr * cv_lr_scale`.
    pub cv_lr_scale: f32,
    /// Discount factor in (0, 1].
    pub gamma: f32,
    /// Weight of the entropy bonus.
    pub entropy: f32,
    /// Adam's second-moment decay.
    pub beta2: f32,
    /// Episodes longer than this are cut (a guard for environments without a time limit).
    pub max_steps: u32,
}

impl PgConfig {
    /// The paper's discrete setup: gamma 0.99, entropy 0.01, Adam beta2 0.99999.
    pub const fn paper(lr: f32, cv_lr_scale: f32) -> Self {
        Self {
            lr,
            cv_lr_scale,
            gamma: 0.99,
            entropy: 0.01,
            beta2: 0.99999,
            max_steps: 100_000,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let ok = self.lr.is_finite()
            && self.lr > 0.0
            && self.cv_lr_scale.is_finite()
            && self.cv_lr_scale > 0.0
            && self.gamma > 0.0
            && self.gamma <= 1.0
            && self.entropy.is_finite()
            && self.entropy >= 0.0
            && (0.0..1.0).contains(&self.beta2)
            && self.max_steps > 0;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter)
        }
    }

    pub(crate) fn adam(&self, lr: f32) -> crate::optim::AdamConfig {
        crate::optim::AdamConfig {
            lr,
            beta1: 0.9,
            beta2: self.beta2,
            eps: 1e-8,
        }
    }
}

/// What one episode gave.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EpisodeReport {
    /// Undiscounted sum of rewards.
    pub ret: f32,
    /// Number of steps.
    pub steps: u32,
    /// Squared norm of the episode's policy gradient (without the entropy term).
    pub grad_sq_norm: f32,
}

/// A policy-gradient learner over `S`-dimensional observations with `PP` policy parameters.
pub trait Learner<const S: usize, const PP: usize> {
    /// Runs one episode and updates the policy (and its control variate or value network).
    fn train_episode<E: Environment<S>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<EpisodeReport, Error>;

    /// Runs one episode and writes its policy-gradient estimate (ascent direction of the
    /// expected return, without the entropy term) into `grad`, changing nothing.
    fn episode_gradient<E: Environment<S>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        grad: &mut [f32; PP],
    ) -> Result<EpisodeReport, Error>;

    /// The policy's parameters.
    fn policy_params(&self) -> &[f32; PP];
}

/// Parameters of the paper's policy `S - 10 - 10 - A` (ReLU).
pub const fn policy_param_count(obs: usize, actions: usize, hidden: usize) -> usize {
    mlp_param_count(obs, hidden, actions, 2)
}

/// `dH/dl` for a categorical with logits `l`: `-p_j (log p_j + H)`.
pub(crate) fn entropy_grad<const A: usize>(logits: &[f32; A]) -> [f32; A] {
    let lp = crate::math::log_softmax(logits);
    let p: [f32; A] = core::array::from_fn(|i| libm::expf(lp[i]));
    let h: f32 = -(0..A).map(|i| p[i] * lp[i]).sum::<f32>();
    core::array::from_fn(|j| -p[j] * (lp[j] + h))
}

/// Samples an action from the policy's logits (Gumbel-max on fresh uniforms).
pub(crate) fn sample_action<const A: usize, R: Rng + ?Sized>(
    logits: &[f32; A],
    rng: &mut R,
) -> (usize, [f32; A]) {
    let b = Categorical::<A>::harden(&Categorical::<A>::sample_z(logits, rng));
    (Categorical::<A>::argmax(&b), b)
}

pub(crate) fn check_obs<const S: usize>(obs: &[f32; S]) -> Result<(), Error> {
    crate::check_finite(obs, Error::Environment)
}

pub(crate) fn check_reward(r: f32) -> Result<(), Error> {
    if r.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFiniteObjective)
    }
}

#[cfg(test)]
mod tests;
