extern crate std;

use super::*;
use crate::estimator::testing::{
    bernoulli_logits3, max_z_over_logits3, sample_stats, Quad, N_SAMPLES, TARGET,
};
use crate::estimator::{Objective, Rloo};
use crate::nn::{mlp_param_count, Activation};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

const HID: usize = 8;
const NP: usize = mlp_param_count(2, HID, 2, 1);
type Net = Mlp<2, HID, 2, 1, NP>;
type R3<const K: usize> = Rodeo<3, K, HID, 1, NP>;

fn rodeo<const K: usize>(seed: u64, coef: [f32; 2]) -> R3<K> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let net = Net::new_random(Activation::Tanh, 1.0, &mut rng);
    R3::<K>::new(net, AdamConfig::new(0.01), AdamConfig::new(0.01))
        .unwrap()
        .with_coefficients(coef)
        .unwrap()
}

fn trained<const K: usize>(l: &[f32; 3], seed: u64, coef: [f32; 2]) -> R3<K> {
    let mut e = rodeo::<K>(seed, coef);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(999);
    let mut f = Quad { t: TARGET };
    for _ in 0..500 {
        e.estimate(l, &mut f, &mut rng).unwrap();
    }
    e.set_training(false);
    e
}

fn frozen<const K: usize>(seed: u64, coef: [f32; 2]) -> R3<K> {
    let mut e = rodeo::<K>(seed, coef);
    e.set_training(false);
    e
}

/// Exact enumeration, `D = 3`, `K = 2` and `K = 3`: untrained (random network with
/// `alpha = beta = 0`, which is RLOO, and with `alpha = 1, beta = 1`) and trained then frozen
/// (from both starts).
#[test]
fn rodeo_is_unbiased_by_enumeration() {
    let u0 = max_z_over_logits3("RODEO K=2 untrained a=b=0", 500, |_| {
        frozen::<2>(1, [0.0, 0.0])
    });
    let u1 = max_z_over_logits3("RODEO K=2 untrained a=b=1", 510, |_| {
        frozen::<2>(2, [1.0, 1.0])
    });
    let u2 = max_z_over_logits3("RODEO K=3 untrained a=b=1", 520, |_| {
        frozen::<3>(3, [1.0, -1.0])
    });
    let t0 = max_z_over_logits3("RODEO K=2 trained", 530, |l| trained::<2>(l, 4, [0.0, 0.0]));
    let t1 = max_z_over_logits3("RODEO K=3 trained", 540, |l| trained::<3>(l, 5, [0.0, 0.0]));
    let t2 = max_z_over_logits3("RODEO K=2 trained from 1", 550, |l| {
        trained::<2>(l, 6, [1.0, 1.0])
    });
    std::println!(
        "RODEO max |z|: untrained {:.2}, trained {:.2}",
        u0.max(u1).max(u2),
        t0.max(t1).max(t2)
    );
}

/// The variance-loss gradient in `(alpha, beta)` and in every network weight against
/// central differences of `|g|^2` at fixed samples.
#[test]
fn variance_gradient_matches_finite_differences() {
    let l = [0.3f32, -1.1, 2.0];
    let mut f = Quad { t: TARGET };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(8);
    for seed in 0..4u64 {
        let base = rodeo::<3>(40 + seed, [0.7, -0.6]);
        let bs: [[f32; 3]; 3] = core::array::from_fn(|_| {
            Bernoulli::<3>::harden(&Bernoulli::<3>::sample_z(&l, &mut rng))
        });
        let mut fs = [0.0; 3];
        let mut gs = [[0.0; 3]; 3];
        for k in 0..3 {
            fs[k] = f.relaxed(&bs[k], &mut gs[k]);
        }
        let e = base.eval(&l, &bs, &fs, &gs, true).unwrap();
        let loss = |r: &R3<3>| r.eval(&l, &bs, &fs, &gs, false).unwrap().loss as f64;
        let h = 1e-2f32;
        let check = |a: f32, fd: f64, what: &str| {
            assert!(
                (a as f64 - fd).abs() < 2e-3 + 3e-2 * fd.abs(),
                "seed {seed} {what}: {a} vs finite difference {fd}"
            );
        };
        for c in 0..2 {
            let (mut p, mut m) = (base.clone(), base.clone());
            p.coef[c] += h;
            m.coef[c] -= h;
            check(
                e.coef_grad[c],
                (loss(&p) - loss(&m)) / (2.0 * h as f64),
                "coefficient",
            );
        }
        for i in 0..NP {
            let (mut p, mut m) = (base.clone(), base.clone());
            p.net.params_mut()[i] += h;
            m.net.params_mut()[i] -= h;
            check(
                e.net_grad[i],
                (loss(&p) - loss(&m)) / (2.0 * h as f64),
                "net weight",
            );
        }
    }
}

