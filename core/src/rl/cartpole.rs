//! The cart-pole balancing task, equal to gymnasium's `CartPole-v1`.
//!
//! Same constants, same Euler integration in the same order of operations, same
//! termination rule (|x| > 2.4 or |theta| > 12 degrees), a reward of 1 for every step
//! including the terminating one, and truncation after 500 steps. The only difference is
//! the number format: the state is `f32` (the target chip has a single-precision FPU),
//! where gymnasium integrates in `f64`. From the same state, one step agrees with
//! gymnasium within 2e-7. Over a whole episode with a fixed action sequence the two drift
//! apart, because the upright pole is unstable and amplifies any rounding difference by
//! about 8% per step: within 1e-5 for the first ~60 steps, of order 1 after ~200 (measured
//! in `tests/tests/gym_parity.rs`).

use rand_core::Rng;

use crate::math::uniform_open;
use crate::Error;

/// Gravitational acceleration, m/s^2.
const GRAVITY: f32 = 9.8;
/// Mass of the cart, kg.
const MASS_CART: f32 = 1.0;
/// Mass of the pole, kg.
const MASS_POLE: f32 = 0.1;
/// Cart plus pole, computed as gymnasium does (`masspole + masscart`).
const TOTAL_MASS: f32 = MASS_POLE + MASS_CART;
/// Half the pole's length, m (gymnasium calls it `length`).
const HALF_LENGTH: f32 = 0.5;
/// `masspole * length`.
const POLE_MASS_LENGTH: f32 = MASS_POLE * HALF_LENGTH;
/// Magnitude of the force one action applies to the cart, N.
const FORCE_MAG: f32 = 10.0;
/// Seconds between two states.
const TAU: f32 = 0.02;
/// The pole angle beyond which the episode fails: 12 degrees, `12 * 2 * pi / 360`.
const THETA_THRESHOLD: f32 = 0.209_439_51;
/// The cart position beyond which the episode fails.
const X_THRESHOLD: f32 = 2.4;
/// Bound of the uniform initial state: each component is drawn in (-0.05, 0.05).
const RESET_BOUND: f32 = 0.05;

/// The cart-pole environment: a pole hinged on a cart that moves on a frictionless
/// track; each step pushes the cart left or right with a fixed force.
///
/// The state is `[x, x_dot, theta, theta_dot]`: cart position (m), cart velocity (m/s),
/// pole angle from upright (rad, positive clockwise) and angular velocity (rad/s). The
/// observation is the state itself. The memory is a few words, independent of the
/// episode length.
///
/// A new environment has no episode: call [`reset`](CartPole::reset) (random start) or
/// [`reset_to`](CartPole::reset_to) (a given start) before [`step`](CartPole::step).
///
/// ```
/// use rand_core::SeedableRng;
/// use rand_xoshiro::Xoshiro128PlusPlus;
/// use relax_core::rl::cartpole::CartPole;
///
/// let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
/// let mut env = CartPole::new();
/// let mut obs = env.reset(&mut rng);
/// let mut total = 0.0;
/// loop {
///     // Push the cart under the pole: right when the pole leans or turns right.
///     let action = usize::from(obs[2] + 0.5 * obs[3] > 0.0);
///     let step = env.step(action)?;
///     total += step.reward;
///     obs = step.obs;
///     if step.terminated || step.truncated {
///         break;
///     }
/// }
/// assert!(total >= 1.0 && total <= 500.0);
/// # Ok::<(), relax_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CartPole {
    state: [f32; 4],
    steps: u32,
    done: bool,
}

/// What one [`CartPole::step`] returns.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Step {
    /// The state after the step, `[x, x_dot, theta, theta_dot]`.
    pub obs: [f32; 4],
    /// 1.0 for every step, including the one that ends the episode (as in `CartPole-v1`).
    pub reward: f32,
    /// The pole fell past 12 degrees or the cart left the track (|x| > 2.4).
    pub terminated: bool,
    /// The episode reached [`CartPole::MAX_STEPS`] steps. Both flags can be set at once.
    pub truncated: bool,
}

impl CartPole {
    /// Steps after which an episode is truncated (`CartPole-v1`'s time limit).
    pub const MAX_STEPS: u32 = 500;

