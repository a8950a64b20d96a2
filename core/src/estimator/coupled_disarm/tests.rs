//! Coupled categorical DisARM: unbiased by exact enumeration on one categorical (`K = 4`, a
//! random table, plain and saturated logits) and on a product (`D = 2`, `K = 3`, a random
//! joint table); `K = 2` is DisARM sample by sample; the reference code's unordered
//! importance-weighted coupling is biased. Run with `--nocapture` for the z-scores.

extern crate std;
use std::println;

use super::*;
use crate::estimator::testing::{assert_unbiased, exact_product, joint_table, max_z, N_SAMPLES};
use crate::estimator::DisArm;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// Logit vectors of one `K = 4` categorical: random, and saturated (`|l| = 8` against logits
/// near 0, as the core's categorical test: the rarest class still has probability ~3e-4).
fn logits4() -> [[f32; 4]; 3] {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(77);
    let r: [f32; 4] = core::array::from_fn(|_| 4.0 * uniform_open(&mut rng) - 2.0);
    [r, [8.0, 0.0, 0.3, -0.5], [-0.2, 8.0, 0.4, 0.1]]
}

/// Logit vectors of two `K = 3` categoricals.
const LOGITS23: [[f32; 6]; 3] = [
    [0.3, -1.2, 2.0, 0.5, 0.1, -0.7],
    [8.0, 0.0, 0.4, -0.3, 0.2, 6.0],
    [-1.0, -1.0, -1.0, 0.0, 0.0, 0.0],
];

#[test]
fn unbiased_on_one_categorical() {
    let mut worst = 0.0f64;
    for (i, l) in logits4().iter().enumerate() {
        let mut f = joint_table::<1, 4, 4>(5);
        let exact = exact_product::<1, 4, 4, _>(l, &mut f);
        let mut est = CoupledDisArm::<1, 4, 4>::new();
        let z = assert_unbiased(
            "coupled DisARM K=4",
            &mut est,
            l,
            &mut f,
            &exact,
            4100 + i as u64,
        );
        worst = worst.max(z);
    }
    println!("max |z| coupled DisARM, one categorical K = 4: {worst:.2}");
}

#[test]
fn unbiased_on_a_product_of_categoricals() {
    let mut worst = 0.0f64;
    for (i, l) in LOGITS23.iter().enumerate() {
        let mut f = joint_table::<2, 3, 6>(6);
        let exact = exact_product::<2, 3, 6, _>(l, &mut f);
        let mut est = CoupledDisArm::<2, 3, 6>::new();
        let z = assert_unbiased(
            "coupled DisARM 2x3",
            &mut est,
            l,
            &mut f,
            &exact,
            4200 + i as u64,
        );
        worst = worst.max(z);
    }
    println!("max |z| coupled DisARM, D = 2 x K = 3: {worst:.2}");
}

/// With two classes the stick-breaking coupling is one antithetic binary: when class 0 is
/// the likelier one (so the ascending order keeps class 1 first), the estimate is DisARM's
/// for the bit "class 1" with logit `l_1 - l_0`, bit for bit, from the same noise.
#[test]
fn two_classes_are_disarm_sample_by_sample() {
    let l2 = [[0.7f32, -0.4], [3.0, -5.0], [1.0, 0.9]];
    let f = |b: &[f32; 6]| {
        let c = CategoricalProduct::<3, 2, 6>::classes(b);
        (c[0] as f32 - 0.2).powi(2) + 2.0 * (c[1] as f32) * (c[2] as f32) - 0.3 * c[2] as f32
    };
    let mut g = |bits: &[f32; 3]| {
        let mut b = [0.0f32; 6];
        for d in 0..3 {
            b[2 * d + bits[d] as usize] = 1.0;
        }
        f(&b)
    };
    let logits: [f32; 6] = core::array::from_fn(|i| l2[i / 2][i % 2]);
    let alpha: [f32; 3] = core::array::from_fn(|d| l2[d][1] - l2[d][0]);
    let mut r1 = Xoshiro128PlusPlus::seed_from_u64(9);
    let mut r2 = Xoshiro128PlusPlus::seed_from_u64(9);
    let mut coupled = CoupledDisArm::<3, 2, 6>::new();
    let mut disarm = DisArm::<3>::new();
    let mut differing = 0;
    for _ in 0..10_000 {
        let a = coupled.estimate(&logits, &mut { f }, &mut r1).unwrap();
        let b = disarm.estimate(&alpha, &mut g, &mut r2).unwrap();
        for d in 0..3 {
            assert_eq!(a.grad[2 * d + 1], b.grad[d], "{a:?} vs {b:?}");
            assert_eq!(a.grad[2 * d], -b.grad[d]);
            differing += (b.grad[d] != 0.0) as usize;
        }
        assert_eq!(a.value, b.value);
    }
    assert!(differing > 1000, "the pairs split often enough to compare");
}

