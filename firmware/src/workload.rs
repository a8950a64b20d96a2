//! The workload: the core's RELAX CartPole learner, unchanged, with the paper's networks
//! (policy 4-10-10-2, control variate 6-10-10-1).
//!
//! This file is shared, not copied: the firmware compiles it as `mod workload`, and the
//! host test `tests/tests/firmware_qemu.rs` includes the same file with `#[path]` and
//! runs it on the desktop. Both sides therefore execute the same source with the same
//! seed, the same `libm` and the same `relax_core`, so the test's bit-identity check of
//! the episode returns compares the chip against the desktop for real.
//!
//! Constraints: `no_std`, no allocation, no `unsafe`, only crates both sides depend on
//! (`relax_core`, `libm`, `rand_core`, `rand_xoshiro`).

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::rl::cartpole::CartPole;
use relax_core::rl::relax::CartPoleRelax;
use relax_core::rl::{Environment, Learner, PgConfig, ReturnWindow, Transition};
use relax_core::Error;

/// The seed both the firmware and the host test use.
pub const SEED: u64 = 0x5EED_F411;

/// Episodes the firmware may spend before it reports "not solved" (exit code 2). The
/// QEMU test asserts "solved at episode N" with N within this budget.
pub const EPISODE_BUDGET: u32 = 1000;

/// Adam step size of the policy and the control variate (`cv_lr_scale` 1).
pub const LR: f32 = 0.01;

/// gymnasium's (and the paper's) criterion: mean return of the last 100 episodes >= 195.
pub const SOLVED_MEAN: f32 = 195.0;

/// One finished episode, as the firmware logs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    /// 1-based episode number.
    pub index: u32,
    /// Sum of the episode's rewards.
    pub ret: f32,
    /// Mean return over the last (up to) 100 episodes, this one included.
    pub mean100: f32,
}

/// CartPole that calls `on_step` once per step the agent experiences. The RELAX learner
/// plays each episode and then replays it from the saved generator for its variance pass
/// (two resets per episode); only the first pass is marked, so the instructions between
/// two marks, averaged over the run, are the cost of one environment step *including*
/// all learning (forward, backward, replay and both optimizer steps).
struct Marked<F: FnMut()> {
    env: CartPole,
    resets: u32,
    on_step: F,
}

impl<F: FnMut()> Environment<4> for Marked<F> {
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; 4], Error> {
        self.resets += 1;
        Ok(self.env.reset(rng))
    }

    fn step(&mut self, action: usize) -> Result<Transition<4>, Error> {
        if self.resets % 2 == 1 {
            (self.on_step)();
        }
        Environment::step(&mut self.env, action)
    }
}

/// Trains for up to `budget` episodes from `seed`; calls `on_step` once per experienced
/// environment step and `on_episode` after each episode. Returns the episode at which the
/// 100-episode mean return first reached 195, or `None` when the budget ran out first
/// (or the learner refused an update, which it reports as an error only on bad numbers).
pub fn run(
    seed: u64,
    budget: u32,
    on_step: impl FnMut(),
    mut on_episode: impl FnMut(&Episode),
) -> Option<u32> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut learner = CartPoleRelax::new(PgConfig::paper(LR, 1.0), &mut rng).ok()?;
    let mut env = Marked {
        env: CartPole::new(),
        resets: 0,
        on_step,
    };
    // gymnasium's (and the paper's) window: the last 100 returns.
    let mut window = ReturnWindow::<100>::new();
    for index in 1..=budget {
        let report = learner.train_episode(&mut env, &mut rng).ok()?;
        window.push(report.ret);
        let episode = Episode {
            index,
            ret: report.ret,
            mean100: window.mean_f32(),
        };
        on_episode(&episode);
        if window.solved(SOLVED_MEAN) {
            return Some(index);
        }
    }
    None
}
