//! The RL tasks: the core's CartPole and the gymnasium environments behind the bridge, with
//! their "solved" thresholds, results directories, methods and default settings; and the
//! configuration of one method's runs on a task.

use crate::estimators::EstimatorId;
use crate::Result;
use serde::{Deserialize, Serialize};

/// A task: an environment with its "solved" threshold (a last-100 mean return).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// The core's CartPole-v1 (`relax rl cartpole`), solved at >= 195 (gym's CartPole-v0
    /// criterion, which the paper and its code use). Not written in the JSON.
    #[serde(rename = "native-cart-pole")]
    CartPole,
    /// gymnasium's `CartPole-v1` through the bridge (`relax rl cartpole --bridge`), solved
    /// at >= 195, to check the bridge against the native environment.
    #[serde(rename = "cart-pole")]
    CartPoleBridge,
    /// `LunarLander-v3`, solved at >= 200.
    LunarLander,
    /// `InvertedPendulum-v5` (MuJoCo, continuous actions), solved at >= 950.
    InvertedPendulum,
}

impl Task {
    /// Whether the environment is the core's (no Python, no bridge): then it is not named
    /// in the JSON configuration.
    pub fn is_native(&self) -> bool {
        *self == Task::CartPole
    }

    /// The gymnasium id (the native CartPole implements `CartPole-v1`).
    pub fn env_id(self) -> &'static str {
        match self {
            Task::CartPole | Task::CartPoleBridge => "CartPole-v1",
            Task::LunarLander => "LunarLander-v3",
            Task::InvertedPendulum => "InvertedPendulum-v5",
        }
    }

    /// The name in messages and on the progress bar.
    pub fn label(self) -> &'static str {
        match self {
            Task::CartPole => "CartPole",
            _ => self.env_id(),
        }
    }

    /// The 100-episode mean return that counts as solved.
    pub fn threshold(self) -> f64 {
        match self {
            Task::CartPole | Task::CartPoleBridge => 195.0,
            Task::LunarLander => 200.0,
            Task::InvertedPendulum => 950.0,
        }
    }

    /// The results directory under `--out`.
    pub fn experiment(self) -> &'static str {
        match self {
            Task::CartPole => "rl-cartpole",
            Task::CartPoleBridge => "rl-cartpole-bridge",
            Task::LunarLander => "rl-lunarlander",
            Task::InvertedPendulum => "rl-inverted-pendulum",
        }
    }

    /// The command that runs it (for messages).
    fn command(self) -> &'static str {
        match self {
            Task::CartPole => "rl cartpole",
            Task::CartPoleBridge => "rl cartpole --bridge",
            Task::LunarLander => "rl lunarlander",
            Task::InvertedPendulum => "rl inverted-pendulum",
        }
    }

    /// The methods the task runs, by registry name.
    fn method_names(self) -> &'static [&'static str] {
        match self {
            Task::CartPole => &["relax", "a2c", "reinforce"],
            Task::CartPoleBridge | Task::LunarLander => &["relax", "a2c"],
            Task::InvertedPendulum => &["lax", "a2c"],
        }
    }

    /// The methods the task runs (the default of `--estimator` for the gymnasium tasks).
    pub fn estimators(self) -> Vec<EstimatorId> {
        self.method_names()
            .iter()
            .map(|n| EstimatorId::named(n))
            .collect()
    }

    /// Refuses a method the task does not run, naming the ones it does.
    pub fn check(self, e: EstimatorId) -> Result<()> {
        if self.method_names().contains(&e.name()) {
            return Ok(());
        }
        Err(format!(
            "`relax {}` runs {}, not {e}",
            self.command(),
            self.method_names().join(", ")
        )
        .into())
    }

    /// Default (lr, cv_lr_scale, episodes) of a method: for CartPole the grid search's
    /// choices (`relax rl cartpole --grid`, seeds 0-4; see README).
    pub fn defaults(self, _e: EstimatorId) -> (f32, f32, u32) {
        match self {
            Task::CartPole | Task::CartPoleBridge => (0.01, 1.0, 1000),
            Task::LunarLander => (0.003, 1.0, 10_000),
            Task::InvertedPendulum => (0.03, 1.0, 10_000),
        }
    }

    /// Episodes of one variance measurement asked `n`: the bridge tasks take at least 2.
    pub fn var_episodes(self, n: u32) -> u32 {
        if self.is_native() {
            n
        } else {
            n.max(2)
        }
    }

    /// y range of the reward plot.
    pub fn return_range(self) -> (f64, f64) {
        match self {
            Task::CartPole | Task::CartPoleBridge => (0.0, 520.0),
            Task::LunarLander => (-400.0, 300.0),
            Task::InvertedPendulum => (0.0, 1050.0),
        }
    }
}

