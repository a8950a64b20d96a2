//! [`GymEnv`]: a gymnasium server as the core's `Environment` / `ContinuousEnvironment`.

use super::{ActionSpace, GymError, GymProcess, ServerOptions, StepReply};
use rand_core::Rng;
use relax_core::rl::{ContinuousEnvironment, Environment, Transition};
use relax_core::Error;

/// Longest episode kept for the in-memory replay; longer ones replay through the process.
const RECORD_LIMIT: usize = 1 << 20;
/// Most steps of one episode when the server announced no `max_episode_steps`.
pub const DEFAULT_STEP_CAP: u64 = 100_000;

/// Counters of a [`GymEnv`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Resets sent to the process.
    pub resets: u64,
    /// Steps sent to the process.
    pub live_steps: u64,
    /// Steps served from the recorded episode.
    pub replayed_steps: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Live,
    Replay { next: usize },
}

/// The most recent live episode: its seed, first observation, actions and replies.
#[derive(Debug)]
struct Recording<const S: usize> {
    seed: Option<u32>,
    reset_obs: [f32; S],
    /// Actions as bit patterns, `stride` words per step (a discrete index, or f32 bits).
    actions: Vec<u32>,
    steps: Vec<Transition<S>>,
    overflow: bool,
}

/// A gymnasium environment behind a [`GymProcess`], with `S`-dimensional observations.
///
/// `reset` draws a `u32` from the learner's generator and sends `reset(seed=...)`, so the
/// episode's randomness comes from the generator, as the core's learners require. gymnasium's
/// LunarLander-v3, InvertedPendulum-v5 and CartPole-v1 are deterministic given that seed and
/// the actions (tested), so RELAX and LAX can replay an episode for their variance pass.
///
/// With the replay cache on, the last live episode is kept in memory (a few kB) and a reset
/// with the same seed followed by the same actions is served from it instead of the process:
/// the replay then costs no Python steps. If the actions differ from the recording, the
/// process is reset and brought to the same point first, and the episode continues live.
/// With the cache off, every replay goes through the process, so a non-deterministic
/// environment shows up as the learner's `Error::Environment`.
///
/// Errors from the process become the core's `Error::Environment`; the full message (what
/// failed, the Python traceback) is kept and returned by [`GymEnv::take_error`]. So do an
/// observation or reward that is not finite, and a step past the episode's limit (the
/// handshake's `max_episode_steps`, or [`DEFAULT_STEP_CAP`] when it announced none): a
/// server whose episodes never end is an error, not a run that never ends.
#[derive(Debug)]
pub struct GymEnv<const S: usize> {
    process: GymProcess,
    replay_cache: bool,
    rec: Recording<S>,
    mode: Mode,
    stats: BridgeStats,
    last_error: Option<GymError>,
    /// Steps of the current episode.
    episode_steps: u64,
    step_limit: u64,
}

impl<const S: usize> GymEnv<S> {
    /// Wraps a running server; fails if its observations do not have `S` components.
    pub fn new(process: GymProcess, replay_cache: bool) -> Result<Self, GymError> {
        let d = process.spec().obs_dim;
        if d != S {
            return Err(GymError::Mismatch(format!(
                "{} has {d}-dimensional observations, the learner expects {S}",
                process.spec().env
            )));
        }
        let step_limit = process
            .spec()
            .max_episode_steps
            .map_or(DEFAULT_STEP_CAP, u64::from);
        Ok(Self {
            process,
            replay_cache,
            rec: Recording {
                seed: None,
                reset_obs: [0.0; S],
                actions: Vec::new(),
                steps: Vec::new(),
                overflow: false,
            },
            mode: Mode::Live,
            stats: BridgeStats::default(),
            last_error: None,
            episode_steps: 0,
            step_limit,
        })
    }

    /// Sets the most steps of an episode (by default the handshake's `max_episode_steps`,
    /// or [`DEFAULT_STEP_CAP`]).
    pub fn set_step_limit(&mut self, steps: u64) {
        self.step_limit = steps;
    }

    /// The most steps of an episode.
    pub fn step_limit(&self) -> u64 {
        self.step_limit
    }

    /// Starts a server for `env_id` and wraps it.
    pub fn start(opts: &ServerOptions, env_id: &str, replay_cache: bool) -> Result<Self, GymError> {
        Self::new(super::start(opts, env_id)?, replay_cache)
    }

