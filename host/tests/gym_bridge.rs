//! The gymnasium bridge (`host::gym`): gymnasium's CartPole-v1 through the bridge step by
//! step against the core's native CartPole; Lunar Lander and Inverted Pendulum replay
//! exactly from their reset seed; the core's learners run through it; and servers that
//! crash, hang or send garbage give a clear error within the timeout, never a hang.
//!
//! The tests that need Python prepare the repository's `.venv` themselves (creating it or
//! installing `host/python/requirements.txt` when missing) and fail, never skip, with the
//! setup's message when that is impossible. The fake servers are `sh` scripts.

use host::estimators::EstimatorId;
use host::gym::{ensure_python, start, GymEnv, GymError, GymProcess, ServerOptions, Timeouts};
use host::rl::{self, BridgeSettings, GymSettings, LunarRelax, RunConfig, Task};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::rl::cartpole::CartPole;
use relax_core::rl::lax::{LaxConfig, PendulumLax};
use relax_core::rl::{ContinuousEnvironment, Environment, Learner, PgConfig, Transition};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn opts() -> ServerOptions {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let py = PY
        .get_or_init(|| ensure_python(Duration::from_secs(120)).map_err(|e| e.to_string()))
        .clone()
        .unwrap_or_else(|e| panic!("the gymnasium bridge needs Python: {e}"));
    ServerOptions {
        python: py,
        timeouts: Timeouts {
            startup: Duration::from_secs(120),
            reply: Duration::from_secs(30),
        },
        max_episode_steps: None,
        cancel: None,
    }
}

/// A stabilising controller with its action flipped with probability `flip`, so episodes
/// are both short and long.
fn controller(obs: &[f32; 4], rng: &mut Xoshiro128PlusPlus, flip: f32) -> usize {
    let a = usize::from(0.1 * obs[0] + 0.5 * obs[1] + 10.0 * obs[2] + 2.0 * obs[3] > 0.0);
    let u = (rand_core::Rng::next_u32(rng) >> 8) as f32 / (1u32 << 24) as f32;
    if u < flip {
        1 - a
    } else {
        a
    }
}

/// gymnasium's CartPole-v1 through the bridge, every step of 40 episodes against the core's
/// CartPole put on the same state: same next state within 1e-5 (gymnasium integrates in
/// f64, the core in f32, and the bridge sends f32), same reward and end flags.
#[test]
fn bridge_round_trips_cartpole_step_by_step_against_the_native_environment() {
    let mut env = GymEnv::<4>::start(&opts(), "CartPole-v1", false).unwrap();
    assert_eq!(env.spec().max_episode_steps, Some(500));
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut native = CartPole::new();
    let (mut steps, mut truncated, mut worst) = (0u32, 0u32, 0.0f32);
    for ep in 0..40 {
        let mut obs = Environment::reset(&mut env, &mut rng).unwrap();
        native.reset_to(obs).unwrap();
        let flip = [0.5, 0.02, 0.1, 0.2][ep % 4];
        loop {
            let a = controller(&obs, &mut rng, flip);
            native.set_state(obs).unwrap();
            let n = native.step(a).unwrap();
            let g: Transition<4> = Environment::step(&mut env, a).unwrap();
            for k in 0..4 {
                let d = (n.obs[k] - g.obs[k]).abs();
                worst = worst.max(d);
                assert!(
                    d < 1e-5,
                    "episode {ep} step {}: {:?} vs {:?}",
                    native.steps(),
                    n.obs,
                    g.obs
                );
            }
            assert_eq!(
                (n.reward, n.terminated, n.truncated),
                (g.reward, g.terminated, g.truncated)
            );
            steps += 1;
            obs = g.obs;
            if g.terminated || g.truncated {
                truncated += u32::from(g.truncated);
                break;
            }
        }
    }
    println!("{steps} steps, {truncated} episodes truncated at 500, largest difference {worst:e}");
    assert!(
        truncated >= 3 && steps > 3000,
        "too few long episodes: {steps} steps"
    );
    assert_eq!(env.stats().live_steps, steps as u64);
}

