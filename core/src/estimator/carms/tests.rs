//! CARMS (stick-breaking): unbiased by exact enumeration on one categorical (`K = 4`, a random
//! table, plain and saturated logits) for `S = 2, 3, 4` and on a product (`D = 2`, `K = 3`);
//! its `S = 2` weights are coupled DisARM's; the Dirichlet copula has uniform marginals and
//! the bivariate law the weights assume. Run with `--nocapture` for the z-scores.

extern crate std;
use std::println;

use super::*;
use crate::estimator::testing::{assert_unbiased, exact_product, joint_table};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

fn logits4() -> [[f32; 4]; 3] {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(77);
    let r: [f32; 4] = core::array::from_fn(|_| 4.0 * uniform_open(&mut rng) - 2.0);
    [r, [8.0, 0.0, 0.3, -0.5], [-0.2, 8.0, 0.4, 0.1]]
}

const LOGITS23: [[f32; 6]; 3] = [
    [0.3, -1.2, 2.0, 0.5, 0.1, -0.7],
    [8.0, 0.0, 0.4, -0.3, 0.2, 6.0],
    [-1.0, -1.0, -1.0, 0.0, 0.0, 0.0],
];

fn one_categorical<const S: usize>(seed: u64) -> f64 {
    let mut worst = 0.0f64;
    for (i, l) in logits4().iter().enumerate() {
        let mut f = joint_table::<1, 4, 4>(5);
        let exact = exact_product::<1, 4, 4, _>(l, &mut f);
        let mut est = Carms::<1, 4, 4, S>::new().unwrap();
        let name = std::format!("CARMS S={S} K=4");
        let z = assert_unbiased(&name, &mut est, l, &mut f, &exact, seed + i as u64);
        worst = worst.max(z);
    }
    worst
}

#[test]
fn unbiased_on_one_categorical() {
    let z2 = one_categorical::<2>(4500);
    let z3 = one_categorical::<3>(4510);
    let z4 = one_categorical::<4>(4520);
    println!("max |z| CARMS, one categorical K = 4: S=2 {z2:.2}, S=3 {z3:.2}, S=4 {z4:.2}");
}

#[test]
fn unbiased_on_a_product_of_categoricals() {
    let mut worst = 0.0f64;
    for (i, l) in LOGITS23.iter().enumerate() {
        let mut f = joint_table::<2, 3, 6>(6);
        let exact = exact_product::<2, 3, 6, _>(l, &mut f);
        let mut est = Carms::<2, 3, 6, 3>::new().unwrap();
        let z = assert_unbiased(
            "CARMS S=3 2x3",
            &mut est,
            l,
            &mut f,
            &exact,
            4600 + i as u64,
        );
        worst = worst.max(z);
    }
    println!("max |z| CARMS S = 3, D = 2 x K = 3: {worst:.2}");
}

/// With two samples the Dirichlet copula is the antithetic pair (`Phi = (2 sigma - 1)_+`)
/// and the weights are coupled DisARM's.
#[test]
fn two_samples_have_coupled_disarms_weights() {
    for l in [[0.3f32, -1.2, 2.0, 0.5], [8.0, 0.0, 0.3, -0.5], [0.0; 4]] {
        let (_, sigma) = sticks(&l);
        let phi: [f32; 4] = core::array::from_fn(|i| copula_diagonal(sigma[i], 2));
        for za in 0..4 {
            for zb in 0..4 {
                if za == zb {
                    continue;
                }
                let m = za.min(zb);
                let mut w = sigma[m].max(1.0 - sigma[m]);
                for s in &sigma[..m] {
                    w *= (1.0 - s) * (1.0 - s) / (1.0 - 2.0 * s);
                }
                let c = pair_weight(&sigma, &phi, za, zb);
                assert!((c - w).abs() <= 1e-6 * w, "{l:?} {za} {zb}: {c} vs {w}");
            }
        }
    }
}