    /// The server's description of the environment.
    pub fn spec(&self) -> &super::GymSpec {
        self.process.spec()
    }

    /// The counters.
    pub fn stats(&self) -> BridgeStats {
        self.stats
    }

    /// The error behind the last `Error::Environment`, if the bridge caused it.
    pub fn take_error(&mut self) -> Option<GymError> {
        self.last_error.take()
    }

    /// A core error from this environment's learner, with the bridge's message when the
    /// bridge caused it.
    pub fn explain(&mut self, e: Error) -> crate::Error {
        match (e, self.take_error()) {
            (Error::Environment, Some(g)) => Box::new(g),
            (Error::Environment, None) => format!(
                "{}: {e} (an episode's replay differed from its first run: the environment \
                 is not deterministic given its reset seed and actions)",
                self.spec().env
            )
            .into(),
            (e, _) => run_error(e),
        }
    }

    fn record_err<T>(&mut self, r: Result<T, GymError>) -> Result<T, Error> {
        r.map_err(|e| {
            self.last_error = Some(e);
            Error::Environment
        })
    }

    fn obs(v: &[f32]) -> [f32; S] {
        core::array::from_fn(|i| v[i])
    }

    fn transition(r: &StepReply) -> Transition<S> {
        Transition {
            obs: Self::obs(&r.obs),
            reward: r.reward,
            terminated: r.terminated,
            truncated: r.truncated,
        }
    }

    /// An error unless the reply's observation and reward are finite.
    fn check_finite(&self, obs: &[f32], reward: Option<f32>, seed: u32) -> Result<(), GymError> {
        let at = match reward {
            None => format!("at reset (reset seed {seed})"),
            Some(_) => format!(
                "at step {} of the episode (reset seed {seed})",
                self.episode_steps
            ),
        };
        if obs.iter().any(|v| !v.is_finite()) {
            return Err(GymError::Misbehaved(format!(
                "{} returned a non-finite observation {at}: {obs:?}",
                self.spec().env
            )));
        }
        if let Some(r) = reward.filter(|r| !r.is_finite()) {
            return Err(GymError::Misbehaved(format!(
                "{} returned a non-finite reward {r} {at}",
                self.spec().env
            )));
        }
        Ok(())
    }

    fn do_reset(&mut self, seed: u32) -> Result<[f32; S], Error> {
        self.episode_steps = 0;
        if self.replay_cache && self.rec.seed == Some(seed) && !self.rec.overflow {
            self.mode = Mode::Replay { next: 0 };
            return Ok(self.rec.reset_obs);
        }
        let r = self.process.reset(seed);
        let v = self.record_err(r)?;
        self.stats.resets += 1;
        let c = self.check_finite(&v, None, seed);
        self.record_err(c)?;
        let obs = Self::obs(&v);
        self.rec.seed = Some(seed);
        self.rec.reset_obs = obs;
        self.rec.actions.clear();
        self.rec.steps.clear();
        self.rec.overflow = false;
        self.mode = Mode::Live;
        Ok(obs)
    }

    fn send(&mut self, key: &[u32]) -> Result<StepReply, GymError> {
        self.stats.live_steps += 1;
        match self.process.spec().action {
            ActionSpace::Discrete { .. } => self.process.step_discrete(key[0]),
            ActionSpace::Box { .. } => {
                let a: Vec<f32> = key.iter().map(|&b| f32::from_bits(b)).collect();
                self.process.step_box(&a)
            }
        }
    }

    /// Resets the process and plays the recorded actions before `next`, checking that it
    /// gives the recorded replies; the episode then goes on live from there.
    fn resync(&mut self, next: usize, stride: usize) -> Result<(), GymError> {
        let seed = self.rec.seed.expect("a recording has a seed");
        let obs = self.process.reset(seed)?;
        self.stats.resets += 1;
        let mut same = Self::obs(&obs) == self.rec.reset_obs;
        for k in 0..next {
            if !same {
                break;
            }
            let key: Vec<u32> = self.rec.actions[k * stride..(k + 1) * stride].to_vec();
            let r = self.send(&key)?;
            same = Self::transition(&r) == self.rec.steps[k];
        }
        if !same {
            return Err(GymError::Mismatch(format!(
                "{} is not deterministic: the same reset seed {seed} and actions gave \
                 different observations",
                self.spec().env
            )));
        }
        self.rec.steps.truncate(next);
        self.rec.actions.truncate(next * stride);
        Ok(())
    }

