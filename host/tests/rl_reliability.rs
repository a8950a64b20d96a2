//! Reliability of `relax rl` on the gymnasium bridge (issue 15): no hang, no panic, no lost
//! or mixed-up result. Each test runs the `relax` binary against a fake interpreter
//! (`RELAX_PYTHON`, an `sh` script that answers the setup check and then plays a server
//! that hangs, never ends its episodes, dies, or sends NaN) and checks the exit status, the
//! time to the error, the message, and that no process of the run is left behind. Short
//! timeouts: each test takes a few seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A fresh scratch directory for `name`.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("rl-reliability")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pinned_gymnasium() -> String {
    let req = include_str!("../python/requirements.txt");
    req.lines()
        .find_map(|l| l.trim().strip_prefix("gymnasium").map(|r| r.to_string()))
        .and_then(|r| r.split("==").nth(1).map(str::to_string))
        .expect("gymnasium is pinned")
}

/// An interpreter that passes the setup check (`python -c ...` prints the pinned
/// gymnasium version) and runs `server` (sh) when started as a server.
fn fake_python(dir: &Path, server: &str) -> PathBuf {
    let p = dir.join("python");
    let text = format!(
        "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then echo {}; exit 0; fi\n{server}\n",
        pinned_gymnasium()
    );
    std::fs::write(&p, text).unwrap();
    Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    p
}

/// The handshake of a Lunar Lander look-alike with `limit` as its `max_episode_steps`.
fn hello(limit: &str) -> String {
    format!(
        "printf '%s\\n' '{{\"protocol\":1,\"env\":\"LunarLander-v3\",\"gymnasium\":\"0\",\
         \"obs_dim\":8,\"action\":{{\"kind\":\"discrete\",\"n\":4}},\"max_episode_steps\":{limit}}}'"
    )
}

/// `n` zero f32s, as printf escapes.
fn zeros(n: usize) -> String {
    "\\000".repeat(4 * n)
}

/// Reads one 5-byte request and answers a reset with a zero observation.
fn reset_reply() -> String {
    format!("head -c 5 >/dev/null; printf 'O{}'", zeros(8))
}

/// A step reply (reward 0, flags 0) with observation `obs` (printf escapes of 32 bytes).
fn step_reply(obs: &str) -> String {
    format!("head -c 5 >/dev/null; printf 'T{}\\000{obs}'", zeros(1))
}

struct Outcome {
    status: std::process::ExitStatus,
    secs: f64,
    stderr: String,
}

/// Runs `relax --out <dir>/out rl <args>` with `RELAX_PYTHON=python`.
fn relax(dir: &Path, python: &Path, args: &[&str]) -> Outcome {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_relax"))
        .arg("--out")
        .arg(dir.join("out"))
        .arg("rl")
        .args(args)
        .env("RELAX_PYTHON", python)
        .output()
        .unwrap();
    let o = Outcome {
        status: out.status,
        secs: t.elapsed().as_secs_f64(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    };
    println!(
        "exit {:?} after {:.2} s: {}",
        o.status.code(),
        o.secs,
        o.stderr
    );
    o
}

/// The process groups still alive among `leaders` (each fake server leads its own group).
fn alive_groups(leaders: &[u32]) -> Vec<u32> {
    let mut alive = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: fields after the last ')'.
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let state = f.first().copied().unwrap_or("");
        if let Some(pgrp) = f.get(2).and_then(|s| s.parse::<u32>().ok()) {
            if leaders.contains(&pgrp) && state != "Z" {
                alive.push(pgrp);
            }
        }
    }
    alive
}

fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Until `limit`, the groups of `leaders` that are still alive.
fn wait_gone(leaders: &[u32], limit: Duration) -> Vec<u32> {
    let end = Instant::now() + limit;
    loop {
        let alive = alive_groups(leaders);
        if alive.is_empty() || Instant::now() > end {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An interpreter that never answers the setup check: the check is killed (with the
/// `sleep` it started) after `--timeout`, with a message that says so.
#[test]
fn an_interpreter_that_never_answers_fails_after_the_timeout_and_is_killed() {
    let dir = scratch("check-hangs");
    let py = dir.join("python");
    let pidfile = dir.join("pids");
    std::fs::write(
        &py,
        format!(
            "#!/bin/sh\necho $$ >> {0}\nsleep 60 &\necho $! >> {0}\nwait\n",
            pidfile.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&py).status().unwrap();
    let o = relax(
        &dir,
        &py,
        &["lunarlander", "--seeds", "1", "--timeout", "1"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.secs < 5.0, "took {:.1} s", o.secs);
    assert!(
        o.stderr.contains("RELAX_PYTHON=") && o.stderr.contains("no answer within 1.0 s (killed"),
        "{}",
        o.stderr
    );
    let p = pids(&pidfile);
    assert_eq!(p.len(), 2, "{p:?}");
    let alive: Vec<u32> = p
        .iter()
        .copied()
        .filter(|q| Path::new(&format!("/proc/{q}")).exists())
        .filter(|q| {
            let s = std::fs::read_to_string(format!("/proc/{q}/stat")).unwrap_or_default();
            !s.contains(") Z ")
        })
        .collect();
    assert!(alive.is_empty(), "still running: {alive:?}");
}

/// A server that never sends its handshake fails after `--timeout` (not 60 s).
#[test]
fn the_handshake_waits_no_longer_than_the_timeout() {
    let dir = scratch("handshake-hangs");
    let py = fake_python(&dir, "sleep 60");
    let o = relax(
        &dir,
        &py,
        &[
            "lunarlander",
            "--seeds",
            "1",
            "--estimator",
            "relax",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.secs < 5.0, "took {:.1} s", o.secs);
    assert!(
        o.stderr
            .contains("LunarLander-v3 relax seed 0: gymnasium server LunarLander-v3: no reply to the handshake within 1.0 s"),
        "{}",
        o.stderr
    );
}

/// A bad `RELAX_PYTHON` is shown escaped (no raw escape sequence reaches the terminal) and
/// cut to a bounded length.
#[test]
fn a_bad_interpreter_path_is_escaped_and_capped_in_the_message() {
    let dir = scratch("bad-path");
    let bad = PathBuf::from(format!("/nonexistent/\x1b[31mred\x07{}", "x".repeat(1000)));
    let o = relax(
        &dir,
        &bad,
        &["lunarlander", "--seeds", "1", "--timeout", "1"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !o.stderr.contains('\x1b') && !o.stderr.contains('\x07'),
        "{:?}",
        o.stderr
    );
    assert!(o.stderr.contains("\\u{1b}[31mred\\u{7}"), "{}", o.stderr);
    assert!(o.stderr.len() < 2000, "{} bytes", o.stderr.len());
}

/// A server whose episodes never end, although its handshake announced 50 steps: the run
/// fails at step 51 naming the run, instead of running forever.
#[test]
fn an_episode_past_the_announced_limit_is_an_error_naming_the_run() {
    let dir = scratch("endless");
    let server = format!(
        "{}\n{}\nwhile true; do {}; done",
        hello("50"),
        reset_reply(),
        step_reply(&zeros(8))
    );
    let py = fake_python(&dir, &server);
    let o = relax(
        &dir,
        &py,
        &[
            "lunarlander",
            "--seeds",
            "1",
            "--estimator",
            "a2c",
            "--var-every",
            "0",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.secs < 5.0, "took {:.1} s", o.secs);
    assert!(
        o.stderr
            .contains("LunarLander-v3 a2c seed 0: training episode 1:")
            && o.stderr
                .contains("the episode went past 50 steps without ending"),
        "{}",
        o.stderr
    );
}

/// A NaN in an observation is reported as such (with the step), not as non-determinism.
#[test]
fn a_nan_observation_is_reported_with_the_run_and_step() {
    let dir = scratch("nan");
    let nan = format!("\\000\\000\\300\\177{}", zeros(7));
    let server = format!(
        "{}\n{}\n{}\n{}\n{}\nsleep 60",
        hello("1000"),
        reset_reply(),
        step_reply(&zeros(8)),
        step_reply(&zeros(8)),
        step_reply(&nan)
    );
    let py = fake_python(&dir, &server);
    let o = relax(
        &dir,
        &py,
        &[
            "lunarlander",
            "--seeds",
            "1",
            "--estimator",
            "relax",
            "--var-every",
            "0",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.secs < 5.0, "took {:.1} s", o.secs);
    assert!(
        o.stderr
            .contains("LunarLander-v3 relax seed 0: training episode 1:")
            && o.stderr
                .contains("returned a non-finite observation at step 3 of the episode")
            && !o.stderr.contains("deterministic"),
        "{}",
        o.stderr
    );
}

/// Two runs in parallel: one server dies after 30 steps while the other is in a long
/// variance measurement with slow steps (0.2 s each, 1000-step episodes). The failure is
/// reported within seconds, names the run, and both servers' process groups are gone.
#[test]
fn a_failing_run_stops_its_sibling_within_seconds_and_no_server_is_left() {
    let dir = scratch("one-dies");
    let first = dir.join("first");
    let pidfile = dir.join("pids");
    let server = format!(
        "echo $$ >> {pids}\n{hello}\n{reset}\n\
         if mkdir {first} 2>/dev/null; then\n\
           i=0; while [ $i -lt 30 ]; do {step}; i=$((i+1)); done\n\
           head -c 5 >/dev/null; echo \"fake crash in server $$\" >&2; exit 139\n\
         fi\n\
         while true; do sleep 0.2; {step}; done",
        pids = pidfile.display(),
        hello = hello("1000"),
        reset = reset_reply(),
        first = first.display(),
        step = step_reply(&zeros(8)),
    );
    let py = fake_python(&dir, &server);
    let o = relax(
        &dir,
        &py,
        &[
            "lunarlander",
            "--seeds",
            "2",
            "--estimator",
            "relax",
            "--jobs",
            "2",
            "--timeout",
            "10",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.secs < 5.0, "took {:.1} s", o.secs);
    let leaders = pids(&pidfile);
    assert_eq!(leaders.len(), 2, "{leaders:?}");
    let crashed = &o.stderr;
    assert!(
        (crashed.contains("LunarLander-v3 relax seed 0: ")
            || crashed.contains("LunarLander-v3 relax seed 1: "))
            && crashed.contains("exit status: 139")
            && crashed.contains("fake crash in server"),
        "{crashed}"
    );
    assert!(!crashed.contains("stopped"), "{crashed}");
    let alive = wait_gone(&leaders, Duration::from_millis(500));
    assert!(alive.is_empty(), "process groups still alive: {alive:?}");
}

/// `--replot` refuses per-seed files made with other settings, naming the file and the
/// differing fields; with the same settings it rewrites the results.
#[test]
fn replot_refuses_runs_made_with_other_settings() {
    let dir = scratch("replot");
    // A fake Lunar Lander whose episodes end after one step: fast, and enough for files.
    let fake = fake_python(
        &dir,
        &format!(
            "{}\nwhile true; do op=$(head -c 1); head -c 4 >/dev/null; \
             if [ \"$op\" = R ]; then printf 'O{z}'; elif [ -z \"$op\" ]; then exit 0; \
             else printf 'T{r}\\001{z}'; fi; done",
            hello("1000"),
            z = zeros(8),
            r = zeros(1),
        ),
    );
    let base = [
        "lunarlander",
        "--seeds",
        "1",
        "--estimator",
        "a2c",
        "--episodes",
        "3",
    ];
    let o = relax(&dir, &fake, &base);
    assert!(o.status.success(), "{}", o.stderr);
    let file = dir.join("out/rl-lunarlander/runs/a2c-seed0.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["config"]["lr"], serde_json::json!(0.003));
    assert_eq!(v["returns"].as_array().unwrap().len(), 3);
    let mut same = base.to_vec();
    same.push("--replot");
    assert!(relax(&dir, &fake, &same).status.success());
    let mut other = same.clone();
    other.extend(["--lr", "0.01", "--run-after-solved"]);
    let o = relax(&dir, &fake, &other);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stderr
            .contains("a2c-seed0.json: made with other settings")
            && o.stderr.contains("lr: file 0.003, now 0.01")
            && o.stderr.contains("stop_when_solved: file true, now false"),
        "{}",
        o.stderr
    );
    // A file without a configuration (an older relax) is refused too.
    let mut v = v;
    v.as_object_mut().unwrap().remove("config");
    std::fs::write(&file, v.to_string()).unwrap();
    let o = relax(&dir, &fake, &same);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stderr.contains("no configuration stored"), "{}", o.stderr);
}

/// A server that announces no time limit gets the host's cap ([`DEFAULT_STEP_CAP`], lowered
/// here): an endless episode ends in an error, not a hang.
#[test]
fn an_endless_episode_without_an_announced_limit_hits_the_hard_cap() {
    use host::gym::env::DEFAULT_STEP_CAP;
    use host::gym::{GymEnv, GymProcess, Timeouts};
    use rand_core::SeedableRng;
    use relax_core::rl::Environment;
    let script = format!(
        "{}\n{}\nwhile true; do {}; done",
        hello("null"),
        reset_reply(),
        step_reply(&zeros(8))
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    let t = Timeouts {
        startup: Duration::from_secs(2),
        reply: Duration::from_secs(2),
    };
    let p = GymProcess::spawn(cmd, "endless", t).unwrap();
    let mut env = GymEnv::<8>::new(p, true).unwrap();
    assert_eq!(env.step_limit(), DEFAULT_STEP_CAP);
    env.set_step_limit(20);
    let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(0);
    Environment::reset(&mut env, &mut rng).unwrap();
    for _ in 0..20 {
        Environment::step(&mut env, 0).unwrap();
    }
    let e = Environment::step(&mut env, 0).unwrap_err();
    let msg = env.explain(e).to_string();
    assert!(
        msg.contains("went past 20 steps") && msg.contains("without a time limit"),
        "{msg}"
    );
}
