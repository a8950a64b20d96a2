//! The `relax` binary under a careless or unlucky user (issue 15): every numeric flag at 0,
//! negative, NaN, inf and beyond its maximum, hostile data, fonts and output directories,
//! two runs on one `--out`, and Ctrl-C / SIGTERM while computing and while writing. Each
//! attack must end with a non-zero exit within a few seconds, a message naming the flag or
//! path at fault, and the results of an earlier run in the output directory unchanged byte
//! for byte. (The gymnasium bridge's own attacks, a server that hangs, dies or lies, are in
//! gym_bridge.rs; the core's, under fuzzing, in the core's tests.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const RELAX: &str = env!("CARGO_BIN_EXE_relax");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relax-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn relax(out: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(RELAX);
    c.arg("--out").arg(out).args(args);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for `child` at most `limit`; kills it and fails the test past that.
fn wait(mut child: Child, limit: Duration, what: &str) -> (Output, Duration) {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != ".lock") {
                m.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    m
}

/// A small complete toy result in `out`, as an earlier run would leave it.
fn earlier_toy(out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let c = relax(out, &["toy", "--steps", "40", "--var-samples", "20"])
        .spawn()
        .unwrap();
    let (o, _) = wait(c, Duration::from_secs(60), "the earlier toy run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let snap = snapshot(out);
    assert!(snap.len() >= 5, "the toy wrote {} files", snap.len());
    snap
}

/// Runs `args` on `out`: a non-zero exit within 10 s whose stderr names `names`, and `out`
/// exactly as `before`.
fn refused(out: &Path, args: &[&str], names: &str, before: &BTreeMap<PathBuf, Vec<u8>>) {
    let what = args.join(" ");
    let (o, took) = wait(
        relax(out, args).spawn().unwrap(),
        Duration::from_secs(10),
        &what,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "`relax {what}` exited 0");
    assert!(
        err.contains(names),
        "`relax {what}`: {err:?} does not name {names:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "`relax {what}` took {took:?}"
    );
    assert!(
        snapshot(out) == *before,
        "`relax {what}` changed the earlier results"
    );
}

#[test]
fn numeric_flags_at_their_edges_are_refused_before_any_work() {
    let out = tmp("flags");
    let before = earlier_toy(&out);
    let bad = ["0", "-1", "NaN", "inf", "-inf", "1e30", "x"];
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["toy"], "--lr", &bad),
        (&["toy"], "--steps", &["0", "-1", "NaN", "1000000000000"]),
        (&["toy"], "--log-every", &["0", "-1"]),
        (&["toy"], "--var-samples", &["0", "1", "-1", "inf"]),
        (&["toy"], "--seeds", &["0", "-1", "100000"]),
        (&["toy"], "--target", &["NaN", "inf", "x"]),
        (&["toy"], "--points", &["0", "1"]),
        (&["toy"], "--estimators", &["bogus", "a2c"]),
        (&["bench"], "--seconds", &["0", "-1", "NaN", "inf", "1e30"]),
        (&["rl", "cartpole"], "--episodes", &["0", "-1", "NaN"]),
        (&["rl", "cartpole"], "--var-episodes", &["0", "1"]),
        (&["rl", "cartpole"], "--seeds", &["0", "100000"]),
        (&["rl", "cartpole"], "--lr", &bad),
        (
            &["rl", "cartpole"],
            "--cv-lr-scale",
            &["0", "-1", "NaN", "inf"],
        ),
        (
            &["rl", "lunarlander"],
            "--timeout",
            &["0", "-1", "NaN", "inf", "1e30"],
        ),
        (&["rl", "lunarlander"], "--jobs", &["0", "-1", "1000"]),
        (&["rl", "inverted-pendulum"], "--batch-steps", &["0", "-1"]),
        (
            &["rl", "inverted-pendulum"],
            "--kl-target",
            &["-1", "NaN", "inf"],
        ),
        (
            &["rl", "inverted-pendulum-cv"],
            "--timeout",
            &["1e300", "0"],
        ),
        (&["rl", "inverted-pendulum-cv"], "--measure", &["0", "1"]),
        (&["vae"], "--batch", &["0", "-1", "100000000"]),
        (&["vae"], "--lr", &bad),
        (&["vae"], "--samples", &["0", "1", "1000000"]),
        (&["vae"], "--concrete-temperature", &["0", "-1", "NaN"]),
        (&["vae"], "--max-iters", &["0", "-1"]),
        (&["vae"], "--epochs", &["0"]),
        (&["vae"], "--iwae-samples", &["0"]),
        (&["vae"], "--jobs", &["0"]),
        (&["vae"], "--cv-lr-scale", &["0", "NaN"]),
        (&["vae"], "--estimator", &["reinforce", "bogus"]),
    ];
    let mut n = 0;
    for (cmd, flag, values) in cases {
        for v in *values {
            let arg = format!("{flag}={v}");
            let mut args: Vec<&str> = cmd.to_vec();
            args.push(&arg);
            refused(&out, &args, flag, &before);
            n += 1;
        }
    }
    assert!(n > 90, "{n} attacks");
}

