extern crate std;

use super::*;
use crate::estimator::testing::{bernoulli_logits3, max_z_over_logits3};
use crate::estimator::DisArm;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// `S = 2` is DisARM sample by sample: the same generator gives the same samples, the same
/// values and the same gradient bits.
#[test]
fn two_samples_are_disarm_bit_for_bit() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
    let mut logits: std::vec::Vec<[f32; 4]> = bernoulli_logits3()
        .iter()
        .map(|l| [l[0], l[1], l[2], 0.0])
        .collect();
    for _ in 0..20 {
        logits.push(core::array::from_fn(|_| {
            16.0 * crate::math::uniform_open(&mut rng) - 8.0
        }));
    }
    for (n, l) in logits.iter().enumerate() {
        let t = [0.2f32, 0.55, 0.9, 0.3];
        let mut seen_a = std::vec::Vec::new();
        let mut seen_d = std::vec::Vec::new();
        let mut fa = |b: &[f32; 4]| {
            seen_a.push(*b);
            (0..4)
                .map(|i| (b[i] - t[i]).powi(2) * (1.0 + i as f32))
                .sum::<f32>()
        };
        let mut fd = |b: &[f32; 4]| {
            seen_d.push(*b);
            (0..4)
                .map(|i| (b[i] - t[i]).powi(2) * (1.0 + i as f32))
                .sum::<f32>()
        };
        let mut ra = Xoshiro128PlusPlus::seed_from_u64(100 + n as u64);
        let mut rd = ra.clone();
        let mut arms = Arms::<4, 2>::new().unwrap();
        let mut disarm = DisArm::<4>::new();
        for _ in 0..2000 {
            let a = arms.estimate(l, &mut fa, &mut ra).unwrap();
            let d = disarm.estimate(l, &mut fd, &mut rd).unwrap();
            let bits = |g: &[f32; 4]| g.map(f32::to_bits);
            assert_eq!(bits(&a.grad), bits(&d.grad), "logits {l:?}");
            assert_eq!(a.value.to_bits(), d.value.to_bits());
            assert_eq!(a.f_evals, d.f_evals);
        }
        assert_eq!(seen_a, seen_d, "the same samples in the same order");
    }
}

/// Exact enumeration, `D = 3`, the three logit vectors (one saturated), `S = 2, 3, 4, 6`.
#[test]
fn arms_is_unbiased_by_enumeration() {
    let z2 = max_z_over_logits3("ARMS S=2", 300, |_| Arms::<3, 2>::new().unwrap());
    let z3 = max_z_over_logits3("ARMS S=3", 310, |_| Arms::<3, 3>::new().unwrap());
    let z4 = max_z_over_logits3("ARMS S=4", 320, |_| Arms::<3, 4>::new().unwrap());
    let z6 = max_z_over_logits3("ARMS S=6", 330, |_| Arms::<3, 6>::new().unwrap());
    std::println!("ARMS max |z|: S=2 {z2:.2}, S=3 {z3:.2}, S=4 {z4:.2}, S=6 {z6:.2}");
}

/// Each `u_{k,i}` is `U(0, 1)` and the pairs follow the copula: `P(b_k = 1) = theta` for every
/// sample, and `P(b_1 = 1, b_2 = 1)` is `C(theta, theta)` (or the reflected value).
#[test]
fn copula_marginals_and_pairs() {
    const S: usize = 4;
    let l = [-1.3f32, 0.0, 0.7, -3.0];
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(11);
    let n = 200_000;
    let mut ones = [[0u32; 4]; S];
    let mut both = [0u32; 4];
    for _ in 0..n {
        let bs = arms_draw::<4, S, _>(&l, &mut rng).unwrap();
        for k in 0..S {
            for i in 0..4 {
                ones[k][i] += bs[k][i] as u32;
            }
        }
        for i in 0..4 {
            both[i] += (bs[0][i] * bs[1][i]) as u32;
        }
    }
    let c = |p: f64| {
        let a = p.powf(1.0 / (S - 1) as f64);
        (2.0 * a - 1.0).max(0.0).powi(S as i32 - 1)
    };
    for i in 0..4 {
        let th = 1.0 / (1.0 + (-(l[i] as f64)).exp());
        let se = (th * (1.0 - th) / n as f64).sqrt();
        for k in 0..S {
            let p = ones[k][i] as f64 / n as f64;
            assert!((p - th).abs() < 5.0 * se, "marginal {k},{i}: {p} vs {th}");
        }
        let joint = if l[i] >= 0.0 {
            2.0 * th - 1.0 + c(1.0 - th)
        } else {
            c(th)
        };
        let p = both[i] as f64 / n as f64;
        let se = (joint.max(1e-4) / n as f64).sqrt();
        assert!((p - joint).abs() < 5.0 * se, "pair {i}: {p} vs {joint}");
    }
}

#[test]
fn bad_input_is_refused() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut f = |_: &[f32; 2]| 1.0f32;
    assert_eq!(
        Arms::<2, 1>::new().err(),
        Some(Error::InvalidHyperparameter)
    );
    assert_eq!(
        Arms::<2, 3>::new()
            .unwrap()
            .estimate(&[f32::NAN, 0.0], &mut f, &mut rng)
            .err(),
        Some(Error::NonFiniteInput)
    );
    let mut nan = |_: &[f32; 2]| f32::NAN;
    assert_eq!(
        Arms::<2, 3>::new()
            .unwrap()
            .estimate(&[0.0, 0.0], &mut nan, &mut rng)
            .err(),
        Some(Error::NonFiniteObjective)
    );
    assert_eq!(
        arms_combine(&[0.0f32], &[[0.5], [1.0]], &[1.0, 2.0]).err(),
        Some(Error::InvalidAction)
    );
}
