use super::*;
use crate::estimator::{Estimate, Estimator};
use crate::objective;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

fn toy(b: &[f32; 1]) -> f32 {
    (b[0] - 0.499) * (b[0] - 0.499)
}

fn run<E: Estimator<1, fn(&[f32; 1]) -> f32>>(
    e: &mut E,
    rng: &mut Xoshiro128PlusPlus,
) -> Estimate<1> {
    let mut f: fn(&[f32; 1]) -> f32 = toy;
    let mut last = None;
    for k in 0..300 {
        last = Some(e.estimate(&[0.1 * (k % 7) as f32], &mut f, rng).unwrap());
    }
    last.unwrap()
}

/// The preset is the crate documentation's hand-built toy RELAX, bit for bit.
#[test]
fn toy_relax_is_the_hand_built_one() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let net = Mlp::new_random(Activation::Tanh, 1.0, &mut rng);
    let cv = NeuralCv::new(net, CvInput::RelaxedSigned, 0.0, 0.5, AdamConfig::new(0.01)).unwrap();
    let mut hand: ToyRelax = Relax::new(cv).with_coupling(Coupling::Tied);
    let want = run(&mut hand, &mut rng);

    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let mut preset = toy_relax(&mut rng).unwrap();
    assert_eq!(run(&mut preset, &mut rng), want);
    assert_eq!(preset.cv().net().params(), hand.cv().net().params());
}

#[test]
fn macros_name_the_types_the_builders_return() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut relax: crate::bernoulli_relax!(4, 6) = bernoulli_relax(0.01, &mut rng).unwrap();
    let mut rr: crate::bernoulli_relax_rebar!(2 + 2, 3) =
        bernoulli_relax_rebar(0.01, &mut rng).unwrap();
    let mut rebar: BernoulliRebar<4> = bernoulli_rebar(0.01).unwrap();
    let mut f = objective::with_grad(|x: &[f32; 4]| (x.iter().sum::<f32>(), [1.0; 4]));
    let l = [0.2, -0.1, 0.0, 0.3];
    for _ in 0..10 {
        for e in [
            relax.estimate(&l, &mut f, &mut rng).unwrap(),
            rr.estimate(&l, &mut f, &mut rng).unwrap(),
            rebar.estimate(&l, &mut f, &mut rng).unwrap(),
        ] {
            assert!(e.grad.iter().all(|g| g.is_finite()));
            assert!(
                e.variance_loss.is_some(),
                "presets train their control variate"
            );
        }
    }
}
