//! The LAX learner: the episode's gradient (first pass), the value regression, the
//! variance-pass replay for `c^`, the batch and the policy's step.

use super::kl::KlTracker;
use super::obs_stats::{EpisodeObs, ObsStats};
use super::{ContinuousEnvironment, LaxConfig};
use crate::dist::Gaussian;
use crate::math::dot;
use crate::nn::{Activation, Mlp, MlpCache};
use crate::optim::{Adam, AdamConfig};
use crate::rl::episode::{accumulate_trace, episode_over};
use crate::rl::{check_obs, check_reward};
use crate::Error;
use rand_core::Rng;

/// What one episode of the [`LaxLearner`] gave.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LaxReport {
    /// Undiscounted sum of rewards.
    pub ret: f32,
    /// Number of steps.
    pub steps: u32,
    /// Squared norm of the episode's policy gradient (mean network and log-std).
    pub grad_sq_norm: f32,
    /// The episode's variance loss the control variate steps on (see
    /// [`LaxConfig::cv_loss_per_step`]; 0 for A2C in training).
    pub variance_loss: f32,
    /// The policy took its batch step after this episode.
    pub policy_updated: bool,
    /// When the policy stepped: the mean `KL(before || after)` of its previous step over
    /// this batch's states (0 before the second step, without a KL target, or otherwise).
    pub kl: f32,
    /// The policy's step size after this episode.
    pub policy_lr: f32,
}

/// LAX policy gradient for Gaussian actions.
///
/// Policy: `a ~ N(mu(s), diag(e^{2 sigma}))`, `mu` a tanh `S - H - H - A` network (output
/// layer scaled by 0.1), `sigma` a state-independent log-std vector. Control variate
/// `c(a, s) = V(s) + c^([s, a])`, both ELU `H - H` networks. Per episode, with
/// `a_t = mu(s_t) + e^sigma eps_t` the action actually taken and `R_t` the discounted return,
/// `g = sum_t dlog pi(a_t|s_t)/dtheta [R_t - c(a_t, s_t)] + d c^(a_t(theta), s_t)/dtheta`,
/// unbiased for any `c` (the last term is the pathwise derivative through `a_t`).
///
/// After every episode `V` takes [`LaxConfig::value_steps`] Adam steps on
/// `1/2 sum_t (V(s_t) - R_t)^2`, and the exact gradient of the episode's variance loss
/// `|g / B|^2` (`B = batch_steps`; the reference code's `|g / T|^2` with
/// [`LaxConfig::cv_loss_per_step`]) is computed by replaying the episode
/// from the saved generator: the control variate's mixed second derivative along `J_t g`.
/// `c^` steps on the mean of these over the batch when the policy steps
/// ([`LaxConfig::cv_per_batch`], the paper's way), or on each one after its episode
/// ([`LaxConfig::cv_steps`] times). The policy's batch gets each episode's `g` from before
/// these steps. The policy steps once at least
/// `batch_steps` steps have been collected, on the batch's mean per-step gradient, with a step
/// size adapted to [`LaxConfig::kl_target`] (the KL of each step is measured on the next
/// batch's states, against a copy of the policy kept from before the step; the reference
/// code measured it on the same batch, which would mean storing the batch). Memory is the
/// struct (networks, Adam states, the batch's policy and `c^` gradients, the policy copy)
/// plus a stack frame
/// of a few parameter vectors, whatever the episode or batch length.
///
/// `I = S + A` control-variate inputs; `PM`, `PV`, `PC` the parameter counts of the mean,
/// value and control-variate networks.
///
/// ```
/// use rand_core::{Rng, SeedableRng};
/// use rand_xoshiro::Xoshiro128PlusPlus;
/// use relax_core::nn::mlp_param_count;
/// use relax_core::rl::{ContinuousEnvironment, LaxConfig, LaxLearner, Transition};
/// use relax_core::Error;
///
/// /// Steer a point towards the origin; 5 steps per episode.
/// struct Point {
///     x: f32,
///     t: u32,
/// }
///
/// impl ContinuousEnvironment<1, 1> for Point {
///     fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; 1], Error> {
///         // All of the episode's randomness comes from the learner's generator.
///         self.x = (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
///         self.t = 0;
///         Ok([self.x])
///     }
///     fn step(&mut self, a: &[f32; 1]) -> Result<Transition<1>, Error> {
///         self.x += 0.5 * a[0].clamp(-1.0, 1.0);
///         self.t += 1;
///         let reward = -self.x * self.x;
///         Ok(Transition { obs: [self.x], reward, terminated: self.t == 5, truncated: false })
///     }
/// }
///
/// type PointLax = LaxLearner<
///     1,
///     1,
///     2,
///     16,
///     { mlp_param_count(1, 16, 1, 2) },
///     { mlp_param_count(1, 16, 1, 2) },
///     { mlp_param_count(2, 16, 1, 2) },
/// >;
/// let mut rng = Xoshiro128PlusPlus::seed_from_u64(0);
/// let mut config = LaxConfig::paper(0.01, 0.01, 0.01, true);
/// config.batch_steps = 50; // a policy step every 10 episodes
/// let mut learner = PointLax::new(config, &mut rng)?;
/// let mut env = Point { x: 0.0, t: 0 };
/// for _ in 0..100 {
///     let report = learner.train_episode(&mut env, &mut rng)?;
///     assert_eq!(report.steps, 5);
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LaxLearner<
    const S: usize,
    const A: usize,
    const I: usize,
    const H: usize,
    const PM: usize,
    const PV: usize,
    const PC: usize,
