"""Trace gymnasium's CartPole-v1 for the Rust parity test (tests/tests/gym_parity.rs).

For each seed: reset the real CartPole-v1 with that seed, act with a seeded policy until
the episode ends (terminated or truncated at 500 steps), and print the full float64
state (env.unwrapped.state) after the reset and after every step.

Policies, so that the trace holds both short and long episodes:
  random      uniform random actions (episodes of ~10-60 steps);
  controller  a stabilizing linear state feedback whose action is flipped with a
              seeded probability `flip` (many episodes reach truncation at 500).

Output: plain text, one record per line, fields separated by one space; floats are
Python's repr of a float64, which round-trips exactly.
  header gymnasium <version> numpy <version> seeds <n>
  episode <seed> <policy> <flip>
  reset <x> <x_dot> <theta> <theta_dot>
  step <action> <x> <x_dot> <theta> <theta_dot> <reward> <terminated 0|1> <truncated 0|1>
  end <steps>

Usage: python cartpole_trace.py [--seeds 100]
"""

import argparse
import sys

import gymnasium as gym
import numpy as np

RANDOM_SEEDS = 30
FLIPS = (0.05, 0.15, 0.2, 0.25, 0.3)


def policy_for(seed):
    """(name, flip probability) of the policy that drives episode `seed`."""
    if seed < RANDOM_SEEDS:
        return "random", 0.5
    return "controller", FLIPS[seed % len(FLIPS)]


def balance(state):
    """Push the cart under the pole, and back toward the centre."""
    x, x_dot, theta, theta_dot = state
    return int(0.1 * x + 0.5 * x_dot + 10.0 * theta + 2.0 * theta_dot > 0.0)


def fmt(values):
    return " ".join(repr(float(v)) for v in values)


def trace(seed, out):
    env = gym.make("CartPole-v1")
    # The action stream has its own generator, independent of the environment's.
    rng = np.random.default_rng(10_000 + seed)
    name, flip = policy_for(seed)
    env.reset(seed=seed)
    out.write(f"episode {seed} {name} {flip!r}\n")
    out.write(f"reset {fmt(env.unwrapped.state)}\n")
    steps = 0
    while True:
        state = env.unwrapped.state
        if name == "random":
            action = int(rng.integers(2))
        else:
            action = balance(state)
            if rng.random() < flip:
                action = 1 - action
        _, reward, terminated, truncated, _ = env.step(action)
        steps += 1
        out.write(
            f"step {action} {fmt(env.unwrapped.state)} {float(reward)!r} "
            f"{int(terminated)} {int(truncated)}\n"
        )
        if terminated or truncated:
            break
    out.write(f"end {steps}\n")
    env.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="episodes 0..seeds-1")
    args = parser.parse_args()
    out = sys.stdout
    out.write(
        f"header gymnasium {gym.__version__} numpy {np.__version__} seeds {args.seeds}\n"
    )
    for seed in range(args.seeds):
        trace(seed, out)
    out.flush()


if __name__ == "__main__":
    main()