/// Each copula uniform is uniform, and each pair has the bivariate CDF `C(x, y)` the weights
/// use (checked at a few points, within 4 standard errors).
#[test]
fn dirichlet_copula_has_the_assumed_law() {
    const S: usize = 4;
    let n = 200_000;
    let pts = [(0.2f32, 0.2f32), (0.5, 0.5), (0.7, 0.3), (0.9, 0.8)];
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4700);
    let mut marg = [0usize; 4];
    let mut joint = [0usize; 4];
    for _ in 0..n {
        let u = dirichlet_copula::<S, _>(&mut rng);
        for (k, &(x, y)) in pts.iter().enumerate() {
            marg[k] += (u[k % S] < x) as usize;
            joint[k] += (u[0] < x && u[1 + k % (S - 1)] < y) as usize;
        }
    }
    for (k, &(x, y)) in pts.iter().enumerate() {
        let c = {
            let t = libm::powf(x, 1.0 / 3.0) + libm::powf(y, 1.0 / 3.0) - 1.0;
            if t > 0.0 {
                libm::powf(t, 3.0)
            } else {
                0.0
            }
        };
        for (count, p) in [(marg[k], x), (joint[k], c)] {
            let est = count as f64 / n as f64;
            let se = (p as f64 * (1.0 - p as f64) / n as f64).sqrt().max(1e-9);
            let z = (est - p as f64) / se;
            assert!(z.abs() < 4.0, "point {k}: {est} vs {p} (z = {z:.1})");
        }
    }
    assert_eq!(copula_diagonal(0.5, 4), c_diag(0.5));
    fn c_diag(x: f32) -> f32 {
        let t = 2.0 * libm::powf(x, 1.0 / 3.0) - 1.0;
        libm::powf(t.max(0.0), 3.0)
    }
}

#[test]
fn needs_two_samples_and_counts_s_evaluations() {
    assert_eq!(
        Carms::<1, 4, 4, 1>::new().unwrap_err(),
        Error::InvalidHyperparameter
    );
    let mut calls = 0u32;
    let mut f = |b: &[f32; 6]| {
        calls += 1;
        b[0] - b[4]
    };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let e = Carms::<2, 3, 6, 5>::new()
        .unwrap()
        .estimate(&[0.1; 6], &mut f, &mut rng)
        .unwrap();
    assert_eq!((e.f_evals, calls), (5, 5));
    assert!(e.grad[..3].iter().sum::<f32>().abs() < 1e-6);
}

/// Not a check: the per-coordinate variance of each categorical estimator at its cost, on the
/// `D = 2 x K = 3` joint table (logits of the first product above), printed for comparison.
/// IndeCateR costs `1 + D (K - 1) = 5` evaluations.
#[test]
fn variance_at_cost_is_printed() {
    use crate::dist::CategoricalProduct;
    use crate::estimator::testing::sample_stats;
    use crate::estimator::{CoupledDisArm, CoupledVariant, IndeCateR, Rloo};
    type P = CategoricalProduct<2, 3, 6>;
    let l = LOGITS23[0];
    let mut f = joint_table::<2, 3, 6>(6);
    let n = 20_000;
    let mean_var = |v: [f64; 6]| v.iter().sum::<f64>() / 6.0;
    let sb = CoupledDisArm::<2, 3, 6>::new().with_variant(CoupledVariant::StickBreaking);
    let rows: [(&str, f64); 9] = [
        (
            "RLOO K=2",
            mean_var(sample_stats(&mut Rloo::<P, 6, 2>::new().unwrap(), &l, &mut f, 1, n).1),
        ),
        (
            "coupled DisARM",
            mean_var(sample_stats(&mut CoupledDisArm::<2, 3, 6>::new(), &l, &mut f, 2, n).1),
        ),
        (
            "coupled DisARM-SB",
            mean_var(sample_stats(&mut { sb }, &l, &mut f, 9, n).1),
        ),
        (
            "RLOO K=3",
            mean_var(sample_stats(&mut Rloo::<P, 6, 3>::new().unwrap(), &l, &mut f, 3, n).1),
        ),
        (
            "CARMS S=3",
            mean_var(sample_stats(&mut Carms::<2, 3, 6, 3>::new().unwrap(), &l, &mut f, 4, n).1),
        ),
        (
            "RLOO K=4",
            mean_var(sample_stats(&mut Rloo::<P, 6, 4>::new().unwrap(), &l, &mut f, 5, n).1),
        ),
        (
            "CARMS S=4",
            mean_var(sample_stats(&mut Carms::<2, 3, 6, 4>::new().unwrap(), &l, &mut f, 6, n).1),
        ),
        (
            "RLOO K=5",
            mean_var(sample_stats(&mut Rloo::<P, 6, 5>::new().unwrap(), &l, &mut f, 7, n).1),
        ),
        (
            "IndeCateR (5 evals)",
            mean_var(sample_stats(&mut IndeCateR::<2, 3, 6>::new(), &l, &mut f, 8, n).1),
        ),
    ];
    println!("mean per-coordinate variance, D = 2 x K = 3, logits {l:?}:");
    for (name, v) in rows {
        println!("  {name:<20} {v:.3e}");
    }
}
