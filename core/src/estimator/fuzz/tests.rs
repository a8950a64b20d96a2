//! The fuzz test of issue 15 ("the core's promises hold under fuzzing"): `CALLS` hostile calls
//! per estimator, for every estimator, distribution and control variate, with fixed seeds.
//! Logits and every objective value, relaxed gradient and Hessian-vector product are drawn
//! per call from a regime (calm, mixed, hostile: finite, `+-1e30`, `+-3e38`, subnormal,
//! infinite, NaN). Asserted: no panic; every `Ok` is finite (gradient, value, variance loss,
//! per-sample terms); every `Err` leaves the learnable state (parameters, optimizer moments,
//! baselines, pending gradients) bit-identical; the state is finite after every call.
//! Run with `--nocapture` to see the counts and times.

extern crate std;
use std::time::Instant;
use std::vec::Vec;
use std::{format, println};

use super::*;
use crate::dist::{Bernoulli, Categorical, Conditional, Relaxed};
use crate::estimator::{
    disarm_combine, muprop_combine, nvil_combine, relax_combine, Coupling, CvInput, Draw, Estimate,
    Estimator,
};
use crate::nn::{mlp_param_count, Activation, Mlp};
use crate::optim::{AdamConfig, Sgd};
use rand_core::SeedableRng;

/// Calls per estimator.
const CALLS: u64 = 100_000;

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    err: u64,
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The checks after one call: `ok` is the call's finite outputs, or `None` for an `Err`.
fn check_call<S: State + ?Sized>(
    name: &str,
    call: u64,
    est: &S,
    before: &[f32],
    outputs: Option<&[f32]>,
    tally: &mut Tally,
) {
    let mut after = Vec::new();
    est.state(&mut after);
    match outputs {
        Some(out) => {
            tally.ok += 1;
            assert!(
                out.iter().all(|v| v.is_finite()),
                "{name}, call {call}: an Ok estimate is not finite: {out:?}"
            );
        }
        None => {
            tally.err += 1;
            assert!(
                bits(before) == bits(&after),
                "{name}, call {call}: a failed call changed the state\n{before:?}\n{after:?}"
            );
        }
    }
    assert!(
        after.iter().all(|v| v.is_finite()),
        "{name}, call {call}: non-finite state {after:?}"
    );
}

fn estimate_outputs<const D: usize>(e: &Estimate<D>) -> Vec<f32> {
    let mut out = e.grad.to_vec();
    out.push(e.value);
    out.extend(e.variance_loss);
    out
}

/// `CALLS` hostile calls of `est`; `extra` adds outputs the estimator keeps (RLOO's
/// per-sample terms).
fn fuzz<const D: usize, E>(name: &str, est: &mut E, seed: u64, extra: fn(&E, &mut Vec<f32>))
where
    E: Estimator<D, HostileObjective> + State,
{
    let start = Instant::now();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut f = HostileObjective {
        rng: Xoshiro128PlusPlus::seed_from_u64(seed ^ 0xf00d),
        regime: Regime::Calm,
        evals: 0,
    };
    let mut tally = Tally::default();
    let mut before = Vec::new();
    for call in 0..CALLS {
        let logit_regime = Regime::draw(&mut rng);
        let logits: [f32; D] = values(&mut rng, logit_regime, 4.0);
        f.regime = Regime::draw(&mut rng);
        before.clear();
        est.state(&mut before);
        let outputs = est.estimate(&logits, &mut f, &mut rng).ok().map(|e| {
            let mut out = estimate_outputs(&e);
            extra(est, &mut out);
            out
        });
        check_call(name, call, est, &before, outputs.as_deref(), &mut tally);
    }
    report(name, &tally, f.evals, start);
}

fn report(name: &str, tally: &Tally, evals: u64, start: Instant) {
    println!(
        "{name:<28} {} calls: {} Ok, {} Err, {evals} objective evaluations, {:.2} s",
        tally.ok + tally.err,
        tally.ok,
        tally.err,
        start.elapsed().as_secs_f64()
    );
    assert_eq!(tally.ok + tally.err, CALLS);
    // Both outcomes must be common, or the fuzz tests little.
    assert!(tally.ok > CALLS / 10, "{name}: only {} Ok", tally.ok);
    assert!(tally.err > CALLS / 10, "{name}: only {} Err", tally.err);
}