/// The reference code's importance-weighted path draws the stick-breaking pair in the
/// classes' own order and zeroes the weight where `sigma_i >= 1/2`. With a likely first class
/// (`sigma_0 ~ 0.6`) the two chains can never both pass binary 0, so every pair among the
/// other classes is lost: biased. The ascending order, from the same noise, is not.
#[test]
fn reference_unordered_coupling_is_biased() {
    let l = [1.5f32, 0.0, -0.5, 0.4];
    let mut f = joint_table::<1, 4, 4>(5);
    let exact = exact_product::<1, 4, 4, _>(&l, &mut f);
    let mut zs = [0.0f64; 2];
    for (j, ascending) in [false, true].into_iter().enumerate() {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(4300);
        let (mut s1, mut s2) = ([0.0f64; 4], [0.0f64; 4]);
        for _ in 0..N_SAMPLES {
            let pair = CoupledDisArm::<1, 4, 4>::draw_ordered(&l, &mut rng, ascending).unwrap();
            let g = CoupledDisArm::<1, 4, 4>::combine(&pair, f(&pair.b), f(&pair.bt)).unwrap();
            for i in 0..4 {
                s1[i] += g[i] as f64;
                s2[i] += (g[i] as f64).powi(2);
            }
        }
        let n = N_SAMPLES as f64;
        let mean: [f64; 4] = core::array::from_fn(|i| s1[i] / n);
        let var: [f64; 4] = core::array::from_fn(|i| s2[i] / n - mean[i] * mean[i]);
        zs[j] = max_z(&mean, &var, N_SAMPLES, &exact);
    }
    println!(
        "coupled DisARM, classes' own order (reference code): max |z| = {:.1}; ascending: {:.2}",
        zs[0], zs[1]
    );
    assert!(
        zs[0] > 10.0,
        "the unordered coupling should be visibly biased"
    );
    assert!(zs[1] < 4.0);
}

#[test]
fn combine_refuses_bad_values() {
    let pair = CoupledPair {
        b: [1.0f32, 0.0, 0.0],
        bt: [0.0, 1.0, 0.0],
        weight: [0.7],
    };
    assert_eq!(
        CoupledDisArm::<1, 3, 3>::combine(&pair, f32::NAN, 0.0),
        Err(Error::NonFiniteObjective)
    );
    assert_eq!(
        CoupledDisArm::<1, 3, 3>::combine(&pair, 3e38, -3e38),
        Err(Error::NonFiniteGradient)
    );
    let bad = CoupledPair {
        weight: [f32::INFINITY],
        ..pair
    };
    assert_eq!(
        CoupledDisArm::<1, 3, 3>::combine(&bad, 1.0, 0.0),
        Err(Error::NonFiniteInput)
    );
    let g = CoupledDisArm::<1, 3, 3>::combine(&pair, 1.0, 0.0).unwrap();
    assert_eq!(g, [0.35, -0.35, 0.0]);
}

#[test]
fn stick_breaking_variant_is_unbiased() {
    let sb = CoupledVariant::StickBreaking;
    let mut worst = [0.0f64; 2];
    for (i, l) in logits4().iter().enumerate() {
        let mut f = joint_table::<1, 4, 4>(5);
        let exact = exact_product::<1, 4, 4, _>(l, &mut f);
        let mut est = CoupledDisArm::<1, 4, 4>::new().with_variant(sb);
        let z = assert_unbiased(
            "DisARM-SB K=4",
            &mut est,
            l,
            &mut f,
            &exact,
            4800 + i as u64,
        );
        worst[0] = worst[0].max(z);
    }
    for (i, l) in LOGITS23.iter().enumerate() {
        let mut f = joint_table::<2, 3, 6>(6);
        let exact = exact_product::<2, 3, 6, _>(l, &mut f);
        let mut est = CoupledDisArm::<2, 3, 6>::new().with_variant(sb);
        let z = assert_unbiased(
            "DisARM-SB 2x3",
            &mut est,
            l,
            &mut f,
            &exact,
            4900 + i as u64,
        );
        worst[1] = worst[1].max(z);
    }
    println!(
        "max |z| coupled DisARM-SB: K = 4 {:.2}, D = 2 x K = 3 {:.2}",
        worst[0], worst[1]
    );
}

/// With two classes DisARM-SB and DisARM-IW are the same estimator, sample by sample; with
/// more they draw the same pair (same `f(b)`) and differ only in the gradient.
#[test]
fn variants_agree_on_two_classes_and_share_the_pair() {
    let l = [0.7f32, -0.4, 3.0, -5.0, 1.0, 0.9];
    let mut f = |b: &[f32; 6]| {
        let c = CategoricalProduct::<3, 2, 6>::classes(b);
        (c[0] as f32 - 0.2).powi(2) + 2.0 * (c[1] as f32) * (c[2] as f32)
    };
    let mut iw = CoupledDisArm::<3, 2, 6>::new();
    let mut sb = iw.with_variant(CoupledVariant::StickBreaking);
    assert_eq!(sb.variant(), CoupledVariant::StickBreaking);
    let (mut r1, mut r2) = (
        Xoshiro128PlusPlus::seed_from_u64(5),
        Xoshiro128PlusPlus::seed_from_u64(5),
    );
    for _ in 0..10_000 {
        let a = iw.estimate(&l, &mut f, &mut r1).unwrap();
        let b = sb.estimate(&l, &mut f, &mut r2).unwrap();
        for i in 0..6 {
            assert!((a.grad[i] - b.grad[i]).abs() <= 1e-6, "{a:?} vs {b:?}");
        }
    }
    let mut g = joint_table::<1, 4, 4>(5);
    let l4 = [0.3f32, -1.2, 2.0, 0.5];
    let mut iw = CoupledDisArm::<1, 4, 4>::new();
    let mut sb = iw.with_variant(CoupledVariant::StickBreaking);
    let (mut r1, mut r2) = (
        Xoshiro128PlusPlus::seed_from_u64(6),
        Xoshiro128PlusPlus::seed_from_u64(6),
    );
    let mut differ = 0;
    for _ in 0..1000 {
        let a = iw.estimate(&l4, &mut g, &mut r1).unwrap();
        let b = sb.estimate(&l4, &mut g, &mut r2).unwrap();
        assert_eq!(a.value, b.value);
        differ += (a.grad != b.grad) as usize;
    }
    assert!(differ > 100);
}