/// Plays one episode with actions from `act`, returning every transition.
fn play<const S: usize, const A: usize>(
    env: &mut GymEnv<S>,
    seed_rng: &mut Xoshiro128PlusPlus,
    act: &mut dyn FnMut(usize) -> [f32; A],
    discrete: bool,
) -> ([f32; S], Vec<Transition<S>>) {
    let first = if discrete {
        Environment::reset(env, seed_rng).unwrap()
    } else {
        ContinuousEnvironment::<S, A>::reset(env, seed_rng).unwrap()
    };
    let mut out = Vec::new();
    for t in 0..2000 {
        let a = act(t);
        let tr = if discrete {
            Environment::step(env, a[0] as usize).unwrap()
        } else {
            ContinuousEnvironment::step(env, &a).unwrap()
        };
        out.push(tr);
        if tr.terminated || tr.truncated {
            break;
        }
    }
    (first, out)
}

/// The learners' variance pass replays an episode from its reset seed: gymnasium's
/// Lunar Lander and Inverted Pendulum must give the same episode again, in the same process
/// after other episodes, and in a fresh process.
#[test]
fn lunarlander_and_inverted_pendulum_replay_exactly_from_the_reset_seed() {
    let o = opts();
    let mut ll = GymEnv::<8>::start(&o, "LunarLander-v3", false).unwrap();
    assert_eq!(ll.spec().action, host::gym::ActionSpace::Discrete { n: 4 });
    assert_eq!(ll.spec().max_episode_steps, Some(1000));
    let mut ip = GymEnv::<4>::start(&o, "InvertedPendulum-v5", false).unwrap();
    assert_eq!(
        ip.spec().action,
        host::gym::ActionSpace::Box {
            dim: 1,
            low: vec![-3.0],
            high: vec![3.0]
        }
    );
    for seed in 0..3u64 {
        // Lunar Lander: firing the main engine often keeps it flying for a while.
        let acts: Vec<u32> = (0..2000u32)
            .map(|t| [2, 2, 1, 3, 0, 2][(t as usize * 7 + seed as usize) % 6])
            .collect();
        let run = |env: &mut GymEnv<8>| {
            play::<8, 1>(
                env,
                &mut Xoshiro128PlusPlus::seed_from_u64(seed),
                &mut |t| [acts[t] as f32],
                true,
            )
        };
        let a = run(&mut ll);
        let mut other = Xoshiro128PlusPlus::seed_from_u64(99 + seed);
        play::<8, 1>(&mut ll, &mut other, &mut |t| [acts[t + 1] as f32], true);
        let b = run(&mut ll);
        let c = run(&mut GymEnv::<8>::start(&o, "LunarLander-v3", false).unwrap());
        assert!(
            a.1.len() > 30,
            "Lunar Lander episode of {} steps",
            a.1.len()
        );
        assert_eq!(
            a, b,
            "Lunar Lander seed {seed}: replay in the same process differs"
        );
        assert_eq!(
            a, c,
            "Lunar Lander seed {seed}: replay in a new process differs"
        );

        let run = |env: &mut GymEnv<4>| {
            play::<4, 1>(
                env,
                &mut Xoshiro128PlusPlus::seed_from_u64(seed),
                &mut |t| [0.3 * ((t as f32) * 0.7).sin()],
                false,
            )
        };
        let a = run(&mut ip);
        let b = run(&mut ip);
        assert!(a.1.len() >= 3);
        assert_eq!(a, b, "Inverted Pendulum seed {seed}: replay differs");
    }
    assert_eq!(ll.stats().replayed_steps, 0);
}

/// The replay cache serves the same episode from memory, and continues live (after
/// bringing the process to the same point) when the actions differ.
#[test]
fn replay_cache_serves_the_same_episode_and_falls_back_to_the_process() {
    let o = opts();
    let mut cached = GymEnv::<4>::start(&o, "CartPole-v1", true).unwrap();
    let mut plain = GymEnv::<4>::start(&o, "CartPole-v1", false).unwrap();
    let acts: Vec<f32> = (0..600).map(|t| ((t * 5 / 3) % 2) as f32).collect();
    let seed = Xoshiro128PlusPlus::seed_from_u64(7);
    let a = play::<4, 1>(&mut cached, &mut seed.clone(), &mut |t| [acts[t]], true);
    let live = cached.stats().live_steps;
    let b = play::<4, 1>(&mut cached, &mut seed.clone(), &mut |t| [acts[t]], true);
    assert_eq!(a, b);
    assert_eq!(
        cached.stats().live_steps,
        live,
        "the replay went to the process"
    );
    assert_eq!(cached.stats().replayed_steps, live);
    // Diverge at step 5: the process is reset, replays 5 steps, then goes on live.
    let flip = |t: usize| [if t == 5 { 1.0 - acts[t] } else { acts[t] }];
    let c = play::<4, 1>(&mut cached, &mut seed.clone(), &mut |t| flip(t), true);
    let d = play::<4, 1>(&mut plain, &mut seed.clone(), &mut |t| flip(t), true);
    assert_eq!(
        c, d,
        "after a divergence the cached environment differs from the plain one"
    );
    assert_eq!(&c.1[..5], &a.1[..5]);
}

