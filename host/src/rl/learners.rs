//! The core's learners on each task, behind one interface ([`Episodes`]): a training
//! episode, and one episode's policy gradient that changes nothing. The native CartPole and
//! the bridge's environments are both [`Env`]s, so a discrete-action learner runs the same
//! way on either.

use super::task::{RunConfig, Task};
use crate::estimators::EstimatorId;
use crate::gym::env::BridgeStats;
use crate::gym::{GymEnv, ServerOptions};
use crate::{seed, Result};
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::nn::mlp_param_count;
use relax_core::rl::a2c::{A2c, CartPoleA2c};
use relax_core::rl::cartpole::CartPole;
use relax_core::rl::lax::{LaxConfig, PendulumLax};
use relax_core::rl::reinforce::CartPoleReinforce;
use relax_core::rl::relax::{CartPoleRelax, RelaxLearner};
use relax_core::rl::{Environment, Learner, PgConfig};

/// Parameters of the CartPole policy 4-10-10-2.
pub const CARTPOLE_POLICY_PARAMS: usize = relax_core::rl::policy_param_count(4, 2, 10);
/// Parameters of the Lunar Lander policy 8-10-10-4.
const LUNAR_POLICY_PARAMS: usize = mlp_param_count(8, 10, 4, 2);
/// Parameters of Inverted Pendulum's mean network 4-64-64-1 (its log-std is one more).
pub(crate) const PENDULUM_MEAN_PARAMS: usize = mlp_param_count(4, 64, 1, 2);

/// Lunar Lander's RELAX learner: policy 8-10-10-4, control variate 12-10-10-1 (ReLU).
pub type LunarRelax =
    RelaxLearner<8, 4, 12, 10, LUNAR_POLICY_PARAMS, { mlp_param_count(12, 10, 1, 2) }>;
/// Lunar Lander's A2C learner: policy 8-10-10-4, value 8-10-10-1 (ReLU).
pub type LunarA2c = A2c<8, 4, 10, LUNAR_POLICY_PARAMS, { mlp_param_count(8, 10, 1, 2) }>;

/// What the runner does with one learner and its environment.
pub trait Episodes {
    /// One training episode: (return, steps).
    fn train(&mut self, rng: &mut Xoshiro128PlusPlus) -> Result<(f32, u32)>;
    /// One episode's policy gradient into `g` (resized as needed), changing nothing; returns
    /// the episode's steps.
    fn gradient(&mut self, rng: &mut Xoshiro128PlusPlus, g: &mut Vec<f32>) -> Result<u32>;
    /// The bridge's counters (`None` for the native environment).
    fn bridge_stats(&self) -> Option<BridgeStats>;
}

/// An environment a learner runs on: the core's CartPole or a gymnasium server.
pub trait Env<const S: usize>: Environment<S> {
    /// The error of a failed episode, with what the environment knows about it.
    fn explain(&mut self, e: relax_core::Error) -> crate::Error;
    /// The bridge's counters, if any.
    fn bridge_stats(&self) -> Option<BridgeStats>;
}

impl Env<4> for CartPole {
    fn explain(&mut self, e: relax_core::Error) -> crate::Error {
        crate::gym::env::run_error(e)
    }
    fn bridge_stats(&self) -> Option<BridgeStats> {
        None
    }
}

impl<const S: usize> Env<S> for GymEnv<S> {
    fn explain(&mut self, e: relax_core::Error) -> crate::Error {
        GymEnv::explain(self, e)
    }
    fn bridge_stats(&self) -> Option<BridgeStats> {
        Some(self.stats())
    }
}

/// A discrete-action learner (RELAX, A2C, REINFORCE) on its environment.
struct Discrete<L, E, const S: usize, const PP: usize> {
    learner: L,
    env: E,
}

impl<L, E, const S: usize, const PP: usize> Episodes for Discrete<L, E, S, PP>
where
    L: Learner<S, PP> + Clone,
    E: Env<S>,
{
    fn train(&mut self, rng: &mut Xoshiro128PlusPlus) -> Result<(f32, u32)> {
        let r = self.learner.train_episode(&mut self.env, rng);
        let r = r.map_err(|e| self.env.explain(e))?;
        Ok((r.ret, r.steps))
    }
    fn gradient(&mut self, rng: &mut Xoshiro128PlusPlus, g: &mut Vec<f32>) -> Result<u32> {
        let mut grad = [0.0f32; PP];
        // episode_gradient changes nothing, but takes `&mut self`: probe a copy.
        let mut probe = self.learner.clone();
        let r = probe.episode_gradient(&mut self.env, rng, &mut grad);
        let r = r.map_err(|e| self.env.explain(e))?;
        g.clear();
        g.extend_from_slice(&grad);
        Ok(r.steps)
    }
    fn bridge_stats(&self) -> Option<BridgeStats> {
        self.env.bridge_stats()
    }
}

