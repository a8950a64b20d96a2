//! REINFORCE with a moving-average baseline (one episode per update).

use super::episode::{run_episode, GumbelMax};
use super::{Environment, EpisodeReport, Learner, PgConfig};
use crate::estimator::MovingAverage;
use crate::nn::{Activation, Mlp};
use crate::optim::Adam;
use crate::Error;
use rand_core::Rng;

/// REINFORCE: `g = sum_t (R_t - b) dlog pi(a_t|s_t)/dtheta`, with `b` a moving average
/// (decay 0.9) of the per-step returns of the previous episodes.
#[derive(Debug, Clone)]
pub struct ReinforceLearner<const S: usize, const A: usize, const H: usize, const PP: usize> {
    pub(crate) policy: Mlp<S, H, A, 2, PP>,
    adam: Adam<PP>,
    baseline: MovingAverage,
    config: PgConfig,
}

/// REINFORCE on CartPole with the paper's 4-10-10-2 policy.
pub type CartPoleReinforce =
    ReinforceLearner<4, 2, 10, { crate::nn::mlp_param_count(4, 10, 2, 2) }>;

impl<const S: usize, const A: usize, const H: usize, const PP: usize>
    ReinforceLearner<S, A, H, PP>
{
    /// A learner with the policy initialised from `rng`.
    pub fn new<R: Rng + ?Sized>(config: PgConfig, rng: &mut R) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            policy: Mlp::new_random(Activation::Relu, 0.1, rng),
            adam: Adam::new(config.adam(config.lr))?,
            baseline: MovingAverage::new(0.9)?,
            config,
        })
    }

    /// Returns the gradient, the entropy gradient, and the mean per-step return.
    fn run<E: Environment<S>, R: Rng>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        g: &mut [f32; PP],
        g_ent: &mut [f32; PP],
    ) -> Result<(EpisodeReport, f32), Error> {
        let gamma = self.config.gamma;
        let base = self.baseline.value();
        let mut scalar_trace = 0.0f32;
        let mut sum_returns = 0.0f32;
        let report = run_episode(
            env,
            rng,
            &self.policy,
            &self.config,
            GumbelMax,
            g,
            g_ent,
            |step| {
                for k in 0..PP {
                    step.g[k] += step.reward * step.trace[k] - base * step.score_grad[k];
                }
                scalar_trace = gamma * scalar_trace + 1.0;
                sum_returns += step.reward * scalar_trace;
                Ok(())
            },
        )?;
        Ok((report, sum_returns / report.steps as f32))
    }
}

impl<const S: usize, const A: usize, const H: usize, const PP: usize> Learner<S, PP>
    for ReinforceLearner<S, A, H, PP>
{
    fn train_episode<E: Environment<S>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<EpisodeReport, Error> {
        let (mut g, mut g_ent) = ([0.0; PP], [0.0; PP]);
        let (report, mean_return) = self.run(env, rng, &mut g, &mut g_ent)?;
        let step: [f32; PP] = core::array::from_fn(|k| -(g[k] + self.config.entropy * g_ent[k]));
        self.adam.step(self.policy.params_mut(), &step)?;
        self.baseline.update(mean_return);
        Ok(report)
    }

    fn episode_gradient<E: Environment<S>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        grad: &mut [f32; PP],
    ) -> Result<EpisodeReport, Error> {
        *grad = [0.0; PP];
        let mut g_ent = [0.0; PP];
        Ok(self.run(env, rng, grad, &mut g_ent)?.0)
    }

    fn policy_params(&self) -> &[f32; PP] {
        self.policy.params()
    }
}