/// The core's learners run through the bridge: Lunar Lander with RELAX (replays through
/// the process), Inverted Pendulum with LAX, and the runner's files.
#[test]
fn the_core_learners_train_through_the_bridge() {
    let o = opts();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    let mut relax = LunarRelax::new(PgConfig::paper(0.003, 1.0), &mut rng).unwrap();
    let mut ll = GymEnv::<8>::start(&o, "LunarLander-v3", false).unwrap();
    for _ in 0..3 {
        let r = relax
            .train_episode(&mut ll, &mut rng)
            .map_err(|e| ll.explain(e))
            .unwrap();
        assert!(r.steps > 10 && r.ret.is_finite());
    }
    assert_eq!(
        ll.stats().resets,
        6,
        "each episode and its replay reset the process"
    );
    let mut cfg = LaxConfig::paper(0.001, 0.001, 0.001, true);
    cfg.batch_steps = 50;
    let mut lax = PendulumLax::new(cfg, &mut rng).unwrap();
    let mut ip = GymEnv::<4>::start(&o, "InvertedPendulum-v5", false).unwrap();
    let mut updated = 0;
    for _ in 0..20 {
        let r = lax
            .train_episode(&mut ip, &mut rng)
            .map_err(|e| ip.explain(e))
            .unwrap();
        updated += u32::from(r.policy_updated);
    }
    assert!(updated >= 1);

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gym-runner");
    let _ = std::fs::remove_dir_all(&out);
    let cfgs: Vec<RunConfig> = ["lax", "a2c"]
        .iter()
        .map(|&e| RunConfig {
            task: Task::InvertedPendulum,
            estimator: EstimatorId::named(e),
            seeds: vec![0, 1],
            lr: 0.001,
            cv_lr_scale: 1.0,
            gym: Some(GymSettings {
                batch_steps: 100,
                kl_target: 0.002,
                normalize_obs: true,
                value_steps: 2,
                cv_steps: 1,
                cv_per_batch: true,
                cv_loss_per_step: false,
            }),
            episodes: 30,
            stop_when_solved: true,
            var_every: 10,
            var_episodes: 3,
            bridge: Some(BridgeSettings {
                replay_cache: true,
                timeout_s: 30.0,
            }),
        })
        .collect();
    let progress = AtomicU64::new(0);
    let runs = rl::run_all(cfgs, 2, &out, &progress).unwrap();
    for m in &runs {
        assert_eq!(m.seeds.len(), 2);
        for s in &m.seeds {
            assert_eq!(s.returns.len(), 30);
            assert_eq!(s.log_variance.len(), 3);
        }
    }
    let dir = rl::report::write_results(&out, Task::InvertedPendulum, &runs).unwrap();
    let csv = std::fs::read_to_string(dir.join("returns.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 30);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary[0]["env"], "InvertedPendulum-v5");
    assert_eq!(summary[1]["config"]["estimator"], "a2c");
    assert!(summary[0]["episodes_to_solve"]["per_seed"].is_array());
    for png in ["rewards.png", "log_variance.png"] {
        let b = std::fs::read(dir.join(png)).unwrap();
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
    }
    assert!(dir.join("runs").join("lax-seed1.json").exists());
    print!("{}", rl::report::table(Task::InvertedPendulum, &runs));
}

/// An unknown environment id: the server's own message, not a timeout or a hang.
#[test]
fn an_unknown_environment_is_reported_by_the_server() {
    let t = Instant::now();
    let e = start(&opts(), "NoSuchEnvironment-v9").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, GymError::Server { .. }), "{msg}");
    assert!(msg.contains("NoSuchEnvironment"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(60));
}

// ---- fake servers: crash, hang, garbage ----

const HELLO: &str = r#"{"protocol":1,"env":"Fake-v0","gymnasium":"0","obs_dim":4,"action":{"kind":"discrete","n":2},"max_episode_steps":null}"#;
/// Answers one reset with a zero observation (after reading its 5 bytes).
const RESET_REPLY: &str = r"head -c 5 >/dev/null; printf 'O\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'";
const SHORT: Timeouts = Timeouts {
    startup: Duration::from_millis(1500),
    reply: Duration::from_millis(1500),
};

fn fake(script: &str) -> Result<GymProcess, GymError> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    GymProcess::spawn(cmd, "fake", SHORT)
}