fn nothing<E>(_: &E, _: &mut Vec<f32>) {}

fn rng(seed: u64) -> Xoshiro128PlusPlus {
    Xoshiro128PlusPlus::seed_from_u64(seed)
}

type Cv1 = NeuralCv<Bernoulli<1>, 1, 0, 1, 10, 1, { mlp_param_count(1, 10, 1, 1) }>;
type CatCv3 = NeuralCv<Categorical<3>, 3, 0, 3, 5, 1, { mlp_param_count(3, 5, 1, 1) }>;
type LogitCv3 = NeuralCv<Bernoulli<3>, 3, 0, 3, 5, 1, { mlp_param_count(3, 5, 1, 1) }>;
type BernCv4 = NeuralCv<Bernoulli<4>, 4, 0, 4, 5, 2, { mlp_param_count(4, 5, 1, 2) }>;

#[test]
fn fuzz_reinforce() {
    fuzz(
        "REINFORCE Bernoulli<3>",
        &mut Reinforce::<Bernoulli<3>, 3>::new(),
        1,
        nothing,
    );
}

#[test]
fn fuzz_reinforce_baseline() {
    let mut b = Reinforce::<Bernoulli<2>, 2>::with_baseline(0.9).unwrap();
    fuzz("REINFORCE+baseline Bern<2>", &mut b, 2, nothing);
    let mut c = Reinforce::<Categorical<4>, 4>::with_baseline(0.9).unwrap();
    fuzz("REINFORCE+baseline Cat<4>", &mut c, 3, nothing);
}

#[test]
fn fuzz_rloo() {
    fn per_sample<Dist: Relaxed<D>, const D: usize, const K: usize>(
        r: &Rloo<Dist, D, K>,
        out: &mut Vec<f32>,
    ) {
        r.per_sample().iter().for_each(|t| out.extend_from_slice(t));
    }
    let mut b = Rloo::<Bernoulli<3>, 3, 4>::new().unwrap();
    fuzz("RLOO Bernoulli<3> K=4", &mut b, 4, per_sample);
    let mut c = Rloo::<Categorical<3>, 3, 2>::new().unwrap();
    fuzz("RLOO Categorical<3> K=2", &mut c, 5, per_sample);
}

#[test]
fn fuzz_disarm_nvil_muprop() {
    fuzz("DisARM Bernoulli<3>", &mut DisArm::<3>::new(), 6, nothing);
    let mut nvil = Nvil::<Bernoulli<2>, 2>::new(AdamConfig::new(0.01)).unwrap();
    fuzz("NVIL Bernoulli<2>", &mut nvil, 7, nothing);
    let mut nvil_c = Nvil::<Categorical<3>, 3>::new(AdamConfig::new(0.01)).unwrap();
    fuzz("NVIL Categorical<3>", &mut nvil_c, 8, nothing);
    let mut muprop = MuProp::<2>::new(AdamConfig::new(0.01)).unwrap();
    fuzz("MuProp Bernoulli<2>", &mut muprop, 9, nothing);
}

#[test]
fn fuzz_concrete_and_straight_through() {
    let mut c = Concrete::<Bernoulli<2>, 2>::new(0.5).unwrap();
    fuzz("Concrete Bernoulli<2>", &mut c, 10, nothing);
    let mut c = Concrete::<Categorical<3>, 3>::new(0.5).unwrap();
    fuzz("Concrete Categorical<3>", &mut c, 11, nothing);
    let mut s = StraightThrough::<Bernoulli<2>, 2>::new(1.0).unwrap();
    fuzz("StraightThrough Bern<2>", &mut s, 12, nothing);
    let mut s = StraightThrough::<Categorical<3>, 3>::new(1.0).unwrap();
    fuzz("StraightThrough Cat<3>", &mut s, 13, nothing);
}

#[test]
fn fuzz_rebar() {
    let cv = RebarCv::<Bernoulli<2>, 2>::paper_default(0.01).unwrap();
    fuzz(
        "REBAR Bernoulli<2>",
        &mut Relax::<Bernoulli<2>, 2, _>::new(cv),
        14,
        nothing,
    );
    let cv = RebarCv::<Categorical<3>, 3>::paper_default(0.01).unwrap();
    let mut r = Relax::<Categorical<3>, 3, _>::new(cv).with_coupling(Coupling::Tied);
    fuzz("REBAR Categorical<3> tied", &mut r, 15, nothing);
}

