use super::*;
use crate::dist::Bernoulli;
use crate::estimator::{Concrete, Estimator, Rebar, RebarCv};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

const T: [f32; 3] = [0.2, 0.55, 0.9];

/// The reference struct: `f(x) = sum (x_i - t_i)^2` and its gradient.
struct Quad;

impl Objective<3> for Quad {
    fn value(&mut self, b: &[f32; 3]) -> f32 {
        b.iter().zip(&T).map(|(x, t)| (x - t) * (x - t)).sum()
    }
}

impl RelaxedObjective<3> for Quad {
    fn relaxed(&mut self, x: &[f32; 3], grad: &mut [f32; 3]) -> f32 {
        for i in 0..3 {
            grad[i] = 2.0 * (x[i] - T[i]);
        }
        self.value(x)
    }
}

fn quad(x: &[f32; 3]) -> f32 {
    Quad.value(x)
}

fn quad_grad(x: &[f32; 3]) -> (f32, [f32; 3]) {
    let mut g = [0.0; 3];
    let v = Quad.relaxed(x, &mut g);
    (v, g)
}

/// `n` REBAR estimates from seed 7, with a fresh estimator.
fn rebar_run<O: RelaxedObjective<3>>(f: &mut O, n: usize) -> [[f32; 3]; 8] {
    let mut rebar = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap());
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
    let l = [0.3, -0.2, 1.1];
    let mut out = [[0.0; 3]; 8];
    for k in 0..n {
        out[k % 8] = rebar.estimate(&l, f, &mut rng).unwrap().grad;
    }
    out
}

#[test]
fn closures_give_the_struct_estimates_bit_for_bit() {
    let want = rebar_run(&mut Quad, 200);
    assert_eq!(rebar_run(&mut with_grad(quad_grad), 200), want);
    assert_eq!(rebar_run(&mut hard_and_grad(quad, quad_grad), 200), want);
}

#[test]
fn black_box_from_fn_is_the_closure() {
    let mut f = from_fn(|b: &[f32; 3]| quad(b));
    assert_eq!(f.value(&[1.0, 0.0, 1.0]), quad(&[1.0, 0.0, 1.0]));
    let mut c = Concrete::<Bernoulli<3>, 3>::new(0.5).unwrap();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let e = c
        .estimate(&[0.0; 3], &mut with_grad(quad_grad), &mut rng)
        .unwrap();
    assert!(e.grad.iter().all(|g| g.is_finite()));
}

#[test]
fn hvp_is_used_when_given() {
    let mut none = with_grad(quad_grad);
    let mut hw = [9.0; 3];
    assert!(!none.hvp(&[0.5; 3], &[1.0; 3], &mut hw));
    // The Hessian of the quadratic is 2 I.
    let mut some = with_grad(quad_grad).with_hvp(|_x: &[f32; 3], w: &[f32; 3]| w.map(|v| 2.0 * v));
    assert!(some.hvp(&[0.5; 3], &[1.0, 2.0, 3.0], &mut hw));
    assert_eq!(hw, [2.0, 4.0, 6.0]);
    let mut split =
        hard_and_grad(quad, quad_grad).with_hvp(|_x: &[f32; 3], w: &[f32; 3]| w.map(|v| 2.0 * v));
    assert!(split.hvp(&[0.5; 3], &[1.0; 3], &mut hw));
    // With the exact HVP, REBAR makes no extra relaxed evaluations for the temperature.
    let mut rebar = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap());
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    let with = rebar.estimate(&[0.0; 3], &mut some, &mut rng).unwrap();
    let without = rebar.estimate(&[0.0; 3], &mut none, &mut rng).unwrap();
    assert!(with.relaxed_evals < without.relaxed_evals);
}
