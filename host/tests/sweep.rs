//! `--list-runs`, `--run-index` and `relax report` (docs/cluster.md): the toy's runs computed
//! one process each and merged give the bytes of one `relax toy` (timing keys aside); a
//! foreign run file, a missing run and a second process with the same index are refused.
//! scripts/test-slurm.sh does the same through a real Slurm job array.

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
    assert!(e.contains("not a directory relax report knows"), "{e}");
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