/// Training lowers the variance below RLOO's at the same `K`.
#[test]
fn trained_rodeo_reduces_variance() {
    let l = bernoulli_logits3()[0];
    let mut f = Quad { t: TARGET };
    for k in [2usize, 3] {
        let n = N_SAMPLES / 4;
        let (vr, vd): (f64, f64) = if k == 2 {
            let mut rloo = Rloo::<Bernoulli<3>, 3, 2>::new().unwrap();
            let mut r = trained::<2>(&l, 7, [0.0, 0.0]);
            (
                sample_stats(&mut rloo, &l, &mut f, 5, n).1.iter().sum(),
                sample_stats(&mut r, &l, &mut f, 5, n).1.iter().sum(),
            )
        } else {
            let mut rloo = Rloo::<Bernoulli<3>, 3, 3>::new().unwrap();
            let mut r = trained::<3>(&l, 7, [0.0, 0.0]);
            (
                sample_stats(&mut rloo, &l, &mut f, 5, n).1.iter().sum(),
                sample_stats(&mut r, &l, &mut f, 5, n).1.iter().sum(),
            )
        };
        std::println!("K = {k} total variance: RLOO {vr:.3e}, RODEO trained {vd:.3e}");
        assert!(vd < vr, "RODEO {vd} vs RLOO {vr} at K = {k}");
    }
}

#[test]
fn bad_input_is_refused_and_state_kept() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let net = Net::zeros(Activation::Tanh);
    assert_eq!(
        Rodeo::<3, 1, HID, 1, NP>::new(net.clone(), AdamConfig::new(0.1), AdamConfig::new(0.1))
            .err(),
        Some(Error::InvalidHyperparameter)
    );
    let mut r = rodeo::<2>(1, [0.5, 0.5]);
    let before = (*r.net().params(), r.coefficients());
    let mut f = Quad { t: TARGET };
    assert_eq!(
        r.estimate(&[0.0, f32::NAN, 0.0], &mut f, &mut rng).err(),
        Some(Error::NonFiniteInput)
    );
    struct Huge;
    impl Objective<3> for Huge {
        fn value(&mut self, _: &[f32; 3]) -> f32 {
            3e38
        }
    }
    impl RelaxedObjective<3> for Huge {
        fn relaxed(&mut self, x: &[f32; 3], g: &mut [f32; 3]) -> f32 {
            *g = [1e30, -1e30, 1e30];
            if x[0] > 0.5 {
                3e38
            } else {
                -3e38
            }
        }
    }
    for _ in 0..50 {
        if let Ok(e) = r.estimate(&[0.0; 3], &mut Huge, &mut rng) {
            assert!(e.grad.iter().all(|g| g.is_finite()));
        }
    }
    assert_eq!((*r.net().params(), r.coefficients()), before);
    assert_eq!(
        r.step(&[0.0; 3], &[[0.5, 0.0, 1.0]; 2], &[0.0; 2], &[[0.0; 3]; 2])
            .err(),
        Some(Error::InvalidAction)
    );
}

/// Not a check: the total variance (sum over coordinates) of the black-box and
/// gradient-using estimators at equal numbers of evaluations of `f`, at the first logit
/// vector of the enumeration tests (learned parts trained 500 steps, then frozen). Run with
/// `--nocapture` to see the table.
#[test]
fn equal_cost_variance_table() {
    use crate::estimator::{Arms, DisArm, DoubleCv};
    let l = bernoulli_logits3()[0];
    let mut f = Quad { t: TARGET };
    let n = N_SAMPLES / 4;
    let mut v = |name: &str, e: &mut dyn FnMut(&mut Quad<3>) -> f64| {
        std::println!("  {name:<24} {:.3e}", e(&mut f));
    };
    std::println!("total variance at {l:?}, f = sum (b - t)^2:");
    macro_rules! var {
        ($e:expr) => {
            &mut |f: &mut Quad<3>| sample_stats(&mut $e, &l, f, 11, n).1.iter().sum::<f64>()
        };
    }
    v(
        "2 evals: RLOO K=2",
        var!(Rloo::<Bernoulli<3>, 3, 2>::new().unwrap()),
    );
    v("2 evals: DisARM", var!(DisArm::<3>::new()));
    v(
        "2 evals: Double CV K=2",
        var!({
            let mut d = DoubleCv::<3, 2>::new(AdamConfig::new(0.01)).unwrap();
            let mut rng = Xoshiro128PlusPlus::seed_from_u64(999);
            for _ in 0..500 {
                d.estimate(&l, &mut Quad { t: TARGET }, &mut rng).unwrap();
            }
            d.set_training(false);
            d
        }),
    );
    v("2 evals: RODEO K=2", var!(trained::<2>(&l, 7, [0.0, 0.0])));
    v(
        "3 evals: RLOO K=3",
        var!(Rloo::<Bernoulli<3>, 3, 3>::new().unwrap()),
    );
    v("3 evals: ARMS S=3", var!(Arms::<3, 3>::new().unwrap()));
    v(
        "3 evals: Double CV K=3",
        var!({
            let mut d = DoubleCv::<3, 3>::new(AdamConfig::new(0.01)).unwrap();
            let mut rng = Xoshiro128PlusPlus::seed_from_u64(999);
            for _ in 0..500 {
                d.estimate(&l, &mut Quad { t: TARGET }, &mut rng).unwrap();
            }
            d.set_training(false);
            d
        }),
    );
    v("3 evals: RODEO K=3", var!(trained::<3>(&l, 7, [0.0, 0.0])));
    v(
        "4 evals: RLOO K=4",
        var!(Rloo::<Bernoulli<3>, 3, 4>::new().unwrap()),
    );
    v("4 evals: ARMS S=4", var!(Arms::<3, 4>::new().unwrap()));
    v("4 evals: RODEO K=4", var!(trained::<4>(&l, 7, [0.0, 0.0])));
}

