//! REINFORCE with a moving-average baseline (one episode per update).

use super::{
    check_obs, check_reward, entropy_grad, sample_action, Environment, EpisodeReport, Learner,
    PgConfig,
};
use crate::dist::{Categorical, Relaxed};
use crate::estimator::MovingAverage;
use crate::math::dot;
use crate::nn::{Activation, Mlp, MlpCache};
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
        let mut obs = env.reset(rng)?;
        check_obs(&obs)?;
        let mut trace = [0.0f32; PP];
        let mut scalar_trace = 0.0f32;
        let mut sum_returns = 0.0f32;
        let mut cache = MlpCache::<H, 2>::default();
        let (mut ret, mut steps) = (0.0, 0u32);
        loop {
            let logits = self.policy.forward_cached(&obs, &mut cache);
            crate::check_finite(&logits, Error::NonFiniteGradient)?;
            let (action, b) = sample_action(&logits, rng);
            let tr = env.step(action)?;
            check_reward(tr.reward)?;
            let score = Categorical::<A>::score(&logits, &b);
            let mut tmp = [0.0; PP];
            self.policy.backward(&obs, &cache, &score, &mut tmp);
            for k in 0..PP {
                trace[k] = gamma * trace[k] + tmp[k];
                g[k] += tr.reward * trace[k] - base * tmp[k];
            }
            scalar_trace = gamma * scalar_trace + 1.0;
            sum_returns += tr.reward * scalar_trace;
            let eg = entropy_grad(&logits);
            self.policy.backward(&obs, &cache, &eg, g_ent);
            ret += tr.reward;
            steps += 1;
            obs = tr.obs;
            check_obs(&obs)?;
            if tr.terminated || tr.truncated || steps >= self.config.max_steps {
                break;
            }
        }
        crate::check_finite(g, Error::NonFiniteGradient)?;
        let report = EpisodeReport {
            ret,
            steps,
            grad_sq_norm: dot(g, g),
        };
        Ok((report, sum_returns / steps as f32))
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