fn hello_then(rest: &str) -> String {
    format!("printf '%s\\n' '{HELLO}'; {rest}")
}

/// Runs `f`, checks it failed within the timeout plus a margin, and returns the message.
fn fails_quickly<T: std::fmt::Debug>(
    f: impl FnOnce() -> Result<T, GymError>,
) -> (GymError, String) {
    let t = Instant::now();
    let e = f().expect_err("the fake server should fail");
    let dt = t.elapsed();
    assert!(dt < Duration::from_secs(5), "took {dt:?}: {e}");
    let msg = e.to_string();
    println!("{dt:?}: {msg}");
    (e, msg)
}

#[test]
fn a_server_that_crashes_at_start_is_reported_with_its_stderr() {
    let (e, msg) =
        fails_quickly(|| fake("echo 'Traceback: ImportError: no module named Box2D' >&2; exit 3"));
    assert!(matches!(e, GymError::Exited { .. }), "{msg}");
    assert!(
        msg.contains("exit status: 3") && msg.contains("no module named Box2D"),
        "{msg}"
    );
}

#[test]
fn a_server_that_hangs_at_start_times_out() {
    let (e, msg) = fails_quickly(|| fake("sleep 60"));
    assert!(matches!(e, GymError::Timeout { .. }), "{msg}");
    assert!(msg.contains("handshake"), "{msg}");
}

#[test]
fn a_garbage_handshake_is_a_protocol_error() {
    let (e, msg) = fails_quickly(|| fake("echo 'Welcome to gym!'; sleep 60"));
    assert!(matches!(e, GymError::Protocol { .. }), "{msg}");
    assert!(msg.contains("Welcome to gym!"), "{msg}");
    // Bytes without any newline, then silence: a timeout, not a hang.
    let (e, msg) = fails_quickly(|| fake("printf 'xxxxxxxx'; sleep 60"));
    assert!(matches!(e, GymError::Timeout { .. }), "{msg}");
}

#[test]
fn a_server_that_hangs_mid_episode_times_out_and_is_killed() {
    let mut p = fake(&hello_then(&format!("{RESET_REPLY}; sleep 60"))).unwrap();
    assert_eq!(p.reset(1).unwrap(), vec![0.0; 4]);
    let pid = p.id();
    let (e, msg) = fails_quickly(|| p.step_discrete(0));
    assert!(matches!(e, GymError::Timeout { .. }), "{msg}");
    assert!(msg.contains("step"), "{msg}");
    // Every later call fails at once with the same error.
    let t = Instant::now();
    assert_eq!(p.step_discrete(0).unwrap_err(), e);
    assert!(t.elapsed() < Duration::from_millis(100));
    drop(p);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the server {pid} still exists"
    );
}

#[test]
fn a_server_that_crashes_mid_episode_is_reported() {
    let mut p = fake(&hello_then(&format!(
        "{RESET_REPLY}; head -c 5 >/dev/null; echo 'Segmentation fault in Box2D' >&2; exit 139"
    )))
    .unwrap();
    p.reset(1).unwrap();
    let (e, msg) = fails_quickly(|| p.step_discrete(1));
    assert!(matches!(e, GymError::Exited { .. }), "{msg}");
    assert!(
        msg.contains("139") && msg.contains("Segmentation fault"),
        "{msg}"
    );
}

