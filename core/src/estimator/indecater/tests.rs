//! IndeCateR: on one categorical the estimate is the exact gradient (to f32 rounding), on a
//! product (`D = 2`, `K = 3`, a random joint table) it is unbiased by exact enumeration, and
//! it evaluates `f` `1 + D (K - 1)` times. REINFORCE and RLOO on the same product check the
//! product distribution itself. Run with `--nocapture` for the z-scores.

extern crate std;
use std::println;

use super::*;
use crate::estimator::testing::{assert_unbiased, exact_product, joint_table};
use crate::estimator::{Reinforce, Rloo};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

const LOGITS23: [[f32; 6]; 3] = [
    [0.3, -1.2, 2.0, 0.5, 0.1, -0.7],
    [8.0, 0.0, 0.4, -0.3, 0.2, 6.0],
    [-1.0, -1.0, -1.0, 0.0, 0.0, 0.0],
];

#[test]
fn exact_on_one_categorical() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(77);
    let r: [f32; 4] = core::array::from_fn(|_| 4.0 * crate::math::uniform_open(&mut rng) - 2.0);
    let mut worst = 0.0f64;
    for l in [
        r,
        [8.0, 0.0, 0.3, -0.5],
        [-0.2, 8.0, 0.4, 0.1],
        [16.0, -16.0, 0.0, 1.0],
    ] {
        let mut f = joint_table::<1, 4, 4>(5);
        let exact = exact_product::<1, 4, 4, _>(&l, &mut f);
        let mut est = IndeCateR::<1, 4, 4>::new();
        for _ in 0..100 {
            let e = est.estimate(&l, &mut f, &mut rng).unwrap();
            for i in 0..4 {
                let err = (e.grad[i] as f64 - exact[i]).abs();
                worst = worst.max(err);
                assert!(err < 1e-6, "{l:?}: {:?} vs exact {exact:?}", e.grad);
            }
        }
    }
    println!("IndeCateR, one categorical K = 4: max |estimate - exact| = {worst:.2e}");
}

#[test]
fn unbiased_on_a_product_of_categoricals() {
    let mut worst = [0.0f64; 3];
    for (i, l) in LOGITS23.iter().enumerate() {
        let mut f = joint_table::<2, 3, 6>(6);
        let exact = exact_product::<2, 3, 6, _>(l, &mut f);
        let seed = 4400 + 10 * i as u64;
        let z = assert_unbiased(
            "IndeCateR 2x3",
            &mut IndeCateR::<2, 3, 6>::new(),
            l,
            &mut f,
            &exact,
            seed,
        );
        worst[0] = worst[0].max(z);
        let mut reinforce = Reinforce::<CategoricalProduct<2, 3, 6>, 6>::new();
        let z = assert_unbiased("REINFORCE 2x3", &mut reinforce, l, &mut f, &exact, seed + 1);
        worst[1] = worst[1].max(z);
        let mut rloo = Rloo::<CategoricalProduct<2, 3, 6>, 6, 2>::new().unwrap();
        let z = assert_unbiased("RLOO k=2 2x3", &mut rloo, l, &mut f, &exact, seed + 2);
        worst[2] = worst[2].max(z);
    }
    println!(
        "max |z| on D = 2 x K = 3: IndeCateR {:.2}, REINFORCE {:.2}, RLOO {:.2}",
        worst[0], worst[1], worst[2]
    );
}

#[test]
fn evaluates_f_one_plus_d_times_k_minus_one_times() {
    let mut calls = 0u32;
    let mut f = |b: &[f32; 12]| {
        calls += 1;
        b[0] - b[5] + b[11]
    };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let e = IndeCateR::<3, 4, 12>::new()
        .estimate(&[0.1; 12], &mut f, &mut rng)
        .unwrap();
    assert_eq!(e.f_evals, 1 + 3 * 3);
    assert_eq!(calls, e.f_evals);
    assert_eq!(IndeCateR::<3, 4, 12>::f_evals(), 10);
}
