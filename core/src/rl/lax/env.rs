//! The environments the LAX learner plays: real-vector actions.

use crate::rl::Transition;
use crate::Error;
use rand_core::Rng;

/// An episodic environment with `S`-dimensional observations and `A`-dimensional real
/// actions.
///
/// As for [`Environment`](crate::rl::Environment): `reset` must draw all of the episode's
/// randomness from `rng`, and `step` must be deterministic, because the LAX learner replays
/// each episode from a copy of the generator for its variance pass.
pub trait ContinuousEnvironment<const S: usize, const A: usize> {
    /// Starts an episode; returns the first observation.
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; S], Error>;
    /// Applies `action` (any real vector; bounds, if any, are the environment's business).
    fn step(&mut self, action: &[f32; A]) -> Result<Transition<S>, Error>;
}
