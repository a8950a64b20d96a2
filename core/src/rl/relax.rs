//! RELAX for discrete actions (the paper's appendix C): an action-dependent control variate
//! `c_phi(z, s) = scale * MLP([s, softmax(z / lambda)])` trained on the variance of the
//! whole episode's policy gradient.

use super::episode::{episode_over, run_episode, RelaxDraw};
use super::{Environment, EpisodeReport, Learner, PgConfig};
use crate::dist::Categorical;
use crate::estimator::{relax_combine, relax_variance_directions, CvInput, Draw, NeuralCv};
use crate::nn::{Activation, Mlp};
use crate::optim::Adam;
use crate::Error;
use rand_core::Rng;

/// The RELAX policy-gradient learner.
///
/// Per step `t`, with `b_t = H(z_t)` the action and `z~_t ~ p(z | b_t, l_t)` (the paper's
/// categorical conditional, fresh noise):
/// `g = sum_t [R_t - c(z~_t, s_t)] dlog pi(a_t|s_t)/dtheta + dc(z_t, s_t)/dtheta - dc(z~_t, s_t)/dtheta`.
/// After the episode, `phi` takes one Adam step down `d/dphi |g|^2`, exact: a second pass
/// replays the episode from the saved generator (constant memory) and, per step, feeds the
/// direction `J_t g` (the policy's parameter Jacobian-vector product) to the control
/// variate's mixed second derivative. Then the policy takes its step on `g` plus the entropy
/// bonus's gradient.
///
/// `S` observations, `A` actions, `I = S + A` control-variate inputs, `H` hidden units in both
/// networks (two layers each), `PP` and `PC` their parameter counts.
#[derive(Debug, Clone)]
pub struct RelaxLearner<
    const S: usize,
    const A: usize,
    const I: usize,
    const H: usize,
    const PP: usize,
    const PC: usize,
> {
    policy: Mlp<S, H, A, 2, PP>,
    adam: Adam<PP>,
    // No memo of forward passes (M = 0): the learner evaluates c during the episode and
    // accumulates during the replay, so a remembered pass would never be used again, and
    // the memo's entries would cost RAM and a copy per call.
    cv: NeuralCv<Categorical<A>, A, S, I, H, 2, PC, 0>,
    config: PgConfig,
}

/// The paper's CartPole learner: policy 4-10-10-2, control variate 6-10-10-1.
pub type CartPoleRelax = RelaxLearner<
    4,
    2,
    6,
    10,
    { crate::nn::mlp_param_count(4, 10, 2, 2) },
    { crate::nn::mlp_param_count(6, 10, 1, 2) },
>;