#[test]
fn seeds_that_would_wrap_around_are_refused() {
    let out = tmp("seed");
    let before = earlier_toy(&out);
    let max = u64::MAX.to_string();
    refused(
        &out,
        &["toy", "--seed", &max, "--seeds", "2"],
        "--seed",
        &before,
    );
    refused(
        &out,
        &["rl", "cartpole", "--seed", &max, "--seeds", "3"],
        "--seed",
        &before,
    );
}

#[test]
fn a_bad_out_directory_is_refused_before_the_work_and_named() {
    let dir = tmp("out");
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let before = snapshot(&dir);
    for out in [
        file.clone(),
        PathBuf::from("/proc/relax-x"),
        file.join("below"),
    ] {
        let (o, took) = wait(
            relax(&out, &["rl", "cartpole", "--seeds", "2"])
                .spawn()
                .unwrap(),
            Duration::from_secs(10),
            "a bad --out",
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains("--out"), "{err}");
        assert!(err.contains(&*out.to_string_lossy()), "{err} names no path");
        assert!(
            took < Duration::from_secs(3),
            "found after {took:?} of work"
        );
    }
    assert!(snapshot(&dir) == before);
}

#[test]
fn a_font_that_is_not_a_font_is_refused_at_once() {
    let out = tmp("font");
    let before = earlier_toy(&out);
    for font in ["/dev/zero", "/etc/hostname", "/nonexistent.ttf"] {
        let mut c = relax(&out, &["toy", "--steps", "10"]);
        c.env("RELAX_FONT", font);
        let (o, took) = wait(c.spawn().unwrap(), Duration::from_secs(10), font);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "RELAX_FONT={font} accepted");
        assert!(err.contains("RELAX_FONT") && err.contains(font), "{err}");
        assert!(took < Duration::from_secs(3));
    }
    assert!(snapshot(&out) == before);
}

#[test]
fn hostile_data_files_give_errors_naming_them() {
    let out = tmp("data-out");
    let data = tmp("data");
    let before = earlier_toy(&out);
    // A zero-dimension image file, then a zero-sized one: an error naming the file, no panic.
    let train = data.join("train-images-idx3-ubyte");
    let test = data.join("t10k-images-idx3-ubyte");
    std::fs::write(
        &test,
        [0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4],
    )
    .unwrap();
    for bytes in [
        vec![0u8, 0, 8, 0],
        vec![0u8, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 28],
        vec![0u8, 0, 8, 3, 255, 255, 255, 255, 0, 0, 0, 28, 0, 0, 0, 28],
    ] {
        std::fs::write(&train, &bytes).unwrap();
        let d = data.to_string_lossy().into_owned();
        refused(
            &out,
            &["vae", "--data-dir", &d, "--estimator", "disarm"],
            "train-images-idx3-ubyte",
            &before,
        );
    }
}