#[test]
fn fuzz_relax_neural() {
    let net = Mlp::new_random(Activation::Tanh, 1.0, &mut rng(16));
    let cv = Cv1::new(net, CvInput::RelaxedSigned, 0.0, 0.5, AdamConfig::new(0.01)).unwrap();
    let mut r = Relax::<Bernoulli<1>, 1, _>::new(cv).with_coupling(Coupling::Tied);
    fuzz("RELAX Neural Bernoulli<1>", &mut r, 17, nothing);
    let net = Mlp::new_random(Activation::Relu, 1.0, &mut rng(18));
    let cv = BernCv4::new(net, CvInput::Relaxed, 1.0, 1.0, AdamConfig::new(0.01)).unwrap();
    let mut r = Relax::<Bernoulli<4>, 4, _>::new(cv);
    fuzz("RELAX Neural Bernoulli<4>", &mut r, 19, nothing);
    let net = Mlp::new_random(Activation::Tanh, 1.0, &mut rng(20));
    let cv = CatCv3::new(net, CvInput::Relaxed, 1.0, 0.5, AdamConfig::new(0.01)).unwrap();
    let mut r = Relax::<Categorical<3>, 3, _>::new(cv);
    fuzz("RELAX Neural Categorical<3>", &mut r, 21, nothing);
}

#[test]
fn fuzz_relax_plus() {
    let net = Mlp::new_random(Activation::Relu, 1.0, &mut rng(22));
    let r_rho = LogitCv3::new(net, CvInput::Logits, 0.1, 1.0, AdamConfig::new(0.01)).unwrap();
    let cv = Plus(
        RebarCv::<Bernoulli<3>, 3>::paper_default(0.01).unwrap(),
        r_rho,
    );
    let mut r = Relax::<Bernoulli<3>, 3, _>::new(cv);
    fuzz("RELAX Plus(Rebar, Neural) B<3>", &mut r, 23, nothing);
}

#[test]
fn fuzz_lax() {
    const P: usize = mlp_param_count(2, 5, 1, 1);
    let net = Mlp::<2, 5, 1, 1, P>::new_random(Activation::Tanh, 1.0, &mut rng(24));
    let mut lax = Lax::new(net, AdamConfig::new(0.01)).unwrap();
    let name = "LAX Gaussian<2>";
    let start = Instant::now();
    let mut rng = rng(25);
    let mut f = HostileObjective {
        rng: Xoshiro128PlusPlus::seed_from_u64(26),
        regime: Regime::Calm,
        evals: 0,
    };
    let mut tally = Tally::default();
    let mut before = Vec::new();
    for call in 0..CALLS {
        let regime = Regime::draw(&mut rng);
        let mean: [f32; 2] = values(&mut rng, regime, 3.0);
        let log_std: [f32; 2] = values(&mut rng, regime, 1.0);
        f.regime = Regime::draw(&mut rng);
        before.clear();
        lax.state(&mut before);
        let outputs = lax
            .estimate(&mean, &log_std, &mut f, &mut rng)
            .ok()
            .map(|e| {
                let mut out = e.grad_mean.to_vec();
                out.extend_from_slice(&e.grad_log_std);
                out.push(e.value);
                out.extend(e.variance_loss);
                out
            });
        check_call(name, call, &lax, &before, outputs.as_deref(), &mut tally);
    }
    report(name, &tally, f.evals, start);
}

