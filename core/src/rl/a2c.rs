//! Advantage actor-critic with a learned state-value baseline (the paper's A2C baseline,
//! one episode per update, Monte Carlo returns).

use super::episode::{accumulate_trace, run_episode, GumbelMax};
use super::{Environment, EpisodeReport, Learner, PgConfig};
use crate::nn::{Activation, Mlp, MlpCache};
use crate::optim::Adam;
use crate::Error;
use rand_core::Rng;

/// A2C: `g = sum_t (R_t - V(s_t)) dlog pi(a_t|s_t)/dtheta`, with `V` trained by regression
/// (`1/2 sum_t (V(s_t) - R_t)^2`, Adam with step `lr * cv_lr_scale`).
///
/// `PV` is the value network's parameter count (`S - H - H - 1`).
#[derive(Debug, Clone)]
pub struct A2c<const S: usize, const A: usize, const H: usize, const PP: usize, const PV: usize> {
    pub(crate) policy: Mlp<S, H, A, 2, PP>,
    adam: Adam<PP>,
    value: Mlp<S, H, 1, 2, PV>,
    value_adam: Adam<PV>,
    config: PgConfig,
}

/// The paper's CartPole A2C: policy 4-10-10-2, value 4-10-10-1.
pub type CartPoleA2c = A2c<
    4,
    2,
    10,
    { crate::nn::mlp_param_count(4, 10, 2, 2) },
    { crate::nn::mlp_param_count(4, 10, 1, 2) },
>;

impl<const S: usize, const A: usize, const H: usize, const PP: usize, const PV: usize>
    A2c<S, A, H, PP, PV>
{
    /// A learner with networks initialised from `rng`.
    pub fn new<R: Rng + ?Sized>(config: PgConfig, rng: &mut R) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            policy: Mlp::new_random(Activation::Relu, 0.1, rng),
            adam: Adam::new(config.adam(config.lr))?,
            value: Mlp::new_random(Activation::Relu, 1.0, rng),
            value_adam: Adam::new(config.adam(config.lr * config.cv_lr_scale))?,
            config,
        })
    }

    /// The value network.
    pub fn value(&self) -> &Mlp<S, H, 1, 2, PV> {
        &self.value
    }

    fn run<E: Environment<S>, R: Rng>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        g: &mut [f32; PP],
        g_ent: &mut [f32; PP],
        g_value: &mut [f32; PV],
    ) -> Result<EpisodeReport, Error> {
        let gamma = self.config.gamma;
        let mut vtrace = [0.0f32; PV];
        let mut vcache = MlpCache::<H, 2>::default();
        let value = &self.value;
        let report = run_episode(
            env,
            rng,
            &self.policy,
            &self.config,
            GumbelMax,
            g,
            g_ent,
            |step| {
                let v = value.forward_cached(step.obs, &mut vcache)[0];
                let mut vtmp = [0.0; PV];
                value.backward(step.obs, &vcache, &[1.0], &mut vtmp);
                for k in 0..PP {
                    step.g[k] += step.reward * step.trace[k] - v * step.score_grad[k];
                }
                // d/dw 1/2 (V - R_t)^2 summed: V dV/dw now, -R_t dV/dw through the trace.
                accumulate_trace(&mut vtrace, gamma, &vtmp);
                for k in 0..PV {
                    g_value[k] += v * vtmp[k] - step.reward * vtrace[k];
                }
                Ok(())
            },
        )?;
        crate::check_finite(g_value, Error::NonFiniteGradient)?;
        Ok(report)
    }
}

impl<const S: usize, const A: usize, const H: usize, const PP: usize, const PV: usize>
    Learner<S, PP> for A2c<S, A, H, PP, PV>
{
    fn train_episode<E: Environment<S>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<EpisodeReport, Error> {
        let (mut g, mut g_ent, mut g_value) = ([0.0; PP], [0.0; PP], [0.0; PV]);
        let report = self.run(env, rng, &mut g, &mut g_ent, &mut g_value)?;
        let step: [f32; PP] = core::array::from_fn(|k| -(g[k] + self.config.entropy * g_ent[k]));
        crate::check_finite(&step, Error::NonFiniteGradient)?;
        // All or nothing: both steps are checked before either is taken.
        self.value_adam.check_step(self.value.params(), &g_value)?;
        self.adam.check_step(self.policy.params(), &step)?;
        self.value_adam.step(self.value.params_mut(), &g_value)?;
        self.adam.step(self.policy.params_mut(), &step)?;
        Ok(report)
    }

    fn episode_gradient<E: Environment<S>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        grad: &mut [f32; PP],
    ) -> Result<EpisodeReport, Error> {
        *grad = [0.0; PP];
        let (mut g_ent, mut g_value) = ([0.0; PP], [0.0; PV]);
        self.run(env, rng, grad, &mut g_ent, &mut g_value)
    }

    fn policy_params(&self) -> &[f32; PP] {
        self.policy.params()
    }
}