impl<
        const S: usize,
        const A: usize,
        const I: usize,
        const H: usize,
        const PP: usize,
        const PC: usize,
    > RelaxLearner<S, A, I, H, PP, PC>
{
    /// A learner with networks initialised from `rng`: the policy's output layer is scaled
    /// by 0.1 (a near-uniform first policy); the control variate has scale 1 and temperature
    /// 1 (log-temperature 0), as in the paper's code, but a zero output layer, so `c` starts
    /// at exactly 0 (RELAX starts as REINFORCE, like the reference toy's zero output scale).
    /// With a random output layer the control variate's pathwise terms add noise of the size
    /// of its gradient before it has learned anything; on CartPole (seeds 0-4, lr 0.01) one
    /// seed in five then collapsed to a deterministic policy.
    pub fn new<R: Rng + ?Sized>(config: PgConfig, rng: &mut R) -> Result<Self, Error> {
        config.validate()?;
        let policy = Mlp::new_random(Activation::Relu, 0.1, rng);
        let net = Mlp::new_random(Activation::Relu, 0.0, rng);
        let cv = NeuralCv::new(
            net,
            CvInput::Relaxed,
            1.0,
            1.0,
            config.adam(config.lr * config.cv_lr_scale),
        )?;
        Ok(Self {
            policy,
            adam: Adam::new(config.adam(config.lr))?,
            cv,
            config,
        })
    }

    /// The policy network.
    pub fn policy(&self) -> &Mlp<S, H, A, 2, PP> {
        &self.policy
    }

    /// The control variate.
    pub fn cv(&self) -> &NeuralCv<Categorical<A>, A, S, I, H, 2, PC, 0> {
        &self.cv
    }

    /// Runs one episode, accumulating the policy gradient `g` and the entropy gradient.
    fn first_pass<E: Environment<S>, R: Rng>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        g: &mut [f32; PP],
        g_ent: &mut [f32; PP],
    ) -> Result<EpisodeReport, Error> {
        let cv = &mut self.cv;
        run_episode(
            env,
            rng,
            &self.policy,
            &self.config,
            RelaxDraw,
            g,
            g_ent,
            |step| {
                // The local part of the logit gradient: R_t enters through the trace below.
                cv.set_context(step.obs)?;
                let (mut gcz, mut gczt) = ([0.0; A], [0.0; A]);
                cv.eval(&step.draw.z, &mut gcz);
                let c_zt = cv.eval(&step.draw.cond.z, &mut gczt);
                let local = relax_combine::<Categorical<A>, A>(
                    step.logits,
                    step.draw,
                    0.0,
                    c_zt,
                    &gcz,
                    &gczt,
                )?;
                for k in 0..PP {
                    step.g[k] += step.reward * step.trace[k];
                }
                step.policy
                    .backward_weights(step.obs, step.cache, &local, step.g);
                Ok(())
            },
        )
    }

    /// Replays the episode and accumulates `d/dphi |g|^2` into the control variate.
    fn variance_pass<E: Environment<S>, R: Rng>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        g: &[f32; PP],
        expect_steps: u32,
    ) -> Result<(), Error> {
        let mut obs = env.reset(rng)?;
        let mut steps = 0u32;
        self.cv.clear();
        loop {
            let (logits, v) = self.policy.param_jvp(&obs, g);
            let draw = Draw::new::<Categorical<A>, R>(&logits, rng)?;
            let action = Categorical::<A>::argmax(&draw.b);
            let tr = env.step(action)?;
            self.cv.set_context(&obs)?;
            // d/dphi [2 (J_t g) . g_t(phi)], summed over t, is d/dphi |g|^2.
            let dirs = relax_variance_directions::<Categorical<A>, A>(&logits, &draw, &v);
            self.cv.accumulate(&draw.z, dirs.alpha_z, &dirs.u_z);
            self.cv.accumulate(&draw.cond.z, dirs.alpha_zt, &dirs.u_zt);
            steps += 1;
            obs = tr.obs;
            if episode_over(&tr, steps, self.config.max_steps) {
                break;
            }
        }
        if steps != expect_steps {
            return Err(Error::Environment);
        }
        Ok(())
    }
}

impl<
        const S: usize,
        const A: usize,
        const I: usize,
        const H: usize,
        const PP: usize,
        const PC: usize,
    > Learner<S, PP> for RelaxLearner<S, A, I, H, PP, PC>
{
    fn train_episode<E: Environment<S>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<EpisodeReport, Error> {
        let mut replay = rng.clone();
        let mut g = [0.0; PP];
        let mut g_ent = [0.0; PP];
        let report = self.first_pass(env, rng, &mut g, &mut g_ent)?;
        let step: [f32; PP] = core::array::from_fn(|k| -(g[k] + self.config.entropy * g_ent[k]));
        // All or nothing: the control variate's and the policy's steps are both checked
        // before either is taken.
        // Checked, then applied without a second check and without buffers: the firmware's
        // stack holds nothing of size P here.
        let checked = self
            .variance_pass(env, &mut replay, &g, report.steps)
            .and_then(|()| self.cv.check_step())
            .and_then(|()| self.adam.check_step(self.policy.params(), &step));
        if checked.is_err() {
            self.cv.clear();
        }
        checked?;
        self.cv.step_checked();
        self.adam.step_checked(self.policy.params_mut(), &step);
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
        self.first_pass(env, rng, grad, &mut g_ent)
    }

    fn policy_params(&self) -> &[f32; PP] {
        self.policy.params()
    }
}

#[cfg(test)]
impl<
        const S: usize,
        const A: usize,
        const I: usize,
        const H: usize,
        const PP: usize,
        const PC: usize,
    > RelaxLearner<S, A, I, H, PP, PC>
{
    pub(crate) fn variance_pass_for_test<E: Environment<S>, R: Rng>(
        &mut self,
        env: &mut E,
        rng: &mut R,
        g: &[f32; PP],
        steps: u32,
    ) -> Result<(), Error> {
        self.variance_pass(env, rng, g, steps)
    }

    pub(crate) fn cv_grads_for_test(&self) -> ([f32; PC], [f32; 2]) {
        (self.cv.grad_net, self.cv.grad_extra)
    }

    /// Perturbs control-variate parameter `i` (network, then scale and log-temperature).
    pub(crate) fn perturb_cv_for_test(&mut self, i: usize, h: f32) {
        if i < PC {
            self.cv.invalidate_memo();
            self.cv.net.params_mut()[i] += h;
        } else {
            self.cv.extra[i - PC] += h;
        }
    }
}
