//! The wire protocol's messages: the handshake's specification of the environment and the
//! reply to a step.

use serde::Deserialize;

/// The protocol version this host speaks (the handshake's `protocol` field).
pub const PROTOCOL: u32 = 1;

/// The action space the server reported.
///
/// Read through [`RawActionSpace`], not as a serde internally tagged enum: those buffer
/// their fields, and with serde_json's `arbitrary_precision` feature (which another crate
/// in the workspace turns on, and cargo unifies features) buffered numbers come back as maps
/// and every float fails to parse.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", try_from = "RawActionSpace")]
pub enum ActionSpace {
    /// Actions `0..n`.
    Discrete {
        /// Number of actions.
        n: u32,
    },
    /// Real vectors of `dim` components in `[low, high]` (the server clips).
    Box {
        /// Number of components.
        dim: usize,
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
}

/// The action space as it arrives: every field a plain struct field.
#[derive(Debug, Deserialize)]
struct RawActionSpace {
    kind: String,
    n: Option<u32>,
    dim: Option<usize>,
    low: Option<Vec<f32>>,
    high: Option<Vec<f32>>,
}

impl TryFrom<RawActionSpace> for ActionSpace {
    type Error = String;

    fn try_from(r: RawActionSpace) -> Result<Self, String> {
        match (r.kind.as_str(), r.n, r.dim, r.low, r.high) {
            ("discrete", Some(n), _, _, _) => Ok(ActionSpace::Discrete { n }),
            ("box", _, Some(dim), Some(low), Some(high)) => Ok(ActionSpace::Box { dim, low, high }),
            (kind, ..) => Err(format!(
                "unknown or incomplete action space of kind {kind:?}"
            )),
        }
    }
}

/// What the server said about its environment in the handshake.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct GymSpec {
    /// Protocol version.
    pub protocol: u32,
    /// The gymnasium id, e.g. `LunarLander-v3`.
    pub env: String,
    /// gymnasium's version.
    pub gymnasium: String,
    /// Length of an observation.
    pub obs_dim: usize,
    /// The action space.
    pub action: ActionSpace,
    /// The time limit, if the environment has one.
    pub max_episode_steps: Option<u32>,
}

/// One step's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReply {
    /// The reward.
    pub reward: f32,
    /// The episode ended.
    pub terminated: bool,
    /// The time limit cut the episode.
    pub truncated: bool,
    /// The next observation (`obs_dim` values).
    pub obs: Vec<f32>,
}