/// The step functions a caller combines itself, the conditional draw, and the optimizers,
/// with hostile arguments: every `Ok` is finite, an optimizer's `Err` changes nothing.
#[test]
fn fuzz_steps_and_optimizers() {
    let mut rng = rng(27);
    let start = Instant::now();
    for _ in 0..CALLS {
        let r = Regime::draw(&mut rng);
        let l: [f32; 3] = values(&mut rng, r, 4.0);
        let lc: [f32; 3] = {
            let r = Regime::draw(&mut rng);
            values(&mut rng, r, 4.0)
        };
        let b = Bernoulli::<3>::harden(&values(&mut rng, Regime::Calm, 1.0));
        let bt = Bernoulli::<3>::harden(&values(&mut rng, Regime::Calm, 1.0));
        let [fb, fbt, fmu, base, e0, e1] = {
            let r = Regime::draw(&mut rng);
            values(&mut rng, r, 2.0)
        };
        let g3: [f32; 3] = {
            let r = Regime::draw(&mut rng);
            values(&mut rng, r, 2.0)
        };
        let v: [f32; 3] = {
            let r = Regime::draw(&mut rng);
            values(&mut rng, r, 2.0)
        };
        let finite = |x: &[f32]| x.iter().all(|v| v.is_finite());

        if let Ok(g) = disarm_combine(&l, &b, &bt, fb, fbt) {
            assert!(finite(&g), "disarm_combine {g:?}");
        }
        if let Ok(s) = nvil_combine::<Bernoulli<3>, 3>(&l, &b, fb, base) {
            assert!(
                finite(&s.grad) && finite(&[s.signal, s.baseline_grad]),
                "nvil {s:?}"
            );
        }
        if let Ok(s) = muprop_combine(&l, &b, fb, fmu, &g3, base, [e0, e1]) {
            let learn = [s.signal, s.eta_grad[0], s.eta_grad[1], s.baseline_grad];
            assert!(finite(&s.grad) && finite(&learn), "muprop {s:?}");
        }
        // Conditional draws from any noise, clamped into (0, 1): finite wherever `b` is not
        // impossible in f32 (any `b` at moderate logits).
        let logits_ok = finite(&l) && finite(&lc);
        let cb: Conditional<3> = Bernoulli::<3>::conditional_from_noise(&l, &b, &v);
        let bc = Categorical::<3>::harden(&lc);
        let cc: Conditional<3> = Categorical::<3>::conditional_from_noise(&lc, &bc, &v);
        if logits_ok && l.iter().chain(&lc).all(|x| x.abs() < 50.0) {
            assert!(
                finite(&cb.z) && finite(&cb.coef),
                "Bernoulli conditional {l:?} {v:?} {cb:?}"
            );
            assert!(
                finite(&cc.z) && finite(&cc.coef),
                "Categorical conditional {lc:?} {v:?} {cc:?}"
            );
        }
        if let Ok(draw) = Draw::new::<Bernoulli<3>, _>(&l, &mut rng) {
            if let Ok(g) = relax_combine::<Bernoulli<3>, 3>(&l, &draw, fb, fmu, &g3, &v) {
                assert!(finite(&g), "relax_combine {g:?}");
            }
        }

        let mut adam = Adam::<3>::new(AdamConfig::new(0.01)).unwrap();
        let mut p: [f32; 3] = values(&mut rng, Regime::Calm, 1.0);
        for _ in 0..(rng.next_u32() % 4) {
            let g: [f32; 3] = values(&mut rng, Regime::Calm, 1.0);
            adam.step(&mut p, &g).unwrap();
        }
        let (p0, a0) = (p, format!("{adam:?}"));
        match adam.step(&mut p, &g3) {
            Ok(()) => {
                let (m, v, _, _) = adam.snapshot();
                assert!(finite(&p) && finite(m) && finite(v), "Adam {p:?} {adam:?}");
            }
            Err(_) => assert!(bits(&p0) == bits(&p) && a0 == format!("{adam:?}")),
        }
        let mut sgd = Sgd::<3>::new(0.1, 0.9).unwrap();
        let mut p = [fmu, e0, e1];
        let p0 = p;
        match sgd.step(&mut p, &g3) {
            Ok(()) => assert!(finite(&p), "SGD {p:?}"),
            Err(_) => assert!(bits(&p0) == bits(&p)),
        }
    }
    println!(
        "step functions and optimizers: {CALLS} rounds, {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

/// Issue 14's Bernoulli estimators: ARMS (2 and 4 samples), ReinMax (both distributions),
/// Double CV and RODEO (learned parts training throughout).
#[test]
fn fuzz_arms_reinmax_double_cv_rodeo() {
    use crate::estimator::{Arms, DoubleCv, ReinMax, Rodeo};
    fuzz(
        "ARMS Bernoulli<3> S=2",
        &mut Arms::<3, 2>::new().unwrap(),
        40,
        nothing,
    );
    fuzz(
        "ARMS Bernoulli<3> S=4",
        &mut Arms::<3, 4>::new().unwrap(),
        41,
        nothing,
    );
    let mut r = ReinMax::<Bernoulli<2>, 2>::new(1.0).unwrap();
    fuzz("ReinMax Bernoulli<2>", &mut r, 42, nothing);
    let mut r = ReinMax::<Categorical<3>, 3>::new(1.5).unwrap();
    fuzz("ReinMax Categorical<3>", &mut r, 43, nothing);
    let mut d = DoubleCv::<3, 3>::new(AdamConfig::new(0.01)).unwrap();
    fuzz("DoubleCV Bernoulli<3> K=3", &mut d, 44, nothing);
    const P: usize = mlp_param_count(2, 5, 2, 1);
    let net = Mlp::<2, 5, 2, 1, P>::new_random(Activation::Tanh, 1.0, &mut rng(45));
    let mut r = Rodeo::<3, 2, 5, 1, P>::new(net, AdamConfig::new(0.01), AdamConfig::new(0.01))
        .unwrap()
        .with_coefficients([0.5, 0.5])
        .unwrap();
    fuzz("RODEO Bernoulli<3> K=2", &mut r, 46, nothing);
}

#[test]
fn fuzz_categorical_products() {
    use crate::estimator::{CoupledDisArm, IndeCateR};
    fuzz(
        "IndeCateR 1x4",
        &mut IndeCateR::<1, 4, 4>::new(),
        40,
        nothing,
    );
    fuzz(
        "IndeCateR 2x3",
        &mut IndeCateR::<2, 3, 6>::new(),
        41,
        nothing,
    );
    fuzz(
        "CoupledDisARM 1x4",
        &mut CoupledDisArm::<1, 4, 4>::new(),
        42,
        nothing,
    );
    fuzz(
        "CoupledDisARM 2x3",
        &mut CoupledDisArm::<2, 3, 6>::new(),
        43,
        nothing,
    );
    let mut sb = CoupledDisArm::<2, 3, 6>::new()
        .with_variant(crate::estimator::CoupledVariant::StickBreaking);
    fuzz("CoupledDisARM-SB 2x3", &mut sb, 48, nothing);
    let mut c = crate::estimator::Carms::<1, 4, 4, 3>::new().unwrap();
    fuzz("CARMS 1x4 S=3", &mut c, 46, nothing);
    let mut c = crate::estimator::Carms::<2, 3, 6, 4>::new().unwrap();
    fuzz("CARMS 2x3 S=4", &mut c, 47, nothing);
    let mut r = Reinforce::<crate::dist::CategoricalProduct<2, 3, 6>, 6>::new();
    fuzz("REINFORCE CatProduct 2x3", &mut r, 44, nothing);
}

/// Coupled DisARM's steps with hostile logits, values and weights (a caller's pair may be
/// anything): every `Ok` is finite, weights included.
#[test]
fn fuzz_coupled_disarm_steps() {
    use crate::estimator::{CoupledDisArm, CoupledPair};
    type C = CoupledDisArm<2, 3, 6>;
    let mut rng = rng(45);
    let finite = |x: &[f32]| x.iter().all(|v| v.is_finite());
    let (mut ok, mut err) = (0u64, 0u64);
    for _ in 0..CALLS {
        let r = Regime::draw(&mut rng);
        let l: [f32; 6] = values(&mut rng, r, 4.0);
        let [fb, fbt, w0, w1] = {
            let r = Regime::draw(&mut rng);
            values(&mut rng, r, 2.0)
        };
        if let Ok(pair) = C::draw(&l, &mut rng) {
            assert!(finite(&pair.weight), "weights {l:?} {pair:?}");
            assert!(pair.weight.iter().all(|&w| w >= 0.0));
            match C::combine(&pair, fb, fbt) {
                Ok(g) => {
                    ok += 1;
                    assert!(finite(&g), "combine {g:?}");
                }
                Err(_) => err += 1,
            }
        } else {
            err += 1;
        }
        let b: [f32; 6] = values(&mut rng, Regime::Calm, 1.0);
        let bt: [f32; 6] = values(&mut rng, Regime::Calm, 1.0);
        let pair = CoupledPair {
            b,
            bt,
            weight: [w0, w1],
        };
        if let Ok(g) = C::combine(&pair, fb, fbt) {
            assert!(finite(&g), "combine of a caller's pair {g:?}");
        }
    }
    println!("coupled DisARM steps: {ok} Ok, {err} Err");
    assert!(ok > CALLS / 10 && err > CALLS / 10);
}