#[test]
fn a_second_run_on_the_same_out_is_refused_and_ctrl_c_keeps_earlier_results() {
    let out = tmp("lock");
    let before = earlier_toy(&out);
    // A long toy run holds the directory.
    let long = relax(&out, &["toy", "--steps", "100000000"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    refused(
        &out,
        &["toy", "--steps", "10"],
        "another relax run",
        &before,
    );
    // Ctrl-C while it computes: a prompt stop, exit 130, one line, nothing written.
    let pid = long.id().to_string();
    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let (o, _) = wait(long, Duration::from_secs(10), "the interrupted toy");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        t.elapsed()
    );
    assert!(
        snapshot(&out) == before,
        "the interrupted run changed the earlier results"
    );
    // The lock went with the process.
    let (o, _) = wait(
        relax(&out, &["toy", "--steps", "10", "--var-samples", "5"])
            .spawn()
            .unwrap(),
        Duration::from_secs(30),
        "a run after the lock",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Sends `signal` to a run once it computes (after `after`), expects exit 130 within a few
/// seconds and the earlier results unchanged.
fn stop_while_computing(name: &str, args: &[&str], signal: &str, after: Duration) {
    let out = tmp(name);
    let before = earlier_toy(&out);
    // The earlier results sit in `toy/`; the run under test writes its own experiment's
    // directory, or `toy/` itself.
    let child = relax(&out, args).spawn().unwrap();
    std::thread::sleep(after);
    let t = Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    let (o, _) = wait(child, Duration::from_secs(15), name);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{name}: {err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "{name} stopped after {:?}",
        t.elapsed()
    );
    let now = snapshot(&out);
    for (p, bytes) in &before {
        assert!(now.get(p) == Some(bytes), "{name}: {} changed", p.display());
    }
    let leftovers: Vec<_> = now
        .keys()
        .filter(|p| p.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{name}: {leftovers:?}");
}

#[test]
fn sigterm_and_sigint_stop_toy_and_rl_while_computing() {
    stop_while_computing(
        "toy-term",
        &["toy", "--steps", "100000000"],
        "-TERM",
        Duration::from_millis(500),
    );
    stop_while_computing(
        "rl-int",
        &["rl", "cartpole", "--episodes", "1000000", "--seeds", "2"],
        "-INT",
        Duration::from_millis(500),
    );
    stop_while_computing(
        "rl-term",
        &["rl", "cartpole", "--episodes", "1000000", "--seeds", "2"],
        "-TERM",
        Duration::from_millis(500),
    );
}

/// Runs `args` (on a fresh `out` holding an earlier toy result) with every file's rename
/// delayed, sends SIGTERM once the first temporary file named like `marker` appears in
/// `out/experiment`, and checks that the run finished writing whole files, exited 130, and
/// left no temporary file; returns the files of `experiment` after it.
fn signal_while_writing(
    name: &str,
    args: &[&str],
    experiment: &str,
    marker: &str,
) -> BTreeMap<PathBuf, Vec<u8>> {
    let out = tmp(name);
    let before = earlier_toy(&out);
    let mut c = relax(&out, args);
    c.env("RELAX_TEST_WRITE_DELAY_MS", "400");
    let child = c.spawn().unwrap();
    let dir = out.join(experiment);
    let start = Instant::now();
    let writing = || {
        std::fs::read_dir(&dir).is_ok_and(|mut d| {
            d.any(|e| {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                n.contains(".tmp") && n.contains(marker)
            })
        })
    };
    while !writing() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name}: never wrote"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (o, _) = wait(child, Duration::from_secs(30), name);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{name}: {err}");
    assert!(err.contains("written whole"), "{name}: {err}");
    let now = snapshot(&out);
    for p in now.keys() {
        assert!(!p.to_string_lossy().contains(".tmp"), "{}", p.display());
    }
    if experiment != "toy" {
        for (p, bytes) in &before {
            assert!(now.get(p) == Some(bytes), "{name}: {} changed", p.display());
        }
    }
    now.into_iter()
        .filter(|(p, _)| p.starts_with(&dir))
        .collect()
}

#[test]
fn a_signal_while_writing_finishes_the_writing_first() {
    // The toy: every file is the new run's, whole (seed 3 everywhere).
    let out_files = signal_while_writing(
        "write-toy",
        &["--seed", "3", "toy", "--steps", "60", "--var-samples", "20"],
        "toy",
        "curves",
    );
    assert_eq!(out_files.len(), 5);
    let get = |suffix: &str| -> String {
        let (_, b) = out_files
            .iter()
            .find(|(p, _)| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix}"));
        String::from_utf8_lossy(b).into_owned()
    };
    assert!(get("summary.json").contains("\"steps\": 60"));
    assert!(get("curves.csv")
        .lines()
        .all(|l| l.starts_with("seed") || l.starts_with("3,")));
    // CartPole: returns, variances and summary written whole.
    let rl = signal_while_writing(
        "write-rl",
        &[
            "rl",
            "cartpole",
            "--seeds",
            "2",
            "--episodes",
            "30",
            "--var-every",
            "10",
        ],
        "rl-cartpole",
        "returns",
    );
    let returns = rl
        .iter()
        .find(|(p, _)| p.ends_with("returns.csv"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .expect("returns.csv");
    assert_eq!(
        returns.lines().count(),
        1 + 2 * 30,
        "header + 2 seeds x 30 episodes of relax"
    );
    assert!(rl.keys().any(|p| p.ends_with("summary.json")));
    // The VAE: the curve and the summary of the run that was writing.
    let data = tmp("write-vae-data");
    tiny_mnist(&data, 480);
    let d = data.to_string_lossy().into_owned();
    let vae = signal_while_writing(
        "write-vae",
        &[
            "vae",
            "--data-dir",
            &d,
            "--estimator",
            "disarm",
            "--no-test",
            "--epochs",
            "1",
        ],
        "vae-mnist-linear1",
        "summary",
    );
    for f in [
        "curves-disarm.csv",
        "curves.csv",
        "summary.json",
        "summary-disarm.json",
    ] {
        assert!(
            vae.keys().any(|p| p.ends_with(f)),
            "no {f}: {:?}",
            vae.keys()
        );
    }
}

/// A tiny MNIST-layout data set (4 x 4 pixels) for VAE runs.
fn tiny_mnist(dir: &Path, n: usize) {
    let img = |n: usize, off: usize| -> Vec<u8> {
        (0..n * 16)
            .map(|i| ((i / 16 + off) * 37 + (i % 16) * 11) as u8)
            .collect()
    };
    host::vae::idx::write(
        &dir.join("train-images-idx3-ubyte"),
        &[n, 4, 4],
        &img(n, 0),
        false,
    )
    .unwrap();
    host::vae::idx::write(
        &dir.join("t10k-images-idx3-ubyte"),
        &[n / 4, 4, 4],
        &img(n / 4, 5),
        false,
    )
    .unwrap();
}

#[test]
fn an_interrupted_vae_run_keeps_the_complete_curve_and_marks_its_own_partial() {
    let out = tmp("vae-out");
    let data = tmp("vae-data");
    tiny_mnist(&data, 480);
    let d = data.to_string_lossy().into_owned();
    let base = [
        "vae",
        "--data-dir",
        &d,
        "--estimator",
        "disarm",
        "--no-test",
    ];
    let mut args = base.to_vec();
    args.extend(["--epochs", "2"]);
    let (o, _) = wait(
        relax(&out, &args).spawn().unwrap(),
        Duration::from_secs(120),
        "vae",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.join("vae-mnist-linear1");
    let complete = std::fs::read(dir.join("curves-disarm.csv")).unwrap();
    let before = snapshot(&out);
    // A longer run of the same estimator, stopped after its first epochs.
    let mut args = base.to_vec();
    args.extend(["--epochs", "100000"]);
    let child = relax(&out, &args).spawn().unwrap();
    let start = Instant::now();
    while !dir.join("curves-disarm.partial.csv").exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "no epoch ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let (o, _) = wait(child, Duration::from_secs(15), "the interrupted vae");
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(dir.join("curves-disarm.csv")).unwrap(),
        complete
    );
    let now = snapshot(&out);
    for (p, bytes) in &before {
        assert!(now.get(p) == Some(bytes), "{} changed", p.display());
    }
    // --report-only gathers the complete curve, not the partial one.
    let mut args = base.to_vec();
    args.push("--report-only");
    let (o, _) = wait(
        relax(&out, &args).spawn().unwrap(),
        Duration::from_secs(60),
        "report",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = std::fs::read_to_string(dir.join("curves.csv")).unwrap();
    assert_eq!(
        merged.lines().count(),
        3,
        "header and the 2 complete epochs: {merged}"
    );
    // ... and refuses to label it with other settings than the run's.
    let mut args = base.to_vec();
    args.extend(["--report-only", "--lr", "0.01"]);
    let (o, _) = wait(
        relax(&out, &args).spawn().unwrap(),
        Duration::from_secs(60),
        "report",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "a report with other settings was accepted"
    );
    assert!(
        err.contains("summary-disarm.json") && err.contains("lr"),
        "{err}"
    );
}
