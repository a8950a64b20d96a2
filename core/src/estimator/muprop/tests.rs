use super::*;
use crate::estimator::testing::{assert_unbiased, exact_bernoulli, Quad, TARGET};

/// A surrogate unrelated to `f`: unbiasedness must not depend on it.
struct Odd(Quad<3>);
impl super::super::Objective<3> for Odd {
    fn value(&mut self, b: &[f32; 3]) -> f32 {
        self.0.value(b)
    }
}
impl RelaxedObjective<3> for Odd {
    fn relaxed(&mut self, x: &[f32; 3], g: &mut [f32; 3]) -> f32 {
        *g = [3.0, -1.0 + x[1], 0.5];
        3.0 * x[0] - x[1] + 0.5 * x[1] * x[1] + 0.5 * x[2]
    }
}

#[test]
fn muprop_is_unbiased_by_enumeration() {
    for (k, l) in [[0.3f32, -1.2, 2.0], [8.0, -0.4, 1.1], [-8.0, 7.9, -8.2]]
        .iter()
        .enumerate()
    {
        let mut f = Quad { t: TARGET };
        let exact = exact_bernoulli(l, &mut f);
        let mut mp = MuProp::<3>::new(AdamConfig::new(0.01)).unwrap();
        assert_unbiased("MuProp", &mut mp, l, &mut f, &exact, 60 + k as u64);
        let mut mp = MuProp::<3>::new(AdamConfig::new(0.01)).unwrap();
        let mut odd = Odd(Quad { t: TARGET });
        assert_unbiased(
            "MuProp, odd surrogate",
            &mut mp,
            l,
            &mut odd,
            &exact,
            70 + k as u64,
        );
    }
}

#[test]
fn the_linear_control_variate_removes_a_linear_objective() {
    // f linear in b: h(b) = f(b) exactly once eta = (1, 1) and B = 0, so g is the
    // analytic term alone, with zero variance.
    let l = [0.4f32, -0.7];
    let w = [2.0f32, -3.0];
    let mut rng = <rand_xoshiro::Xoshiro128PlusPlus as rand_core::SeedableRng>::seed_from_u64(1);
    for _ in 0..20 {
        let b = Bernoulli::<2>::harden(&Bernoulli::<2>::sample_z(&l, &mut rng));
        let fb = w[0] * b[0] + w[1] * b[1];
        let mu = [sigmoid(l[0]), sigmoid(l[1])];
        let fmu = w[0] * mu[0] + w[1] * mu[1];
        let s = muprop_combine(&l, &b, fb, fmu, &w, 0.0, [1.0, 1.0]).unwrap();
        assert!(s.signal.abs() < 1e-5);
        for i in 0..2 {
            let exact = w[i] * mu[i] * (1.0 - mu[i]);
            assert!((s.grad[i] - exact).abs() < 1e-5);
        }
    }
}

#[test]
fn refuses_bad_input() {
    let l = [0.0f32; 2];
    let b = [1.0f32, 0.0];
    let g = [0.0f32; 2];
    assert_eq!(
        muprop_combine(&l, &b, f32::NAN, 0.0, &g, 0.0, [1.0, 1.0]),
        Err(Error::NonFiniteObjective)
    );
    assert_eq!(
        muprop_combine(&l, &b, 0.0, 0.0, &g, 0.0, [f32::NAN, 1.0]),
        Err(Error::NonFiniteInput)
    );
    assert_eq!(
        muprop_combine(&l, &[2.0, 0.0], 0.0, 0.0, &g, 0.0, [1.0, 1.0]),
        Err(Error::InvalidAction)
    );
}
