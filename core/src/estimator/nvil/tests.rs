extern crate std;
use super::*;
use crate::dist::Bernoulli;
use crate::estimator::testing::{assert_unbiased, exact_bernoulli, Quad, TARGET};

#[test]
fn nvil_is_unbiased_by_enumeration() {
    let f = Quad { t: TARGET };
    for (k, l) in [[0.3f32, -1.2, 2.0], [8.0, -0.4, 1.1], [-8.0, 7.9, -8.2]]
        .iter()
        .enumerate()
    {
        let exact = exact_bernoulli(l, &mut f.clone());
        // A baseline far from E f, learning as it goes: still unbiased.
        let mut nvil = Nvil::<Bernoulli<3>, 3>::new(AdamConfig::new(0.01)).unwrap();
        assert_unbiased("NVIL", &mut nvil, l, &mut f.clone(), &exact, 40 + k as u64);
    }
}

#[test]
fn combine_matches_the_formula_and_refuses_bad_input() {
    let l = [0.5f32, -1.0];
    let b = [1.0f32, 0.0];
    let s = nvil_combine::<Bernoulli<2>, 2>(&l, &b, 3.0, 1.0).unwrap();
    let score = Bernoulli::<2>::score(&l, &b);
    assert_eq!(s.signal, 2.0);
    assert_eq!(s.baseline_grad, -4.0);
    assert_eq!(s.grad, [2.0 * score[0], 2.0 * score[1]]);
    assert_eq!(
        nvil_combine::<Bernoulli<2>, 2>(&l, &b, f32::NAN, 0.0),
        Err(Error::NonFiniteObjective)
    );
    assert_eq!(
        nvil_combine::<Bernoulli<2>, 2>(&[f32::INFINITY, 0.0], &b, 1.0, 0.0),
        Err(Error::NonFiniteInput)
    );
    assert_eq!(
        nvil_combine::<Bernoulli<2>, 2>(&l, &[0.5, 0.0], 1.0, 0.0),
        Err(Error::InvalidAction)
    );
}

#[test]
fn the_scalar_baseline_learns_the_mean() {
    let mut rng = <rand_xoshiro::Xoshiro128PlusPlus as rand_core::SeedableRng>::seed_from_u64(9);
    let mut nvil = Nvil::<Bernoulli<1>, 1>::new(AdamConfig::new(0.01)).unwrap();
    let mut f = |b: &[f32; 1]| 5.0 + b[0];
    for _ in 0..6000 {
        nvil.estimate(&[0.0], &mut f, &mut rng).unwrap();
    }
    assert!((nvil.baseline() - 5.5).abs() < 0.2, "{}", nvil.baseline());
}
