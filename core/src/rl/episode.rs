//! The episode loop of the discrete learners (A2C, REINFORCE, RELAX), written once.
//!
//! Every discrete learner plays an episode the same way: reset, and per step the policy's
//! forward pass, the finiteness checks, an action drawn from the logits, the environment's
//! step, the score's backward pass into the eligibility trace, the entropy bonus's gradient
//! and the stop test. Only two things differ: how the action is drawn ([`ActionSampler`])
//! and what the learner adds to the gradient from the step (the `learn` closure of
//! [`run_episode`], given a [`Step`]). The driver keeps the learners' order of random draws
//! and of floating-point operations, so their results are unchanged bit for bit.

use super::{
    check_obs, check_reward, entropy_grad, sample_action, Environment, EpisodeReport, PgConfig,
    Transition,
};
use crate::dist::{Categorical, Relaxed};
use crate::estimator::Draw;
use crate::math::dot;
use crate::nn::{Mlp, MlpCache};
use crate::Error;
use rand_core::Rng;

/// How a learner draws its action from the policy's logits.
pub(crate) trait ActionSampler<const A: usize> {
    /// What the learner keeps of the draw besides the action.
    type Draw;

    /// Draws an action: its index, its one-hot vector `b`, and the draw.
    fn sample<R: Rng + ?Sized>(
        logits: &[f32; A],
        rng: &mut R,
    ) -> Result<(usize, [f32; A], Self::Draw), Error>;
}

/// Gumbel-max on fresh uniforms (A2C, REINFORCE): the action and nothing else.
pub(crate) struct GumbelMax;

impl<const A: usize> ActionSampler<A> for GumbelMax {
    type Draw = ();

    fn sample<R: Rng + ?Sized>(
        logits: &[f32; A],
        rng: &mut R,
    ) -> Result<(usize, [f32; A], ()), Error> {
        let (action, b) = sample_action(logits, rng);
        Ok((action, b, ()))
    }
}

/// RELAX's draw: `z`, the action `b = H(z)` and the conditional `z~ | b` (fresh noise).
pub(crate) struct RelaxDraw;

impl<const A: usize> ActionSampler<A> for RelaxDraw {
    type Draw = Draw<A>;

    fn sample<R: Rng + ?Sized>(
        logits: &[f32; A],
        rng: &mut R,
    ) -> Result<(usize, [f32; A], Draw<A>), Error> {
        let draw = Draw::new::<Categorical<A>, R>(logits, rng)?;
        Ok((Categorical::<A>::argmax(&draw.b), draw.b, draw))
    }
}

/// One step of an episode, as the learner's `learn` closure sees it (after the
/// environment's step, the reward checked, the trace updated).
pub(crate) struct Step<'a, const S: usize, const A: usize, const H: usize, const PP: usize, X> {
    /// The policy (for further backward passes through `cache`).
    pub policy: &'a Mlp<S, H, A, 2, PP>,
    /// The observation the action was drawn at.
    pub obs: &'a [f32; S],
    /// The policy's forward pass at `obs`.
    pub cache: &'a MlpCache<H, 2>,
    /// The policy's logits at `obs`.
    pub logits: &'a [f32; A],
    /// The sampler's draw.
    pub draw: &'a X,
    /// The step's reward.
    pub reward: f32,
    /// `dlog pi(a_t|s_t)/dtheta`.
    pub score_grad: &'a [f32; PP],
    /// `sum_{t'<=t} gamma^{t-t'} dlog pi(a_t'|s_t')/dtheta`: the returns enter the gradient
    /// as `sum_t R_t x_t = sum_k r_k trace_k` (no episode storage).
    pub trace: &'a [f32; PP],
    /// The episode's policy gradient, accumulated by the learner.
    pub g: &'a mut [f32; PP],
}

/// `trace = gamma trace + x`, the discounted eligibility trace of `x`.
#[inline]
pub(crate) fn accumulate_trace<const N: usize>(trace: &mut [f32; N], gamma: f32, x: &[f32; N]) {
    for k in 0..N {
        trace[k] = gamma * trace[k] + x[k];
    }
}

/// The episode ends after `tr`: terminated, truncated, or `steps` reached `max_steps`.
#[inline]
pub(crate) fn episode_over<const S: usize>(tr: &Transition<S>, steps: u32, max_steps: u32) -> bool {
    tr.terminated || tr.truncated || steps >= max_steps
}

/// Plays one episode of `policy` in `env`, drawing actions with `Smp`; per step calls
/// `learn` (which adds the step's share of the policy gradient to `g`), then adds the
/// entropy bonus's gradient to `g_ent`. Checks every observation, logit vector and reward,
/// and `g` at the end; returns the episode's return, length and `|g|^2`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_episode<
    const S: usize,
    const A: usize,
    const H: usize,
    const PP: usize,
    E,
    R,
    Smp,
    F,
>(
    env: &mut E,
    rng: &mut R,
    policy: &Mlp<S, H, A, 2, PP>,
    config: &PgConfig,
    _sampler: Smp,
    g: &mut [f32; PP],
    g_ent: &mut [f32; PP],
    mut learn: F,
) -> Result<EpisodeReport, Error>
where
    E: Environment<S>,
    R: Rng,
    Smp: ActionSampler<A>,
    F: FnMut(Step<'_, S, A, H, PP, Smp::Draw>) -> Result<(), Error>,
{
    let mut obs = env.reset(rng)?;
    check_obs(&obs)?;
    let mut trace = [0.0f32; PP];
    let mut cache = MlpCache::<H, 2>::default();
    let mut ret = 0.0;
    let mut steps = 0u32;
    loop {
        let logits = policy.forward_cached(&obs, &mut cache);
        crate::check_finite(&logits, Error::NonFiniteGradient)?;
        let (action, b, draw) = Smp::sample(&logits, rng)?;
        let tr = env.step(action)?;
        check_reward(tr.reward)?;
        let score = Categorical::<A>::score(&logits, &b);
        let mut score_grad = [0.0; PP];
        policy.backward_weights(&obs, &cache, &score, &mut score_grad);
        accumulate_trace(&mut trace, config.gamma, &score_grad);
        learn(Step {
            policy,
            obs: &obs,
            cache: &cache,
            logits: &logits,
            draw: &draw,
            reward: tr.reward,
            score_grad: &score_grad,
            trace: &trace,
            g: &mut *g,
        })?;
        let eg = entropy_grad(&logits);
        policy.backward_weights(&obs, &cache, &eg, g_ent);
        ret += tr.reward;
        steps += 1;
        obs = tr.obs;
        check_obs(&obs)?;
        if episode_over(&tr, steps, config.max_steps) {
            break;
        }
    }
    crate::check_finite(g, Error::NonFiniteGradient)?;
    Ok(EpisodeReport {
        ret,
        steps,
        grad_sq_norm: dot(g, g),
    })
}
