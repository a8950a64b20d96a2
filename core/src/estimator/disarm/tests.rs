use super::*;
use crate::dist::{Bernoulli, Relaxed};
use crate::estimator::testing::{exact_bernoulli, max_z, Quad, N_SAMPLES, TARGET};
use rand_core::SeedableRng;

/// The step functions, driven by a logistic sample as a caller would, are unbiased.
#[test]
fn steps_are_unbiased_by_enumeration() {
    for (k, l) in [[0.3f32, -1.2, 2.0], [8.0, -0.4, 1.1]].iter().enumerate() {
        let mut f = Quad { t: TARGET };
        let exact = exact_bernoulli(l, &mut f);
        let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(80 + k as u64);
        let (mut s1, mut s2) = ([0.0f64; 3], [0.0f64; 3]);
        for _ in 0..N_SAMPLES {
            let z = Bernoulli::<3>::sample_z(l, &mut rng);
            let b = Bernoulli::<3>::harden(&z);
            let bt = disarm_antithetic(l, &z);
            let g = disarm_combine(l, &b, &bt, f.value(&b), f.value(&bt)).unwrap();
            for i in 0..3 {
                s1[i] += g[i] as f64;
                s2[i] += (g[i] as f64).powi(2);
            }
        }
        let n = N_SAMPLES as f64;
        let mean: [f64; 3] = core::array::from_fn(|i| s1[i] / n);
        let var: [f64; 3] = core::array::from_fn(|i| s2[i] / n - mean[i] * mean[i]);
        let z = max_z(&mean, &var, N_SAMPLES, &exact);
        assert!(
            z < 4.0,
            "DisARM steps at {l:?}: {mean:?} vs {exact:?}, |z| = {z}"
        );
    }
}

#[test]
fn combine_refuses_non_finite_values() {
    let l = [0.0f32];
    assert_eq!(
        disarm_combine(&l, &[1.0], &[0.0], f32::NAN, 0.0),
        Err(Error::NonFiniteObjective)
    );
}
