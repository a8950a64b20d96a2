"""Serve one gymnasium environment over stdin/stdout for the `relax` host (host/src/gym/).

The host starts one process per environment (one per seed) and drives it step by step;
the learners stay in Rust, this program only supplies observations and rewards.

Usage: python -u gym_server.py <env-id> [--max-episode-steps N]

Protocol (protocol version 1). Stdout carries only protocol bytes; Python's own messages
(warnings, tracebacks) go to stderr, which the host keeps to explain a failure.

1. Handshake: one line of JSON, then binary frames.
   {"protocol": 1, "env": id, "gymnasium": version, "obs_dim": n,
    "action": {"kind": "discrete", "n": k} | {"kind": "box", "dim": d, "low": [...], "high": [...]},
    "max_episode_steps": m | null}
   or, when the environment cannot be made, {"error": "message"} and exit status 1.
2. Requests (host -> server), little-endian:
   b"R" u32 seed            reset(seed=seed)               -> observation frame
   b"D" u32 action          step(action), discrete actions -> step frame
   b"C" f32 * dim           step(action), box actions      -> step frame
                            (clipped to the action space's bounds, as MuJoCo's ctrlrange does)
   b"Q"                     exit with status 0
3. Replies (server -> host), little-endian:
   b"O" f32 * obs_dim                                   observation after reset
   b"T" f32 reward, u8 flags (1 terminated, 2 truncated), f32 * obs_dim
   b"E" u32 length, utf-8 message                       the request failed; the process goes on

End of input (the host went away) ends the process quietly.
"""

import argparse
import json
import struct
import sys

PROTOCOL = 1


def describe_action(space, spaces):
    if isinstance(space, spaces.Discrete):
        if int(space.start) != 0:
            raise ValueError(f"discrete action space must start at 0, got start={space.start}")
        return {"kind": "discrete", "n": int(space.n)}
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        return {
            "kind": "box",
            "dim": int(space.shape[0]),
            "low": [float(v) for v in space.low],
            "high": [float(v) for v in space.high],
        }
    raise ValueError(f"unsupported action space {space!r} (Discrete or 1-D Box only)")


def read_exact(stream, n):
    data = stream.read(n)
    if data is None or len(data) < n:
        return None
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env")
    parser.add_argument("--max-episode-steps", type=int, default=None)
    args = parser.parse_args()
    out = sys.stdout.buffer
    inp = sys.stdin.buffer

    try:
        import gymnasium as gym
        import numpy as np
        from gymnasium import spaces

        kwargs = {"disable_env_checker": True}
        if args.max_episode_steps is not None:
            kwargs["max_episode_steps"] = args.max_episode_steps
        env = gym.make(args.env, **kwargs)
        obs_space = env.observation_space
        if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(f"unsupported observation space {obs_space!r} (1-D Box only)")
        action = describe_action(env.action_space, spaces)
        spec = env.spec
        hello = {
            "protocol": PROTOCOL,
            "env": args.env,
            "gymnasium": gym.__version__,
            "obs_dim": int(obs_space.shape[0]),
            "action": action,
            "max_episode_steps": None if spec is None else spec.max_episode_steps,
        }
    except Exception as e:  # report any failure to the host in the handshake
        out.write((json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n").encode())
        out.flush()
        raise SystemExit(1)

    out.write((json.dumps(hello) + "\n").encode())
    out.flush()

    obs_dim = hello["obs_dim"]
    u32 = struct.Struct("<I")
    head = struct.Struct("<cfB")
    if action["kind"] == "box":
        act_dim = action["dim"]
        act_fmt = struct.Struct(f"<{act_dim}f")
        low = np.asarray(action["low"], dtype=np.float32)
        high = np.asarray(action["high"], dtype=np.float32)
    n_actions = action.get("n", 0)
    started = False

    def error(msg):
        b = msg.encode()
        out.write(b"E" + u32.pack(len(b)) + b)
        out.flush()

    def obs_bytes(obs):
        return np.asarray(obs, dtype="<f4").reshape(obs_dim).tobytes()

    def step_reply(a):
        obs, reward, terminated, truncated, _ = env.step(a)
        flags = (1 if terminated else 0) | (2 if truncated else 0)
        out.write(head.pack(b"T", float(reward), flags) + obs_bytes(obs))
        out.flush()

    while True:
        op = inp.read(1)
        if not op:
            return
        if op == b"R":
            data = read_exact(inp, 4)
            if data is None:
                return
            obs, _ = env.reset(seed=u32.unpack(data)[0])
            started = True
            out.write(b"O" + obs_bytes(obs))
            out.flush()
        elif op == b"D":
            data = read_exact(inp, 4)
            if data is None:
                return
            a = u32.unpack(data)[0]
            if action["kind"] != "discrete":
                error("discrete step on a box action space")
            elif a >= n_actions:
                error(f"action {a} out of range 0..{n_actions}")
            elif not started:
                error("step before reset")
            else:
                step_reply(a)
        elif op == b"C":
            if action["kind"] != "box":
                error("box step on a discrete action space")
                continue
            data = read_exact(inp, act_fmt.size)
            if data is None:
                return
            a = np.clip(np.frombuffer(data, dtype="<f4"), low, high)
            if not np.all(np.isfinite(a)):
                error("non-finite action")
            elif not started:
                error("step before reset")
            else:
                step_reply(a)
        elif op == b"Q":
            env.close()
            return
        else:
            error(f"unknown request {op!r}")
            return


if __name__ == "__main__":
    main()