    /// An environment with no episode yet; [`step`](CartPole::step) returns
    /// [`Error::EpisodeOver`] until a reset.
    pub const fn new() -> Self {
        Self {
            state: [0.0; 4],
            steps: 0,
            done: true,
        }
    }

    /// Starts an episode from a random state, each component uniform in (-0.05, 0.05),
    /// and returns the first observation. Uses four draws of `rng`.
    pub fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> [f32; 4] {
        let mut state = [0.0; 4];
        for s in state.iter_mut() {
            // u - 0.5 is exact for the open-interval uniform, and |u - 0.5| < 0.5 keeps
            // the product strictly inside the bound after rounding.
            *s = 2.0 * RESET_BOUND * (uniform_open(rng) - 0.5);
        }
        self.start(state)
    }

    /// Starts an episode from `state` (`[x, x_dot, theta, theta_dot]`) and returns it as
    /// the first observation. Any finite state is accepted, even one past the failure
    /// thresholds (the next step then terminates).
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`] if a component is NaN or infinite; the environment is
    /// left unchanged.
    pub fn reset_to(&mut self, state: [f32; 4]) -> Result<[f32; 4], Error> {
        crate::check_finite(&state, Error::NonFiniteInput)?;
        Ok(self.start(state))
    }

    /// Overwrites the physical state in the middle of an episode, keeping the step count
    /// and whether the episode is over, as assigning `env.unwrapped.state` does in
    /// gymnasium. Useful to re-synchronise with a reference trajectory.
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`] if a component is NaN or infinite; the environment is
    /// left unchanged.
    pub fn set_state(&mut self, state: [f32; 4]) -> Result<(), Error> {
        crate::check_finite(&state, Error::NonFiniteInput)?;
        self.state = state;
        Ok(())
    }

    /// Pushes the cart left (`action == 0`) or right (`action == 1`) for one time step
    /// of 0.02 s (explicit Euler, as gymnasium's default `"euler"` integrator).
    ///
    /// # Errors
    /// The environment is left unchanged when an error is returned.
    /// - [`Error::InvalidAction`] if `action > 1`;
    /// - [`Error::EpisodeOver`] if no episode was started or the last step returned
    ///   `terminated` or `truncated`;
    /// - [`Error::NonFiniteInput`] if the state given to
    ///   [`reset_to`](CartPole::reset_to) or [`set_state`](CartPole::set_state) is so large
    ///   that the step overflows.
    pub fn step(&mut self, action: usize) -> Result<Step, Error> {
        if action > 1 {
            return Err(Error::InvalidAction);
        }
        if self.done {
            return Err(Error::EpisodeOver);
        }
        let next = dynamics(self.state, action);
        crate::check_finite(&next, Error::NonFiniteInput)?;

        let [x, _, theta, _] = next;
        // Strict inequalities, as gymnasium: exactly on a threshold is still inside.
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        self.state = next;
        self.steps += 1;
        let truncated = self.steps >= Self::MAX_STEPS;
        self.done = terminated || truncated;
        Ok(Step {
            obs: next,
            reward: 1.0,
            terminated,
            truncated,
        })
    }

    /// The current state `[x, x_dot, theta, theta_dot]`.
    pub fn state(&self) -> [f32; 4] {
        self.state
    }

    /// Steps taken since the last reset.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    fn start(&mut self, state: [f32; 4]) -> [f32; 4] {
        self.state = state;
        self.steps = 0;
        self.done = false;
        state
    }
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

/// One Euler step of the cart-pole equations (Florian 2007, frictionless), with every
/// product and quotient grouped as in gymnasium's `cartpole.py`, so that the only
/// difference from gymnasium is f32 rounding.
fn dynamics(state: [f32; 4], action: usize) -> [f32; 4] {
    let [x, x_dot, theta, theta_dot] = state;
    let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
    let costheta = libm::cosf(theta);
    let sintheta = libm::sinf(theta);

    let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
    let thetaacc = (GRAVITY * sintheta - costheta * temp)
        / (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * (costheta * costheta) / TOTAL_MASS));
    let xacc = temp - POLE_MASS_LENGTH * thetaacc * costheta / TOTAL_MASS;

    [
        x + TAU * x_dot,
        x_dot + TAU * xacc,
        theta + TAU * theta_dot,
        theta_dot + TAU * thetaacc,
    ]
}

#[cfg(test)]
mod tests;
