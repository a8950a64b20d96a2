extern crate std;

use super::*;
use crate::estimator::testing::{
    bernoulli_logits3, max_z_over_logits3, sample_stats, Quad, N_SAMPLES, TARGET,
};
use crate::estimator::Rloo;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

fn trained(l: &[f32; 3], alpha: f32) -> DoubleCv<3, 3> {
    let mut e = DoubleCv::<3, 3>::new(AdamConfig::new(0.01))
        .unwrap()
        .with_alpha(alpha)
        .unwrap();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(999);
    let mut f = Quad { t: TARGET };
    for _ in 0..500 {
        e.estimate(l, &mut f, &mut rng).unwrap();
    }
    e.set_training(false);
    e
}

/// Exact enumeration, `D = 3`, `K = 2` and `K = 3`: untrained (`alpha = 0`, plain RLOO;
/// `alpha = 1`, the whole Taylor term) and trained then frozen.
#[test]
fn double_cv_is_unbiased_by_enumeration() {
    let frozen = |alpha: f32| {
        move |_: &[f32; 3]| {
            let mut e = DoubleCv::<3, 2>::new(AdamConfig::new(0.01))
                .unwrap()
                .with_alpha(alpha)
                .unwrap();
            e.set_training(false);
            e
        }
    };
    let z0 = max_z_over_logits3("DoubleCV K=2 alpha=0", 400, frozen(0.0));
    let z1 = max_z_over_logits3("DoubleCV K=2 alpha=1", 410, frozen(1.0));
    let z2 = max_z_over_logits3("DoubleCV K=2 alpha=-2", 420, frozen(-2.0));
    let zt = max_z_over_logits3("DoubleCV K=3 trained", 430, |l| trained(l, 0.0));
    std::println!(
        "DoubleCV max |z|: untrained {:.2}, trained {zt:.2}",
        z0.max(z1).max(z2)
    );
}

/// `alpha_grad` is `d |g|^2 / d alpha` (central differences at fixed samples).
#[test]
fn alpha_gradient_matches_finite_differences() {
    let l = [0.3f32, -1.1, 2.0];
    let mut f = Quad { t: TARGET };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    for _ in 0..20 {
        let bs: [[f32; 3]; 3] = core::array::from_fn(|_| {
            Bernoulli::<3>::harden(&Bernoulli::<3>::sample_z(&l, &mut rng))
        });
        let mut fs = [0.0; 3];
        let mut gs = [[0.0; 3]; 3];
        for k in 0..3 {
            fs[k] = f.relaxed(&bs[k], &mut gs[k]);
        }
        for alpha in [-1.0f32, 0.0, 0.7] {
            let s = double_cv_combine(&l, &bs, &fs, &gs, alpha).unwrap();
            let h = 1e-2;
            let lp = double_cv_combine(&l, &bs, &fs, &gs, alpha + h).unwrap();
            let lm = double_cv_combine(&l, &bs, &fs, &gs, alpha - h).unwrap();
            let fd = (lp.variance_loss - lm.variance_loss) / (2.0 * h);
            assert!(
                (s.alpha_grad - fd).abs() < 1e-3 + 1e-2 * fd.abs(),
                "{} vs {fd}",
                s.alpha_grad
            );
        }
    }
}

/// Training `alpha` lowers the variance below RLOO's at the same `K`.
#[test]
fn trained_alpha_reduces_variance() {
    let l = bernoulli_logits3()[0];
    let mut f = Quad { t: TARGET };
    let mut rloo = Rloo::<Bernoulli<3>, 3, 3>::new().unwrap();
    let vr: f64 = sample_stats(&mut rloo, &l, &mut f, 5, N_SAMPLES / 4)
        .1
        .iter()
        .sum();
    let mut dcv = trained(&l, 0.0);
    let vd: f64 = sample_stats(&mut dcv, &l, &mut f, 5, N_SAMPLES / 4)
        .1
        .iter()
        .sum();
    std::println!(
        "K = 3 total variance: RLOO {vr:.3e}, Double CV {vd:.3e} (alpha {})",
        dcv.alpha()
    );
    assert!(vd < vr, "Double CV {vd} vs RLOO {vr}");
}

#[test]
fn bad_input_is_refused_and_alpha_kept() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    assert_eq!(
        DoubleCv::<3, 1>::new(AdamConfig::new(0.1)).err(),
        Some(Error::InvalidHyperparameter)
    );
    let mut e = DoubleCv::<3, 2>::new(AdamConfig::new(0.1))
        .unwrap()
        .with_alpha(0.5)
        .unwrap();
    let mut f = Quad { t: TARGET };
    assert_eq!(
        e.estimate(&[0.0, f32::INFINITY, 0.0], &mut f, &mut rng)
            .err(),
        Some(Error::NonFiniteInput)
    );
    struct NanGrad;
    impl crate::estimator::Objective<3> for NanGrad {
        fn value(&mut self, _: &[f32; 3]) -> f32 {
            1.0
        }
    }
    impl RelaxedObjective<3> for NanGrad {
        fn relaxed(&mut self, _: &[f32; 3], g: &mut [f32; 3]) -> f32 {
            *g = [0.0, f32::NAN, 0.0];
            1.0
        }
    }
    assert_eq!(
        e.estimate(&[0.0; 3], &mut NanGrad, &mut rng).err(),
        Some(Error::NonFiniteObjective)
    );
    assert_eq!(e.alpha(), 0.5);
}
