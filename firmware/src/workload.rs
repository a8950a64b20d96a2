//! PLACEHOLDER WORKLOAD: stands in for the core's RELAX CartPole learner until it exists.
//!
//! Everything around it (logging, exit codes, stack measurement, the QEMU test, the size
//! and instruction-count script) is final; only this file's body is to be replaced, e.g.
//! `run` becomes "build the learner from `seed`, train episode by episode, call `on_step`
//! once per environment step and `on_episode` after each episode".
//!
//! This file is shared, not copied: the firmware compiles it as `mod workload`, and the
//! host test `tests/tests/firmware_qemu.rs` includes the same file with `#[path]` and
//! runs it on the desktop. Both sides therefore execute the same source with the same
//! seed, the same `libm` and the same `relax_core`, so the test's bit-identity check of
//! the episode returns is real today and stays real after the swap.
//!
//! Constraints the replacement must keep: `no_std`, no allocation, no `unsafe`, only
//! crates both sides depend on (`relax_core`, `libm`, `rand_core`, `rand_xoshiro`).

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

/// The seed both the firmware and the host test use.
pub const SEED: u64 = 0x5EED_F411;

/// Episodes the firmware may spend before it reports "not solved" (exit code 2). The
/// QEMU test asserts "solved at episode N" with N within this budget.
pub const EPISODE_BUDGET: u32 = 5;

/// Returns kept for the running mean (gymnasium's "solved" criterion averages 100).
const WINDOW: usize = 100;

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

/// Running mean of the last `WINDOW` returns in a fixed ring buffer (no allocation).
struct Mean100 {
    returns: [f32; WINDOW],
    len: usize,
    next: usize,
}

impl Mean100 {
    const fn new() -> Self {
        Self {
            returns: [0.0; WINDOW],
            len: 0,
            next: 0,
        }
    }

    fn push(&mut self, ret: f32) -> f32 {
        self.returns[self.next] = ret;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        // Re-summed each time rather than updated incrementally, so rounding never drifts
        // and the value depends only on the window's contents.
        let sum: f32 = self.returns[..self.len].iter().sum();
        sum / self.len as f32
    }
}

/// Uniform in [0, 1) from the top 24 bits, so every value is exactly representable.
fn uniform(rng: &mut Xoshiro128PlusPlus) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// PLACEHOLDER: runs up to `budget` episodes from `seed`; calls `on_step` once per
/// environment step and `on_episode` after each episode. Returns the episode at which
/// the task counted as solved, or `None` when the budget ran out first.
///
/// The "environment" is a damped pendulum with a sigmoid policy and random actions:
/// enough `libm` transcendental math and `relax_core` calls per step that the host/target
/// comparison and the per-step instruction count mean something. It "solves" by
/// definition after `EPISODE_BUDGET` episodes.
pub fn run(
    seed: u64,
    budget: u32,
    mut on_step: impl FnMut(),
    mut on_episode: impl FnMut(&Episode),
) -> Option<u32> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut mean = Mean100::new();
    for index in 1..=budget {
        let steps = 20 + rng.next_u32() % 30;
        let mut theta = 0.1 * (uniform(&mut rng) - 0.5);
        let mut omega = 0.0f32;
        let mut ret = 0.0f32;
        for _ in 0..steps {
            on_step();
            let p_right = relax_core::math::sigmoid(4.0 * theta + omega);
            let force = if uniform(&mut rng) < p_right {
                1.0
            } else {
                -1.0
            };
            // Euler step, like gymnasium's CartPole.
            let alpha = 9.8 * libm::sinf(theta) - 0.1 * omega + force * libm::cosf(theta);
            theta += 0.02 * omega;
            omega += 0.02 * alpha;
            ret += libm::cosf(theta) * libm::expf(-libm::fabsf(omega));
        }
        let episode = Episode {
            index,
            ret,
            mean100: mean.push(ret),
        };
        on_episode(&episode);
        if index == EPISODE_BUDGET {
            return Some(index);
        }
    }
    None
}