/// The learner settings of the gymnasium tasks (used by the continuous-action learner).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GymSettings {
    /// Continuous tasks: steps per policy update (whole episodes, at least this many).
    pub batch_steps: u32,
    /// Continuous tasks: the policy step's KL target (0: fixed step size).
    pub kl_target: f32,
    /// Continuous tasks: running-normalised observations.
    pub normalize_obs: bool,
    /// Continuous tasks: Adam steps of `V` per episode.
    pub value_steps: u32,
    /// LAX: Adam steps of `c^` per episode (the paper's `cv_num`) when `c^` steps after
    /// every episode.
    pub cv_steps: u32,
    /// LAX: `c^` steps once per policy update on the batch's mean variance gradient.
    pub cv_per_batch: bool,
    /// LAX: the variance loss is the reference code's `|g / T|^2`, not `|g / B|^2`.
    pub cv_loss_per_step: bool,
}

/// How runs talk to their gymnasium server.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BridgeSettings {
    /// Serve replays of the last episode from memory (see [`crate::gym::GymEnv`]).
    pub replay_cache: bool,
    /// Seconds to wait for any reply of a server.
    pub timeout_s: f64,
}

/// One method's configuration on a task (all its seeds). The gymnasium tasks have
/// [`GymSettings`] and [`BridgeSettings`]; the native CartPole has neither (nor a `task`
/// key in the JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// The task (absent in the JSON: the native CartPole).
    #[serde(skip_serializing_if = "Task::is_native", default = "native")]
    pub task: Task,
    /// The method.
    pub estimator: EstimatorId,
    /// The seeds (each an independent run; with its own server process on the bridge).
    pub seeds: Vec<u64>,
    /// Policy step size (Adam).
    pub lr: f32,
    /// Control-variate / value step size relative to `lr`.
    pub cv_lr_scale: f32,
    /// The gymnasium tasks' learner settings.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub gym: Option<GymSettings>,
    /// Training episodes per seed (the cap when stopping once solved).
    pub episodes: u32,
    /// Stop a seed once solved.
    pub stop_when_solved: bool,
    /// Measure the gradient's variance every this many episodes (0: never).
    pub var_every: u32,
    /// Episodes per variance measurement.
    pub var_episodes: u32,
    /// The bridge's settings (gymnasium tasks).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeSettings>,
}

fn native() -> Task {
    Task::CartPole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_refuses_the_methods_it_does_not_run() {
        let id = EstimatorId::named;
        for (task, ok, bad) in [
            (Task::CartPole, &["relax", "a2c", "reinforce"][..], "lax"),
            (Task::CartPoleBridge, &["relax", "a2c"][..], "reinforce"),
            (Task::LunarLander, &["relax", "a2c"][..], "lax"),
            (Task::InvertedPendulum, &["lax", "a2c"][..], "relax"),
        ] {
            for m in ok {
                task.check(id(m)).unwrap();
            }
            let e = task.check(id(bad)).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains(ok[0]), "{e}");
        }
    }

    #[test]
    fn the_native_configuration_has_no_task_or_bridge_keys() {
        let cfg = RunConfig {
            task: Task::CartPole,
            estimator: EstimatorId::named("relax"),
            seeds: vec![0],
            lr: 0.01,
            cv_lr_scale: 1.0,
            gym: None,
            episodes: 10,
            stop_when_solved: false,
            var_every: 0,
            var_episodes: 0,
            bridge: None,
        };
        let v = serde_json::to_value(&cfg).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "cv_lr_scale",
                "episodes",
                "estimator",
                "lr",
                "seeds",
                "stop_when_solved",
                "var_episodes",
                "var_every"
            ]
        );
        assert_eq!(v["estimator"], "relax");
    }
}