/// The Gaussian-policy learner (LAX, or A2C with `c^` off) on Inverted Pendulum.
struct Pendulum {
    learner: PendulumLax,
    env: GymEnv<4>,
}

impl Episodes for Pendulum {
    fn train(&mut self, rng: &mut Xoshiro128PlusPlus) -> Result<(f32, u32)> {
        let r = self.learner.train_episode(&mut self.env, rng);
        let r = r.map_err(|e| self.env.explain(e))?;
        Ok((r.ret, r.steps))
    }
    fn gradient(&mut self, rng: &mut Xoshiro128PlusPlus, g: &mut Vec<f32>) -> Result<u32> {
        let mut gm = Box::new([0.0f32; PENDULUM_MEAN_PARAMS]);
        let mut gs = [0.0f32; 1];
        let r = self
            .learner
            .episode_gradient(&mut self.env, rng, &mut gm, &mut gs);
        let r = r.map_err(|e| self.env.explain(e))?;
        g.clear();
        g.extend_from_slice(&gm[..]);
        g.extend_from_slice(&gs);
        Ok(r.steps)
    }
    fn bridge_stats(&self) -> Option<BridgeStats> {
        Some(self.env.stats())
    }
}

fn boxed<L, E, const S: usize, const PP: usize>(learner: L, env: E) -> Box<dyn Episodes>
where
    L: Learner<S, PP> + Clone + 'static,
    E: Env<S> + 'static,
{
    Box::new(Discrete::<L, E, S, PP> { learner, env })
}

/// The learner of `cfg` for `seed` (built from the seed's stream 0) on its environment
/// (a server of its own on the bridge, started with `opts`).
pub fn build(
    cfg: &RunConfig,
    seed: u64,
    opts: Option<&ServerOptions>,
) -> Result<Box<dyn Episodes>> {
    cfg.task.check(cfg.estimator)?;
    let mut init = seed::rng(seed, 0);
    let pg = PgConfig::paper(cfg.lr, cfg.cv_lr_scale);
    let id = cfg.task.env_id();
    let replay = cfg.bridge.is_none_or(|b| b.replay_cache);
    let gym = || -> Result<&ServerOptions> {
        opts.ok_or_else(|| format!("{id} needs the gymnasium bridge's options").into())
    };
    Ok(match (cfg.task, cfg.estimator.name()) {
        (Task::CartPole, "relax") => boxed(CartPoleRelax::new(pg, &mut init)?, CartPole::new()),
        (Task::CartPole, "a2c") => boxed(CartPoleA2c::new(pg, &mut init)?, CartPole::new()),
        (Task::CartPole, _) => boxed(CartPoleReinforce::new(pg, &mut init)?, CartPole::new()),
        (Task::CartPoleBridge, "relax") => boxed(
            CartPoleRelax::new(pg, &mut init)?,
            GymEnv::<4>::start(gym()?, id, replay)?,
        ),
        (Task::CartPoleBridge, _) => boxed(
            CartPoleA2c::new(pg, &mut init)?,
            GymEnv::<4>::start(gym()?, id, replay)?,
        ),
        (Task::LunarLander, "relax") => boxed(
            LunarRelax::new(pg, &mut init)?,
            GymEnv::<8>::start(gym()?, id, replay)?,
        ),
        (Task::LunarLander, _) => boxed(
            LunarA2c::new(pg, &mut init)?,
            GymEnv::<8>::start(gym()?, id, replay)?,
        ),
        (Task::InvertedPendulum, method) => {
            let g = cfg
                .gym
                .ok_or("Inverted Pendulum needs the gymnasium learner settings")?;
            let cv_lr = cfg.lr * cfg.cv_lr_scale;
            let mut lc = LaxConfig::paper(cfg.lr, cv_lr, cv_lr, method == "lax");
            lc.batch_steps = g.batch_steps;
            lc.kl_target = g.kl_target;
            lc.normalize_obs = g.normalize_obs;
            lc.value_steps = g.value_steps;
            lc.cv_steps = g.cv_steps;
            lc.cv_per_batch = g.cv_per_batch;
            lc.cv_loss_per_step = g.cv_loss_per_step;
            Box::new(Pendulum {
                learner: PendulumLax::new(lc, &mut init)?,
                env: GymEnv::start(gym()?, id, replay)?,
            })
        }
    })
}

/// Bytes of a native CartPole learner's whole state (networks, optimizer moments, control
/// variate or value network): the struct is fixed-size and episodes need no buffer, so this
/// plus a stack frame is all the RAM a learner needs (the firmware measures the stack).
/// `None` for the bridge's tasks.
pub fn learner_state_bytes(task: Task, e: EstimatorId) -> Option<usize> {
    match (task, e.name()) {
        (Task::CartPole, "relax") => Some(std::mem::size_of::<CartPoleRelax>()),
        (Task::CartPole, "a2c") => Some(std::mem::size_of::<CartPoleA2c>()),
        (Task::CartPole, "reinforce") => Some(std::mem::size_of::<CartPoleReinforce>()),
        _ => None,
    }
}
