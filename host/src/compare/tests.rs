use super::cli::compare_all;
use super::*;
use relax_core::dist::{Bernoulli, Categorical, Relaxed};
use relax_core::estimator::Objective;

/// `d/dl E f(b)` by enumerating the states, in f64.
fn enumerate_bernoulli<const N: usize>(f: &mut Quadratic<N>, l: &[f32; N]) -> [f64; N] {
    let mut g = [0.0f64; N];
    for mask in 0..(1u32 << N) {
        let b: [f32; N] = core::array::from_fn(|i| ((mask >> i) & 1) as f32);
        let p = (Bernoulli::<N>::log_prob(l, &b) as f64).exp();
        let s = Bernoulli::<N>::score(l, &b);
        let v = f.value(&b) as f64;
        for i in 0..N {
            g[i] += p * v * s[i] as f64;
        }
    }
    g
}

#[test]
fn the_closed_form_gradients_match_enumeration() {
    let mut f = Quadratic::<3>::new([0.2, 0.55, 0.9]);
    let l = [0.3, -1.2, 2.0];
    let (a, b) = (exact_bernoulli(&f, &l), enumerate_bernoulli(&mut f, &l));
    for i in 0..3 {
        assert!((a[i] - b[i]).abs() < 1e-6, "{a:?} {b:?}");
    }
    let mut f = Quadratic::<4>::new([0.1, 0.6, 0.3, 0.9]);
    let l = [0.4, -0.2, 0.1, -0.6];
    let exact = exact_categorical(&f, &l);
    for (j, &e) in exact.iter().enumerate() {
        let mut g = 0.0f64;
        for k in 0..4 {
            let b = Categorical::<4>::one_hot(k);
            let p = (Categorical::<4>::log_prob(&l, &b) as f64).exp();
            g += p * f.value(&b) as f64 * Categorical::<4>::score(&l, &b)[j] as f64;
        }
        assert!((g - e).abs() < 1e-6, "{j}: {g} vs {e}");
    }
}

#[test]
fn every_case_spends_its_budget_and_the_unbiased_ones_are() {
    let cfg = CompareConfig {
        samples: 4000,
        warmup: 200,
        seed: 3,
    };
    let rows = compare_all(&cfg, &|_| {}).unwrap();
    assert!(rows.len() >= 30, "{} rows", rows.len());
    for r in &rows {
        assert!(r.variance.is_finite() && r.variance >= 0.0, "{r:?}");
        // 200 coordinates: the largest of 200 |N(0, 1)| passes 4.5 with probability 1e-3.
        if r.unbiased {
            assert!(r.max_abs_z < 4.5, "{r:?}");
        }
    }
    // DisARM on one bit at p = 1/2 is exact: the pair always differs.
    let d = rows
        .iter()
        .find(|r| r.problem == "toy" && r.estimator == "disarm" && r.budget == 2)
        .unwrap();
    assert_eq!((d.variance, d.max_abs_z), (0.0, 0.0), "{d:?}");
    // Averaging m calls of REINFORCE divides its variance by about m.
    let rf = |b: u32| {
        rows.iter()
            .find(|r| r.problem == "wide" && r.estimator == "reinforce" && r.budget == b)
            .unwrap()
            .variance
    };
    let ratio = rf(2) / rf(4);
    assert!((ratio - 2.0).abs() < 0.2, "{ratio}");
}
