//! `--list-runs`, `--run-index` and `relax report` (docs/cluster.md): the runs of the toy,
//! of `relax rl cartpole` (with and without `--grid`) and of `relax vae`, computed one
//! process each and merged, give the bytes of the one-machine run (timing keys aside); a
//! foreign run file, a missing run, a run of another sweep and a second process with the
//! same index are refused.
//! scripts/test-slurm.sh does the same through a real Slurm job array.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RELAX: &str = env!("CARGO_BIN_EXE_relax");
const SWEEP: [&str; 9] = [
    "toy",
    "--steps",
    "200",
    "--seeds",
    "2",
    "--estimators",
    "reinforce,relax",
    "--var-samples",
    "100",
];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relax-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn relax(out: &Path, args: &[&str]) -> Output {
    Command::new(RELAX)
        .arg("--out")
        .arg(out)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("relax runs")
}

fn with(extra: &[&str]) -> Vec<String> {
    SWEEP.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn ok(out: &Path, args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = relax(out, &a);
    assert!(
        o.status.success(),
        "{a:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(out: &Path, args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = relax(out, &a);
    assert!(!o.status.success(), "{a:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `summary.json` without its timing key.
fn summary(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    text.lines()
        .filter(|l| !l.contains("\"wall_time_s\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn toy_runs_merged_equal_one_machine_and_bad_merges_are_refused() {
    let (one, many) = (tmp("one"), tmp("many"));
    let list = ok(&many, &with(&["--list-runs"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(
        lines,
        [
            "0\treinforce seed 0",
            "1\treinforce seed 1",
            "2\trelax seed 0",
            "3\trelax seed 1"
        ]
    );
    assert!(!many.exists(), "--list-runs writes nothing");
    ok(&one, &with(&[]));
    // All four at once, as the tasks of a job array: they share runs/ and must not collide.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            Command::new(RELAX)
                .arg("--out")
                .arg(&many)
                .args(with(&["--run-index", &i.to_string()]))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for t in tasks {
        let o = t.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let dir = many.join("toy");
    ok(&many, &["report".into(), dir.display().to_string()]);
    for f in [
        "curves.csv",
        "figure1.png",
        "toy_loss.png",
        "toy_logvar.png",
    ] {
        let a = std::fs::read(one.join("toy").join(f)).unwrap();
        assert!(a == std::fs::read(dir.join(f)).unwrap(), "{f} differs");
    }
    assert_eq!(summary(&one.join("toy")), summary(&dir));

    let e = err(&many, &with(&["--run-index", "4"]));
    assert!(e.contains("4 runs"), "{e}");
    // A run of another configuration in runs/: refused, naming the file.
    let mut other = with(&["--run-index", "1"]);
    other[2] = "300".into();
    ok(&many, &other);
    let e = err(&many, &["report".into(), dir.display().to_string()]);
    assert!(e.contains("reinforce-seed1.json"), "{e}");
    std::fs::remove_file(dir.join("runs").join("reinforce-seed1.json")).unwrap();
    let e = err(&many, &["report".into(), dir.display().to_string()]);
    assert!(
        e.contains("1 of 4 runs missing: 1 (reinforce-seed1.json)"),
        "{e}"
    );
    let e = err(
        &many,
        &["report".into(), many.join("nothing").display().to_string()],
    );
    assert!(e.contains("no such directory"), "{e}");
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&many);
}

#[test]
fn the_same_run_index_twice_is_refused_other_indices_are_not() {
    let out = tmp("lock");
    let slow = |i: &str| {
        Command::new(RELAX)
            .arg("--out")
            .arg(&out)
            .args(with(&["--run-index", i]))
            .env("RELAX_TEST_WRITE_DELAY_MS", "3000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = slow("0");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let e = err(&out, &with(&["--run-index", "0"]));
    assert!(
        e.contains("another relax run") && e.contains(".lock-0"),
        "{e}"
    );
    ok(&out, &with(&["--run-index", "1"]));
    assert!(first.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&out);
}

/// What depends on the clock or the command line (as scripts/normalize-results.py).
const TIMING: [&str; 8] = [
    "wall_time_s",
    "wall_seconds",
    "wall_seconds_per_seed",
    "steps_per_second",
    "train_seconds",
    "iters_per_s",
    "seconds",
    "command",
];

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !TIMING.contains(&k.as_str()));
            m.values_mut().for_each(strip);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// A JSON or CSV file without its timing keys or columns.
fn without_timing(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "json") {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        strip(&mut v);
        return v.to_string();
    }
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let keep: Vec<usize> = (0..rows[0].len())
        .filter(|&i| !TIMING.contains(&rows[0][i]))
        .collect();
    rows.iter()
        .map(|r| keep.iter().map(|&i| r[i]).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs every index of the sweep `args` listed by `--list-runs`, one process each; returns
/// how many.
fn run_each(out: &Path, args: &[&str]) -> usize {
    let mut list_args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    list_args.push("--list-runs".into());
    let n = ok(out, &list_args).lines().count();
    for i in 0..n {
        let mut a = list_args.clone();
        a.pop();
        a.extend(["--run-index".into(), i.to_string()]);
        ok(out, &a);
    }
    n
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rl_grid_runs_merged_by_report_equal_one_machine() {
    let (one, many) = (tmp("grid-one"), tmp("grid-many"));
    let grid = [
        "rl",
        "cartpole",
        "--grid",
        "--estimator",
        "reinforce",
        "--seeds",
        "1",
        "--episodes",
        "12",
    ];
    let list = ok(&many, &strings(&[&grid[..], &["--list-runs"]].concat()));
    assert_eq!(list.lines().count(), 15, "{list}");
    assert!(
        list.lines()
            .next()
            .unwrap()
            .ends_with("rl-cartpole-grid reinforce lr 0.01 cv_lr_scale 1 seed 0"),
        "{list}"
    );
    ok(&one, &strings(&grid));
    assert_eq!(run_each(&many, &grid), 15);
    let dir = many.join("rl-cartpole-grid");
    let report = ["report".to_string(), dir.display().to_string()];
    ok(&many, &report);
    for f in ["grid.csv", "grid.json"] {
        assert_eq!(
            std::fs::read_to_string(one.join("rl-cartpole-grid").join(f)).unwrap(),
            std::fs::read_to_string(dir.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // --replot with the same flags is the same merge.
    ok(&many, &strings(&[&grid[..], &["--replot"]].concat()));
    // A run of another sweep (other episodes) is refused before it trains.
    let mut other = grid.to_vec();
    other[8] = "13";
    let e = err(
        &many,
        &strings(&[&other[..], &["--run-index", "0"]].concat()),
    );
    assert!(
        e.contains("sweep.json") && e.contains("another sweep"),
        "{e}"
    );
    // A missing run is named.
    std::fs::remove_file(dir.join("runs/reinforce-lr0.003-scale0.1-seed0.json")).unwrap();
    let e = err(&many, &report);
    assert!(e.contains("reinforce-lr0.003-scale0.1-seed0.json"), "{e}");
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&many);
}

#[test]
fn rl_runs_merged_by_report_equal_one_machine() {
    let (one, many) = (tmp("rl-one"), tmp("rl-many"));
    let rl = [
        "rl",
        "cartpole",
        "--estimator",
        "a2c,reinforce",
        "--seeds",
        "2",
        "--episodes",
        "20",
        "--var-every",
        "10",
        "--var-episodes",
        "2",
    ];
    ok(&one, &strings(&rl));
    assert_eq!(run_each(&many, &rl), 4);
    let dir = many.join("rl-cartpole");
    ok(&many, &["report".into(), dir.display().to_string()]);
    for f in ["returns.csv", "log_variance.csv"] {
        assert_eq!(
            std::fs::read_to_string(one.join("rl-cartpole").join(f)).unwrap(),
            std::fs::read_to_string(dir.join(f)).unwrap(),
            "{f} differs"
        );
    }
    assert_eq!(
        without_timing(&one.join("rl-cartpole/summary.json")),
        without_timing(&dir.join("summary.json"))
    );
    // The directory must keep the experiment's name: results are written there.
    let moved = many.join("renamed");
    std::fs::rename(&dir, &moved).unwrap();
    let e = err(&many, &["report".into(), moved.display().to_string()]);
    assert!(e.contains("rl-cartpole"), "{e}");
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&many);
}

#[test]
fn vae_runs_merged_by_report_equal_one_machine() {
    let (one, many) = (tmp("vae-one"), tmp("vae-many"));
    let data = tmp("vae-data");
    common::write_amat(&data, [40, 8, 8], 777);
    let d = data.display().to_string();
    let vae = [
        "vae",
        "--data",
        "binarized-mnist",
        "--data-dir",
        &d,
        "--model",
        "linear1",
        "--estimator",
        "relax,disarm",
        "--epochs",
        "2",
        "--max-iters",
        "2",
        "--iwae-samples",
        "2",
        "--pretrain",
        "2",
        "--no-test",
    ];
    ok(&one, &strings(&vae));
    assert_eq!(run_each(&many, &vae), 2);
    let dir = many.join("vae-binarized-mnist-linear1");
    ok(&many, &["report".into(), dir.display().to_string()]);
    let a = one.join("vae-binarized-mnist-linear1");
    assert_eq!(
        without_timing(&a.join("curves.csv")),
        without_timing(&dir.join("curves.csv"))
    );
    assert_eq!(
        without_timing(&a.join("summary.json")),
        without_timing(&dir.join("summary.json"))
    );
    for d in [one, many, data] {
        let _ = std::fs::remove_dir_all(d);
    }
}