    fn do_step(&mut self, key: &[u32]) -> Result<Transition<S>, Error> {
        let stride = key.len();
        if self.episode_steps >= self.step_limit {
            let e = GymError::Misbehaved(format!(
                "{}: the episode went past {} steps without ending (the limit {}); the server \
                 ignores its time limit",
                self.spec().env,
                self.step_limit,
                match self.spec().max_episode_steps {
                    Some(_) => "its handshake announced",
                    None => "of an environment without a time limit",
                }
            ));
            self.last_error = Some(e);
            return Err(Error::Environment);
        }
        self.episode_steps += 1;
        if let Mode::Replay { next } = self.mode {
            let hit = next < self.rec.steps.len()
                && self.rec.actions[next * stride..(next + 1) * stride] == *key;
            if hit {
                self.mode = Mode::Replay { next: next + 1 };
                self.stats.replayed_steps += 1;
                return Ok(self.rec.steps[next]);
            }
            let r = self.resync(next, stride);
            self.record_err(r)?;
            self.mode = Mode::Live;
        }
        let r = self.send(key);
        let reply = self.record_err(r)?;
        let seed = self.rec.seed.unwrap_or(0);
        let c = self.check_finite(&reply.obs, Some(reply.reward), seed);
        self.record_err(c)?;
        let t = Self::transition(&reply);
        if self.rec.steps.len() < RECORD_LIMIT {
            self.rec.actions.extend_from_slice(key);
            self.rec.steps.push(t);
        } else {
            self.rec.overflow = true;
        }
        Ok(t)
    }
}

impl<const S: usize> Environment<S> for GymEnv<S> {
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; S], Error> {
        let seed = rng.next_u32();
        self.do_reset(seed)
    }

    fn step(&mut self, action: usize) -> Result<Transition<S>, Error> {
        match self.process.spec().action {
            ActionSpace::Discrete { n } if action < n as usize => {}
            ActionSpace::Discrete { .. } => return Err(Error::InvalidAction),
            ActionSpace::Box { .. } => {
                self.last_error = Some(GymError::Mismatch(format!(
                    "{} has box actions; a discrete learner cannot drive it",
                    self.spec().env
                )));
                return Err(Error::Environment);
            }
        }
        self.do_step(&[action as u32])
    }
}

impl<const S: usize, const A: usize> ContinuousEnvironment<S, A> for GymEnv<S> {
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; S], Error> {
        let seed = rng.next_u32();
        self.do_reset(seed)
    }

    fn step(&mut self, action: &[f32; A]) -> Result<Transition<S>, Error> {
        match &self.process.spec().action {
            ActionSpace::Box { dim, .. } if *dim == A => {}
            other => {
                let what = match other {
                    ActionSpace::Box { dim, .. } => format!("{dim}-dimensional box actions"),
                    ActionSpace::Discrete { n } => format!("{n} discrete actions"),
                };
                self.last_error = Some(GymError::Mismatch(format!(
                    "{} has {what}; the learner gives {A}-dimensional real actions",
                    self.spec().env
                )));
                return Err(Error::Environment);
            }
        }
        let key: [u32; A] = core::array::from_fn(|i| action[i].to_bits());
        self.do_step(&key)
    }
}

/// A core error that ends a run, as the host reports it: the core's own words, except
/// where they describe what the core does for a caller that goes on (a non-finite gradient:
/// the core skips the update, but the run stops).
pub fn run_error(e: Error) -> crate::Error {
    match e {
        Error::NonFiniteGradient => "a gradient was not finite (NaN or infinity): the run stops \
                                     here (that update was not applied)"
            .into(),
        e => Box::new(e),
    }
}

/// Convenience: start the server for `env_id` with the options and the cache setting.
pub fn open<const S: usize>(
    opts: &ServerOptions,
    env_id: &str,
    replay_cache: bool,
) -> Result<GymEnv<S>, GymError> {
    GymEnv::start(opts, env_id, replay_cache)
}
