//! The files each subcommand promises, on tiny runs: CSV with the right rows, JSON that parses
//! with the right fields, PNGs that are PNGs of the requested size; and the benchmark's
//! evaluation counts.

use host::bench::{self, BenchConfig};
use host::toy::{self, fixed_theta, ToyConfig};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap());
    (w, h)
}

fn small_config() -> ToyConfig {
    ToyConfig {
        steps: 600,
        var_samples: 50,
        seeds: vec![0, 1],
        ..ToyConfig::default()
    }
}

#[test]
fn toy_writes_csv_json_and_pngs() {
    let cfg = small_config();
    let r = toy::run(&cfg, &|_| {}).unwrap();
    let dir = scratch("toy");
    let files = toy::report::write_toy(&r, &dir).unwrap();
    assert_eq!(files.len(), 5);

    let csv = std::fs::read_to_string(dir.join("curves.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("seed,step,estimator,exact_loss,log_var,theta")
    );
    // Every toy method x 2 seeds x (0, 10, ..., 600) = 61 points.
    assert_eq!(lines.count(), toy::all_methods().len() * 2 * 61);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let rows = json["estimators"].as_array().unwrap();
    assert_eq!(rows.len(), toy::all_methods().len());
    for row in rows {
        let l = row["final_exact_loss"].as_f64().unwrap();
        assert!((0.249001 - 1e-9..=0.251001 + 1e-9).contains(&l), "{row}");
        assert_eq!(
            row["final_exact_loss_per_seed"].as_array().unwrap().len(),
            2
        );
        let is_exact = row["estimator"] == "exact";
        assert_eq!(row["mean_log_var"].is_null(), is_exact, "{row}");
    }
    assert!(json["wall_time_s"].as_f64().unwrap() > 0.0);

    assert_eq!(png_size(&dir.join("toy_loss.png")), (900, 600));
    assert_eq!(png_size(&dir.join("toy_logvar.png")), (900, 600));
    assert_eq!(png_size(&dir.join("figure1.png")), (1600, 600));
}

#[test]
fn fixed_theta_writes_figure3() {
    let mut cfg = small_config();
    cfg.steps = 300;
    let r = fixed_theta::run_fixed_theta(&cfg, 101, &|_| {}).unwrap();
    assert_eq!(r.u.len(), 101);
    // The hard objective is the step (b - t)^2 with b = 1 for u > 1/2 (l = 0).
    assert!((r.f_hard[0] - 0.499f64.powi(2)).abs() < 1e-6);
    assert!((r.f_hard[100] - 0.501f64.powi(2)).abs() < 1e-6);
    let dir = scratch("toy-fixed-theta");
    toy::report::write_fixed_theta(&r, &dir).unwrap();
    let csv = std::fs::read_to_string(dir.join("relaxations.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 101);
    assert_eq!(png_size(&dir.join("figure3.png")), (1800, 560));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["final_log_var"].as_array().unwrap().len(), 3);
}

#[test]
fn bench_counts_evaluations_at_both_sizes() {
    let rows = bench::run_bench(
        &BenchConfig {
            seconds_per_case: 0.01,
            seed: 0,
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        rows.len(),
        2 * bench::case_names().len() + bench::categorical_case_names().len()
    );
    let get = |name: &str, n: usize| {
        rows.iter()
            .find(|r| r.estimator == name && r.n == n)
            .unwrap_or_else(|| panic!("{name} at {n}"))
    };
    // (f(b) evaluations, relaxed evaluations) per estimate: the core's documented counts.
    let expected = [
        ("REINFORCE", 1.0, 0.0),
        ("RLOO (K=2)", 2.0, 0.0),
        ("DisARM", 2.0, 0.0),
        ("Concrete", 0.0, 1.0),
        ("Straight-through", 0.0, 1.0),
        // Two values, plus the variance gradient at z and z~ (exact Hessian-vector product).
        ("REBAR (training)", 1.0, 4.0),
        ("REBAR (frozen)", 1.0, 2.0),
        ("RELAX (training)", 1.0, 0.0),
        ("RELAX (frozen)", 1.0, 0.0),
        ("RELAX eta f + net (training)", 1.0, 4.0),
        ("LAX Gaussian (training)", 1.0, 0.0),
    ];
    // The categorical cases, on one 4-way categorical (n = 4, the one-hot's size).
    let categorical = [
        ("REINFORCE (categorical)", 1.0, 0.0),
        ("RLOO (K=2) (categorical)", 2.0, 0.0),
        ("Coupled DisARM (categorical)", 2.0, 0.0),
        ("IndeCateR (categorical)", 4.0, 0.0),
        ("CARMS (stick-breaking) (categorical)", 3.0, 0.0),
    ];
    assert_eq!(categorical.len(), bench::categorical_case_names().len());
    for (name, fe, re) in categorical {
        let r = get(name, 4);
        assert!(r.estimates > 0 && r.estimates_per_s > 0.0, "{r:?}");
        assert_eq!(
            (r.f_evals_per_estimate, r.relaxed_evals_per_estimate),
            (fe, re),
            "{name}"
        );
    }
    for n in [1, 200] {
        for (name, fe, re) in expected {
            let r = get(name, n);
            assert!(r.estimates > 0 && r.estimates_per_s > 0.0, "{r:?}");
            assert_eq!(
                (r.f_evals_per_estimate, r.relaxed_evals_per_estimate),
                (fe, re),
                "{name} at N = {n}"
            );
        }
    }
    print!("{}", bench::table(&rows));
}