> {
    policy: Mlp<S, H, A, 2, PM>,
    log_std: [f32; A],
    adam: Adam<PM>,
    adam_std: Adam<A>,
    value: Mlp<S, H, 1, 2, PV>,
    value_adam: Adam<PV>,
    cv: Mlp<I, H, 1, 2, PC>,
    pub(super) cv_adam: Adam<PC>,
    config: LaxConfig,
    pub(super) batch_grad: [f32; PM],
    pub(super) batch_grad_std: [f32; A],
    batch_steps: u32,
    /// Per-batch `c^` steps: the sum of the batch's episode variance gradients, and their
    /// number.
    batch_grad_cv: [f32; PC],
    batch_episodes: u32,
    /// The KL of the policy's last step, for its step size.
    kl: KlTracker<S, A, H, PM>,
    /// Running observation statistics.
    obs_stats: ObsStats<S>,
}

/// The paper's Inverted Pendulum learner: observation 4, action 1, 64-64 networks.
pub type PendulumLax = LaxLearner<
    4,
    1,
    5,
    64,
    { crate::nn::mlp_param_count(4, 64, 1, 2) },
    { crate::nn::mlp_param_count(4, 64, 1, 2) },
    { crate::nn::mlp_param_count(5, 64, 1, 2) },
>;

/// One episode's first pass: the policy gradient and the value network's gradient.
struct EpisodeGrads<const PM: usize, const A: usize, const PV: usize, const S: usize> {
    g: [f32; PM],
    g_std: [f32; A],
    g_value: [f32; PV],
    ret: f32,
    steps: u32,
    /// Sum over the episode's states of `KL(previous policy || policy)`.
    kl_sum: f32,
    /// The episode's raw observations (those fed to the networks).
    obs: EpisodeObs<S>,
}