#[test]
fn a_garbage_reply_is_a_protocol_error() {
    let mut p = fake(&hello_then(
        "head -c 5 >/dev/null; printf 'Z garbage garbage'; sleep 60",
    ))
    .unwrap();
    let (e, msg) = fails_quickly(|| p.reset(0));
    assert!(matches!(e, GymError::Protocol { .. }), "{msg}");
    assert!(msg.contains("garbage"), "{msg}");
    // Bad step flags.
    let mut p = fake(&hello_then(&format!(
        "{RESET_REPLY}; head -c 5 >/dev/null; printf 'T\\000\\000\\200\\077\\011'; sleep 60"
    )))
    .unwrap();
    p.reset(0).unwrap();
    let (e, msg) = fails_quickly(|| p.step_discrete(0));
    assert!(matches!(e, GymError::Protocol { .. }), "{msg}");
    // A truncated reply (too few bytes, then exit).
    let mut p = fake(&hello_then(
        "head -c 5 >/dev/null; printf 'O\\000\\000'; exit 0",
    ))
    .unwrap();
    let (e, msg) = fails_quickly(|| p.reset(0));
    assert!(matches!(e, GymError::Exited { .. }), "{msg}");
    // A handshake that is JSON but not the protocol's.
    let (e, msg) = fails_quickly(|| fake(r#"echo '{"protocol": 1, "obs_dim": "four"}'; sleep 60"#));
    assert!(matches!(e, GymError::Protocol { .. }), "{msg}");
}

/// Through `GymEnv` a learner sees the core's `Error::Environment`, and the host gets the
/// bridge's message back.
#[test]
fn a_learner_gets_an_environment_error_and_the_host_the_message() {
    let p = fake(&hello_then(&format!("{RESET_REPLY}; sleep 60"))).unwrap();
    let mut env = GymEnv::<4>::new(p, true).unwrap();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0);
    let mut learner =
        relax_core::rl::relax::CartPoleRelax::new(PgConfig::paper(0.01, 1.0), &mut rng).unwrap();
    let before = learner.policy_params().to_vec();
    let t = Instant::now();
    let e = learner.train_episode(&mut env, &mut rng).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(e, relax_core::Error::Environment);
    let msg = env.explain(e).to_string();
    assert!(msg.contains("no reply to step"), "{msg}");
    assert_eq!(learner.policy_params().to_vec(), before);
    // The wrong observation size is refused up front.
    let p = fake(&hello_then("sleep 60")).unwrap();
    let e = GymEnv::<8>::new(p, true).unwrap_err();
    assert!(e.to_string().contains("4-dimensional observations"), "{e}");
}

/// A server error reply (`E`) is not fatal: the message comes back, the process goes on.
#[test]
fn a_server_error_reply_carries_its_message() {
    let mut p = fake(&hello_then(&format!(
        "head -c 5 >/dev/null; printf 'E\\021\\000\\000\\000step before reset'; {RESET_REPLY}; sleep 60"
    )))
    .unwrap();
    let e = p.step_discrete(0).unwrap_err();
    assert!(matches!(e, GymError::Server { .. }), "{e}");
    assert!(e.to_string().contains("step before reset"), "{e}");
    assert_eq!(p.reset(0).unwrap(), vec![0.0; 4]);
}

/// `relax rl inverted-pendulum-cv` at reduced settings: after A2C pre-training `c^` has zero
/// output, so LAX's and A2C's gradients are identical at the freeze (ratio exactly 1); after
/// two 2500-step batches of critic training `c^` has stepped and the two differ; the files
/// are written; bad freeze points are refused before anything starts.
#[test]
fn the_frozen_policy_variance_check_starts_from_a2c_and_trains_c_hat() {
    use host::rl::cv_check::run;
    use host::rl::{CvCheckArgs, Pretrain};
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pendulum-cv");
    let _ = std::fs::remove_dir_all(&out);
    let mut args = CvCheckArgs {
        seeds: 1,
        at: vec![10, 20],
        critic_steps: 5000,
        cv_per_episode: false,
        cv_loss_per_step: false,
        cv_steps: 1,
        measure: 5,
        pretrain: Pretrain::A2c,
        lr: 0.03,
        cv_lr_scale: 1.0,
        check_cv_lr: None,
        jobs: 1,
        timeout: 30.0,
    };
    let points = run(&args, 0, &out).unwrap();
    assert_eq!(points.len(), 2);
    for p in &points {
        assert_eq!(p.before.ratio, 1.0);
        assert_eq!(p.before.z, 0.0);
        assert_eq!(p.before.lax_var, p.before.a2c_var);
        assert!(p.after.ratio.is_finite() && p.after.ratio != 1.0, "{p:?}");
        assert!(p.after.mean_steps >= 1.0);
    }
    let dir = out.join("rl-inverted-pendulum-cv");
    let csv = std::fs::read_to_string(dir.join("check.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4);
    assert!(dir.join("summary.json").exists());
    args.at = vec![20, 10];
    let e = run(&args, 0, &out).unwrap_err().to_string();
    assert!(e.contains("--at"), "{e}");
}