/// The step-level function is the struct's step: the same estimate, loss and, after one
/// Adam step on each part from its gradients, the same learned state, bit for bit; and it
/// adds the network's gradient into the caller's buffer.
#[test]
fn rodeo_combine_equals_the_struct_step() {
    let l = [0.3f32, -1.1, 2.0];
    let mut f = Quad { t: TARGET };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(21);
    for seed in 0..8u64 {
        let mut r = rodeo::<3>(60 + seed, [0.4, -0.3]);
        for round in 0..5 {
            let bs: [[f32; 3]; 3] = core::array::from_fn(|_| {
                Bernoulli::<3>::harden(&Bernoulli::<3>::sample_z(&l, &mut rng))
            });
            let mut fs = [0.0; 3];
            let mut gs = [[0.0; 3]; 3];
            for k in 0..3 {
                fs[k] = f.relaxed(&bs[k], &mut gs[k]);
            }
            let (net0, coef0) = (r.net().clone(), r.coefficients());
            let (mut adam_net, mut adam_coef) = (r.adam_net.clone(), r.adam_coef.clone());
            let (g, loss) = r.step(&l, &bs, &fs, &gs).unwrap();

            let prior = [0.25f32; NP];
            let mut acc = prior;
            let s = rodeo_combine(&l, &bs, &fs, &gs, &net0, coef0, Some(&mut acc)).unwrap();
            assert_eq!(s.grad, g, "seed {seed} round {round}");
            assert_eq!(Some(s.variance_loss), loss);
            let mut net_grad = [0.0f32; NP];
            for i in 0..NP {
                net_grad[i] = acc[i] - prior[i];
            }
            let mut fresh = [0.0f32; NP];
            rodeo_combine(&l, &bs, &fs, &gs, &net0, coef0, Some(&mut fresh)).unwrap();
            for i in 0..NP {
                assert!((net_grad[i] - fresh[i]).abs() <= 1e-6 * (1.0 + fresh[i].abs()));
            }
            let mut net = net0.clone();
            let mut coef = coef0;
            adam_coef.step(&mut coef, &s.coef_grad).unwrap();
            adam_net.step(net.params_mut(), &fresh).unwrap();
            assert_eq!(coef, r.coefficients());
            assert_eq!(net.params(), r.net().params());

            let plain = rodeo_combine(&l, &bs, &fs, &gs, &net0, coef0, None).unwrap();
            assert_eq!((plain.grad, plain.variance_loss), (s.grad, s.variance_loss));
            assert_eq!(plain.coef_grad, [0.0, 0.0]);
        }
    }
}

/// The step-level function refuses what the struct cannot hold: non-finite coefficients or
/// network weights.
#[test]
fn rodeo_combine_refuses_non_finite_state() {
    let mut net = Net::zeros(Activation::Tanh);
    let bs = [[0.0f32, 1.0, 1.0]; 2];
    let args = (&[0.0f32; 3], &bs, &[1.0f32; 2], &[[0.5f32; 3]; 2]);
    assert_eq!(
        rodeo_combine(args.0, args.1, args.2, args.3, &net, [f32::NAN, 0.0], None).err(),
        Some(Error::NonFiniteInput)
    );
    net.params_mut()[3] = f32::INFINITY;
    let mut acc = [0.0f32; NP];
    assert_eq!(
        rodeo_combine(
            args.0,
            args.1,
            args.2,
            args.3,
            &net,
            [0.0, 0.0],
            Some(&mut acc)
        )
        .err(),
        Some(Error::NonFiniteInput)
    );
    assert_eq!(acc, [0.0; NP]);
}