impl<
        const S: usize,
        const A: usize,
        const I: usize,
        const H: usize,
        const PM: usize,
        const PV: usize,
        const PC: usize,
    > LaxLearner<S, A, I, H, PM, PV, PC>
{
    const SHAPE_OK: () = assert!(I == S + A, "LaxLearner: I must equal S + A");

    /// A learner with networks initialised from `rng` (policy, then value, then control
    /// variate, so LAX and A2C built from the same generator start from the same policy).
    /// The control variate's output layer starts at zero, so LAX starts as A2C and `c^`
    /// departs from zero only where that lowers the variance (a random `c^` adds variance
    /// until it has learned).
    pub fn new<R: Rng + ?Sized>(config: LaxConfig, rng: &mut R) -> Result<Self, Error> {
        #[allow(clippy::let_unit_value)]
        let () = Self::SHAPE_OK;
        config.validate()?;
        let adam = |lr| AdamConfig::new(lr);
        let policy = Mlp::new_random(Activation::Tanh, 0.1, rng);
        Ok(Self {
            kl: KlTracker::new(&policy, [config.init_log_std; A]),
            obs_stats: ObsStats::new(),
            policy,
            log_std: [config.init_log_std; A],
            adam: Adam::new(adam(config.lr))?,
            adam_std: Adam::new(adam(config.lr))?,
            value: Mlp::new_random(Activation::Elu, 1.0, rng),
            value_adam: Adam::new(adam(config.value_lr))?,
            cv: Mlp::new_random(Activation::Elu, 0.0, rng),
            cv_adam: Adam::new(adam(config.cv_lr))?,
            config,
            batch_grad: [0.0; PM],
            batch_grad_std: [0.0; A],
            batch_steps: 0,
            batch_grad_cv: [0.0; PC],
            batch_episodes: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LaxConfig {
        &self.config
    }

    /// Replaces the hyperparameters: for schedules, or to study the control variate at a
    /// fixed policy (`train_policy = false` freezes the policy while `V` and `c^` keep
    /// learning; `control_variate = false` turns the estimator into A2C's with the same
    /// networks). The networks, Adam moments, the batch in progress, the observation
    /// statistics and the KL reference are kept; every step size becomes the new
    /// configuration's (the policy's adapted step restarts at `lr`). A configuration
    /// [`LaxLearner::new`] would refuse is refused and nothing changes.
    pub fn set_config(&mut self, config: LaxConfig) -> Result<(), Error> {
        config.validate()?;
        self.adam.set_lr(config.lr)?;
        self.adam_std.set_lr(config.lr)?;
        self.value_adam.set_lr(config.value_lr)?;
        self.cv_adam.set_lr(config.cv_lr)?;
        self.config = config;
        Ok(())
    }

    /// The policy's mean network.
    pub fn policy(&self) -> &Mlp<S, H, A, 2, PM> {
        &self.policy
    }

    /// The policy's log-standard-deviations.
    pub fn log_std(&self) -> &[f32; A] {
        &self.log_std
    }

    /// The value network `V(s)`.
    pub fn value(&self) -> &Mlp<S, H, 1, 2, PV> {
        &self.value
    }

    /// The action-dependent part `c^([s, a])` of the control variate.
    pub fn cv(&self) -> &Mlp<I, H, 1, 2, PC> {
        &self.cv
    }

    /// The policy's current step size (`lr`, adapted when `kl_target > 0`).
    pub fn policy_lr(&self) -> f32 {
        self.adam.config().lr
    }

    /// Steps collected towards the next policy update.
    pub fn pending_steps(&self) -> u32 {
        self.batch_steps
    }

    /// The observation as the networks see it: `clamp((o - mean) / std, -5, 5)` with the
    /// running statistics when [`LaxConfig::normalize_obs`] is set and at least two
    /// observations have been counted, else `o` itself.
    pub fn normalize(&self, obs: &[f32; S]) -> [f32; S] {
        self.obs_stats.normalize(obs, self.config.normalize_obs)
    }

    /// The running observation statistics: count, mean and (population) variance.
    pub fn obs_stats(&self) -> (f32, [f32; S], [f32; S]) {
        self.obs_stats.stats()
    }

    fn input(obs: &[f32; S], a: &[f32; A]) -> [f32; I] {
        core::array::from_fn(|i| if i < S { obs[i] } else { a[i - S] })
    }

    /// Runs one episode and returns its policy gradient (ascent direction, without the
    /// entropy term) and the value network's gradient.
    fn first_pass<E: ContinuousEnvironment<S, A>, R: Rng>(
        &self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<EpisodeGrads<PM, A, PV, S>, Error> {
        let gamma = self.config.gamma;
        let std: [f32; A] = core::array::from_fn(|i| libm::expf(self.log_std[i]));
        let mut out = EpisodeGrads {
            g: [0.0; PM],
            g_std: [0.0; A],
            g_value: [0.0; PV],
            ret: 0.0,
            steps: 0,
            kl_sum: 0.0,
            obs: EpisodeObs::new(),
        };
        let measure_kl = self.kl.measuring(self.config.kl_target);
        let mut trace = [0.0f32; PM];
        let mut trace_std = [0.0f32; A];
        let mut vtrace = [0.0f32; PV];
        let mut cache = MlpCache::<H, 2>::default();
        let mut vcache = MlpCache::<H, 2>::default();
        let mut raw = env.reset(rng)?;
        check_obs(&raw)?;
        loop {
            // The episode's observations, merged into the learner's statistics after it.
            out.obs.push(&raw, out.steps);
            let obs = self.normalize(&raw);
            let mean = self.policy.forward_cached(&obs, &mut cache);
            crate::check_finite(&mean, Error::NonFiniteGradient)?;
            if measure_kl {
                out.kl_sum += self.kl.kl_at(&obs, &mean, &self.log_std);
            }
            let eps = Gaussian::<A>::sample_noise(rng);
            let action = Gaussian::<A>::transform(&mean, &self.log_std, &eps);
            crate::check_finite(&action, Error::NonFiniteGradient)?;
            let tr = env.step(&action)?;
            check_reward(tr.reward)?;
            let (score_mean, score_std) = Gaussian::<A>::score(&mean, &self.log_std, &action);
            let v = self.value.forward_cached(&obs, &mut vcache)[0];
            let (mut c, mut dc_da) = (v, [0.0f32; A]);
            if self.config.control_variate {
                let (ch, dx) = self
                    .cv
                    .value_and_input_grad(&Self::input(&obs, &action), &[1.0]);
                c += ch[0];
                dc_da = core::array::from_fn(|i| dx[S + i]);
            }
            // sum_t score_t R_t = sum_k r_k sum_{t<=k} gamma^{k-t} score_t: a trace.
            let mut tmp = [0.0f32; PM];
            self.policy.backward(&obs, &cache, &score_mean, &mut tmp);
            accumulate_trace(&mut trace, gamma, &tmp);
            for k in 0..PM {
                out.g[k] += tr.reward * trace[k];
            }
            accumulate_trace(&mut trace_std, gamma, &score_std);
            for i in 0..A {
                out.g_std[i] +=
                    tr.reward * trace_std[i] - c * score_std[i] + dc_da[i] * std[i] * eps[i];
            }
            // -c score (mean part) and the pathwise d c^(a_t)/dmu.
            let local: [f32; A] = core::array::from_fn(|i| -c * score_mean[i] + dc_da[i]);
            self.policy.backward(&obs, &cache, &local, &mut out.g);
            let mut vtmp = [0.0f32; PV];
            self.value.backward(&obs, &vcache, &[1.0], &mut vtmp);
            accumulate_trace(&mut vtrace, gamma, &vtmp);
            for k in 0..PV {
                out.g_value[k] += v * vtmp[k] - tr.reward * vtrace[k];
            }
            out.ret += tr.reward;
            out.steps += 1;
            raw = tr.obs;
            check_obs(&raw)?;
            if episode_over(&tr, out.steps, self.config.max_steps) {
                break;
            }
        }
        crate::check_finite(&out.g, Error::NonFiniteGradient)?;
        crate::check_finite(&out.g_std, Error::NonFiniteGradient)?;
        crate::check_finite(&out.g_value, Error::NonFiniteGradient)?;
        Ok(out)
    }

    /// The weight `w` of an episode's variance loss `w |g|^2`.
    fn variance_weight(&self, steps: u32) -> f32 {
        let n = if self.config.cv_loss_per_step {
            steps
        } else {
            self.config.batch_steps
        } as f32;
        1.0 / (n * n)
    }

    /// Replays the episode and returns the gradient of its variance loss `w |g|^2` for the
    /// control variate `c^`.
    ///
    /// `g . g(phi) = sum_t [-(g . score_t) c^(x_t) + (J_t g) . dc^/da(x_t)]` plus terms free
    /// of `phi`, with `J_t = da_t/dtheta`; the second term is `c^`'s directional derivative
    /// along `u_t = [0, J_t g]`, so [`Mlp::mixed_backward`] gives its `phi`-gradient exactly.
    fn variance_pass<E: ContinuousEnvironment<S, A>, R: Rng>(
        &self,
        env: &mut E,
        rng: &mut R,
        grads: &EpisodeGrads<PM, A, PV, S>,
        grad_cv: &mut [f32; PC],
    ) -> Result<(), Error> {
        let scale = 2.0 * self.variance_weight(grads.steps);
        let std: [f32; A] = core::array::from_fn(|i| libm::expf(self.log_std[i]));
        let mut raw = env.reset(rng)?;
        let mut steps = 0u32;
        loop {
            let obs = self.normalize(&raw);
            let (mean, jg) = self.policy.param_jvp(&obs, &grads.g);
            let eps = Gaussian::<A>::sample_noise(rng);
            let action = Gaussian::<A>::transform(&mean, &self.log_std, &eps);
            let tr = env.step(&action)?;
            let (score_mean, score_std) = Gaussian::<A>::score(&mean, &self.log_std, &action);
            let gdot = dot(&jg, &score_mean) + dot(&grads.g_std, &score_std);
            let u: [f32; I] = core::array::from_fn(|i| {
                if i < S {
                    0.0
                } else {
                    let j = i - S;
                    jg[j] + grads.g_std[j] * std[j] * eps[j]
                }
            });
            self.cv.mixed_backward(
                &Self::input(&obs, &action),
                &u,
                &[-gdot * scale],
                &[scale],
                grad_cv,
            );
            steps += 1;
            raw = tr.obs;
            if episode_over(&tr, steps, self.config.max_steps) {
                break;
            }
        }
        if steps != grads.steps {
            return Err(Error::Environment);
        }
        crate::check_finite(grad_cv, Error::NonFiniteGradient)
    }

    /// Runs one episode, steps `V` and (LAX) `c^`, adds the episode to the batch, and steps
    /// the policy when the batch holds at least `batch_steps` steps.
    ///
    /// On an error nothing learnable changes (the episode is dropped from the batch). With
    /// [`LaxConfig::value_steps`] or [`LaxConfig::cv_steps`] above 1 the learner works on a
    /// copy of itself for that (`size_of::<Self>()` more stack during the call).
    pub fn train_episode<E: ContinuousEnvironment<S, A>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<LaxReport, Error> {
        if self.extra_steps() == 0 {
            self.train_episode_in_place(env, rng)
        } else {
            self.train_episode_on_copy(env, rng)
        }
    }

    /// Steps of `V` or `c^` per episode beyond the first.
    fn extra_steps(&self) -> u32 {
        let cv = if self.config.control_variate {
            self.config.cv_steps
        } else {
            1
        };
        self.config.value_steps.max(cv) - 1
    }

    /// [`Self::train_episode`] on a copy, kept only when every replay succeeded.
    #[inline(never)]
    fn train_episode_on_copy<E: ContinuousEnvironment<S, A>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<LaxReport, Error> {
        let mut next = Clone::clone(&*self);
        let report = next.train_episode_in_place(env, rng)?;
        *self = next;
        Ok(report)
    }

    /// The extra steps of `V` and `c^` on the episode that started from `start`, each on
    /// gradients recomputed by replaying it with the networks as they are now (the policy
    /// and the observation statistics are those of the first pass, so the replay takes the
    /// same actions).
    fn extra_value_cv_steps<E: ContinuousEnvironment<S, A>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        start: &R,
        steps: u32,
    ) -> Result<(), Error> {
        for k in 1..=self.extra_steps() {
            let grads = self.first_pass(env, &mut start.clone())?;
            if grads.steps != steps {
                return Err(Error::Environment);
            }
            if self.config.control_variate && k < self.config.cv_steps {
                let mut grad_cv = [0.0f32; PC];
                self.variance_pass(env, &mut start.clone(), &grads, &mut grad_cv)?;
                self.cv_adam.step(self.cv.params_mut(), &grad_cv)?;
            }
            if k < self.config.value_steps {
                self.value_adam
                    .step(self.value.params_mut(), &grads.g_value)?;
            }
        }
        Ok(())
    }

    fn train_episode_in_place<E: ContinuousEnvironment<S, A>, R: Rng + Clone>(
        &mut self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<LaxReport, Error> {
        let start = rng.clone();
        let mut replay = rng.clone();
        let grads = self.first_pass(env, rng)?;
        let mut grad_cv = [0.0f32; PC];
        let t = grads.steps as f32;
        let sq = dot(&grads.g, &grads.g) + dot(&grads.g_std, &grads.g_std);
        let mut variance_loss = 0.0;
        if self.config.control_variate {
            self.variance_pass(env, &mut replay, &grads, &mut grad_cv)?;
            variance_loss = sq * self.variance_weight(grads.steps);
        }
        let batch: [f32; PM] = core::array::from_fn(|k| self.batch_grad[k] + grads.g[k]);
        // d/dsigma of the entropy is 1 per step and component.
        let batch_std: [f32; A] = core::array::from_fn(|i| {
            self.batch_grad_std[i] + grads.g_std[i] + self.config.entropy * t
        });
        let per_batch = self.config.control_variate && self.config.cv_per_batch;
        let batch_cv: [f32; PC] = if per_batch {
            core::array::from_fn(|k| self.batch_grad_cv[k] + grad_cv[k])
        } else {
            [0.0; PC]
        };
        crate::check_finite(&batch, Error::NonFiniteGradient)?;
        crate::check_finite(&batch_std, Error::NonFiniteGradient)?;
        crate::check_finite(&batch_cv, Error::NonFiniteGradient)?;
        // Every check is done: from here on each step succeeds (the extra steps' replays
        // aside, which run on a copy).
        self.value_adam
            .step(self.value.params_mut(), &grads.g_value)?;
        if per_batch {
            self.batch_grad_cv = batch_cv;
            self.batch_episodes += 1;
        } else if self.config.control_variate {
            self.cv_adam.step(self.cv.params_mut(), &grad_cv)?;
        }
        // Only on a copy of the learner (see `train_episode`): these replays may fail.
        self.extra_value_cv_steps(env, &start, grads.steps)?;
        self.batch_grad = batch;
        self.batch_grad_std = batch_std;
        self.batch_steps = self.batch_steps.saturating_add(grads.steps);
        self.obs_stats.merge(&grads.obs, grads.steps);
        self.kl.add_episode(grads.kl_sum, grads.steps);
        let mut policy_updated = false;
        let mut kl = 0.0;
        if self.batch_steps >= self.config.batch_steps {
            if per_batch && self.batch_episodes > 0 {
                let n = self.batch_episodes as f32;
                let step: [f32; PC] = core::array::from_fn(|k| self.batch_grad_cv[k] / n);
                self.cv_adam.step(self.cv.params_mut(), &step)?;
            }
            if self.config.train_policy {
                kl = self.step_policy()?;
                policy_updated = true;
            }
            self.batch_grad = [0.0; PM];
            self.batch_grad_std = [0.0; A];
            self.batch_steps = 0;
            self.batch_grad_cv = [0.0; PC];
            self.batch_episodes = 0;
            self.kl.clear_batch();
        }
        Ok(LaxReport {
            ret: grads.ret,
            steps: grads.steps,
            grad_sq_norm: sq,
            variance_loss,
            policy_updated,
            kl,
            policy_lr: self.policy_lr(),
        })
    }

    /// The policy's batch step: adapts the step size to the KL of the previous step (when
    /// `kl_target > 0`; returns that KL, 0 when there is none), keeps a copy of the policy
    /// for the next KL, and steps on the batch's mean per-step gradient.
    fn step_policy(&mut self) -> Result<f32, Error> {
        let mut kl = 0.0;
        if self.config.kl_target > 0.0 {
            let adapted = self
                .kl
                .adapt(self.config.kl_target, self.config.lr, self.policy_lr());
            if let Some((measured, step)) = adapted {
                kl = measured;
                self.adam.set_lr(step)?;
                self.adam_std.set_lr(step)?;
            }
            self.kl.remember(&self.policy, &self.log_std);
        }
        let n = self.batch_steps as f32;
        let step: [f32; PM] = core::array::from_fn(|k| -self.batch_grad[k] / n);
        let step_std: [f32; A] = core::array::from_fn(|i| -self.batch_grad_std[i] / n);
        self.adam.step(self.policy.params_mut(), &step)?;
        self.adam_std.step(&mut self.log_std, &step_std)?;
        Ok(kl)
    }

    /// Runs one episode and writes its policy-gradient estimate (ascent direction of the
    /// expected discounted return, without the entropy term) into `grad_mean` (the mean
    /// network's parameters) and `grad_log_std`, changing nothing.
    pub fn episode_gradient<E: ContinuousEnvironment<S, A>, R: Rng>(
        &self,
        env: &mut E,
        rng: &mut R,
        grad_mean: &mut [f32; PM],
        grad_log_std: &mut [f32; A],
    ) -> Result<LaxReport, Error> {
        let grads = self.first_pass(env, rng)?;
        *grad_mean = grads.g;
        *grad_log_std = grads.g_std;
        let sq = dot(&grads.g, &grads.g) + dot(&grads.g_std, &grads.g_std);
        Ok(LaxReport {
            ret: grads.ret,
            steps: grads.steps,
            grad_sq_norm: sq,
            variance_loss: sq * self.variance_weight(grads.steps),
            policy_updated: false,
            kl: 0.0,
            policy_lr: self.policy_lr(),
        })
    }
}

#[cfg(test)]
impl<
        const S: usize,
        const A: usize,
        const I: usize,
        const H: usize,
        const PM: usize,
        const PV: usize,
        const PC: usize,
    > LaxLearner<S, A, I, H, PM, PV, PC>
{
    /// The exact variance-loss gradient of one episode (first pass, then replay).
    pub(crate) fn variance_grad_for_test<E: ContinuousEnvironment<S, A>, R: Rng + Clone>(
        &self,
        env: &mut E,
        rng: &mut R,
    ) -> Result<([f32; PC], f32), Error> {
        let mut replay = rng.clone();
        let grads = self.first_pass(env, rng)?;
        let mut grad_cv = [0.0; PC];
        self.variance_pass(env, &mut replay, &grads, &mut grad_cv)?;
        let sq = dot(&grads.g, &grads.g) + dot(&grads.g_std, &grads.g_std);
        Ok((grad_cv, sq * self.variance_weight(grads.steps)))
    }

    pub(crate) fn cv_params_mut_for_test(&mut self) -> &mut [f32; PC] {
        self.cv.params_mut()
    }
}
