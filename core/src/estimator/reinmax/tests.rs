extern crate std;
use std::println;

use super::*;
use crate::estimator::testing::{
    bernoulli_logits3, exact_bernoulli, max_z, sample_stats, Quad, N_SAMPLES, TARGET,
};
use crate::estimator::{Objective, StraightThrough};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// `f(x) = sum_i (x_i - t_i)^3 + x_0 x_1 x_2`: cubic, so second-order accuracy is not
/// exactness.
#[derive(Clone, Copy)]
struct Cubic;

impl Objective<3> for Cubic {
    fn value(&mut self, x: &[f32; 3]) -> f32 {
        (0..3).map(|i| (x[i] - TARGET[i]).powi(3)).sum::<f32>() + x[0] * x[1] * x[2]
    }
}

impl RelaxedObjective<3> for Cubic {
    fn relaxed(&mut self, x: &[f32; 3], g: &mut [f32; 3]) -> f32 {
        for i in 0..3 {
            g[i] = 3.0 * (x[i] - TARGET[i]).powi(2);
        }
        g[0] += x[1] * x[2];
        g[1] += x[0] * x[2];
        g[2] += x[0] * x[1];
        self.value(x)
    }
}

/// A categorical objective `f(x) = sum_k a_k x_k + q_k x_k^p` (`p = 2` or `3`).
#[derive(Clone, Copy)]
struct Poly {
    a: [f32; 4],
    q: [f32; 4],
    p: i32,
}

impl Objective<4> for Poly {
    fn value(&mut self, x: &[f32; 4]) -> f32 {
        (0..4)
            .map(|k| self.a[k] * x[k] + self.q[k] * x[k].powi(self.p))
            .sum()
    }
}

impl RelaxedObjective<4> for Poly {
    fn relaxed(&mut self, x: &[f32; 4], g: &mut [f32; 4]) -> f32 {
        for k in 0..4 {
            g[k] = self.a[k] + self.q[k] * self.p as f32 * x[k].powi(self.p - 1);
        }
        self.value(x)
    }
}

fn exact_categorical<O: Objective<4>>(l: &[f32; 4], f: &mut O) -> [f64; 4] {
    let mut g = [0.0f64; 4];
    for k in 0..4 {
        let b = Categorical::<4>::one_hot(k);
        let p = Categorical::<4>::log_prob(l, &b) as f64;
        let fb = f.value(&b) as f64;
        let s = Categorical::<4>::score(l, &b);
        for i in 0..4 {
            g[i] += p.exp() * fb * s[i] as f64;
        }
    }
    g
}

/// Plain straight-through, `J(softmax(l))^T g` at `tau = 1` (ReinMax's first-order
/// counterpart: the `y_soft - y_soft.detach() + y_hard` of the authors' README).
#[derive(Clone, Copy)]
struct PlainSt;

impl<O: RelaxedObjective<3>> Estimator<3, O> for PlainSt {
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        l: &[f32; 3],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<3>, Error> {
        let b = Bernoulli::<3>::harden(&Bernoulli::<3>::sample_z(l, rng));
        let (value, g) = checked_relaxed(f, &b)?;
        let grad = core::array::from_fn(|i| g[i] * sigmoid(l[i]) * sigmoid(-l[i]));
        Ok(Estimate {
            grad,
            value,
            f_evals: 0,
            relaxed_evals: 1,
            variance_loss: None,
        })
    }
}

impl<O: RelaxedObjective<4>> Estimator<4, O> for PlainSt {
    fn estimate<R: Rng + ?Sized>(
        &mut self,
        l: &[f32; 4],
        f: &mut O,
        rng: &mut R,
    ) -> Result<Estimate<4>, Error> {
        let b = Categorical::<4>::harden(&Categorical::<4>::sample_z(l, rng));
        let (value, g) = checked_relaxed(f, &b)?;
        let grad = softmax_vjp(&softmax(l), &g);
        Ok(Estimate {
            grad,
            value,
            f_evals: 0,
            relaxed_evals: 1,
            variance_loss: None,
        })
    }
}

/// Max |z| and the Euclidean norm of the bias of `N_SAMPLES` estimates.
fn bias<const D: usize, O, E: Estimator<D, O>>(
    est: &mut E,
    l: &[f32; D],
    f: &mut O,
    exact: &[f64; D],
    seed: u64,
) -> (f64, f64) {
    let (mean, var) = sample_stats(est, l, f, seed, N_SAMPLES);
    let norm = (0..D)
        .map(|i| (mean[i] - exact[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    (max_z(&mean, &var, N_SAMPLES, exact), norm)
}

/// ReinMax's bias next to straight-through's (Bernoulli `D = 3` and categorical `K = 4`): on
/// a quadratic relaxation ReinMax is exact (second-order accuracy; |z| < 4) while both
/// straight-through variants are visibly biased; on a cubic it is biased too.
#[test]
fn reinmax_bias_next_to_straight_through() {
    let l = bernoulli_logits3()[0];
    let mut quad = Quad { t: TARGET };
    let exact = exact_bernoulli(&l, &mut quad);
    let rm = bias(
        &mut ReinMax::<Bernoulli<3>, 3>::new(1.0).unwrap(),
        &l,
        &mut quad,
        &exact,
        5,
    );
    let st = bias(
        &mut StraightThrough::<Bernoulli<3>, 3>::new(0.5).unwrap(),
        &l,
        &mut quad,
        &exact,
        6,
    );
    let pst = bias(&mut PlainSt, &l, &mut quad, &exact, 7);
    println!("Bernoulli, quadratic: bias z (|bias|): ReinMax tau=1 {:.1} ({:.2e}), straight-through Gumbel tau=0.5 {:.1} ({:.2e}), plain straight-through {:.1} ({:.2e})", rm.0, rm.1, st.0, st.1, pst.0, pst.1);
    assert!(rm.0 < 4.0, "ReinMax is exact on a quadratic: z = {}", rm.0);
    assert!(st.0 > 10.0 && pst.0 > 10.0);

    let exact = exact_bernoulli(&l, &mut Cubic);
    let rm = bias(
        &mut ReinMax::<Bernoulli<3>, 3>::new(1.0).unwrap(),
        &l,
        &mut Cubic,
        &exact,
        5,
    );
    let rm2 = bias(
        &mut ReinMax::<Bernoulli<3>, 3>::new(2.0).unwrap(),
        &l,
        &mut Cubic,
        &exact,
        8,
    );
    let st = bias(
        &mut StraightThrough::<Bernoulli<3>, 3>::new(0.5).unwrap(),
        &l,
        &mut Cubic,
        &exact,
        6,
    );
    let pst = bias(&mut PlainSt, &l, &mut Cubic, &exact, 7);
    println!("Bernoulli, cubic: bias z (|bias|): ReinMax tau=1 {:.1} ({:.2e}), ReinMax tau=2 {:.1} ({:.2e}), straight-through Gumbel tau=0.5 {:.1} ({:.2e}), plain straight-through {:.1} ({:.2e})", rm.0, rm.1, rm2.0, rm2.1, st.0, st.1, pst.0, pst.1);
    assert!(
        rm.0 > 10.0,
        "ReinMax should be visibly biased on a cubic, z = {}",
        rm.0
    );
    assert!(rm.1 < pst.1, "second order beats first order here");

    let lc = [0.5f32, -1.0, 1.5, 0.0];
    for p in [2, 3] {
        let mut f = Poly {
            a: [0.3, -0.7, 0.9, 0.1],
            q: [0.5, 0.2, 0.8, 0.1],
            p,
        };
        let exact = exact_categorical(&lc, &mut f);
        let rm = bias(
            &mut ReinMax::<Categorical<4>, 4>::new(1.0).unwrap(),
            &lc,
            &mut f,
            &exact,
            9,
        );
        let st = bias(
            &mut StraightThrough::<Categorical<4>, 4>::new(0.5).unwrap(),
            &lc,
            &mut f,
            &exact,
            10,
        );
        let pst = bias(&mut PlainSt, &lc, &mut f, &exact, 11);
        println!("categorical, degree {p}: bias z (|bias|): ReinMax tau=1 {:.1} ({:.2e}), straight-through Gumbel tau=0.5 {:.1} ({:.2e}), plain straight-through {:.1} ({:.2e})", rm.0, rm.1, st.0, st.1, pst.0, pst.1);
    }
}

/// The categorical formula at two classes is the Bernoulli one (logits `(l, 0)`).
#[test]
fn two_classes_are_the_bernoulli_case() {
    for (l, b, g, tau) in [
        (0.7f32, 1.0f32, 1.3f32, 1.0f32),
        (-2.0, 0.0, -0.4, 2.0),
        (5.0, 0.0, 2.0, 1.5),
    ] {
        let bern = reinmax_bernoulli(&[l], &[b], &[g], tau).unwrap()[0];
        let cat = reinmax_categorical(&[l, 0.0], &[b, 1.0 - b], &[g, 0.0], tau).unwrap()[0];
        assert!((bern - cat).abs() < 1e-6, "{bern} vs {cat}");
    }
}

#[test]
fn bad_input_is_refused() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    assert_eq!(
        ReinMax::<Bernoulli<3>, 3>::new(0.0).err(),
        Some(Error::InvalidTemperature)
    );
    let mut rm = ReinMax::<Categorical<3>, 3>::new(1.0).unwrap();
    struct Lin;
    impl Objective<3> for Lin {
        fn value(&mut self, b: &[f32; 3]) -> f32 {
            b[0]
        }
    }
    impl RelaxedObjective<3> for Lin {
        fn relaxed(&mut self, x: &[f32; 3], g: &mut [f32; 3]) -> f32 {
            *g = [1.0, 0.0, f32::INFINITY];
            x[0]
        }
    }
    assert_eq!(
        rm.estimate(&[0.0, 0.0, 0.0], &mut Lin, &mut rng).err(),
        Some(Error::NonFiniteObjective)
    );
    assert_eq!(
        rm.estimate(&[0.0, f32::NAN, 0.0], &mut Lin, &mut rng).err(),
        Some(Error::NonFiniteInput)
    );
    assert_eq!(
        reinmax_categorical(&[0.0f32; 2], &[0.5, 0.5], &[1.0, 0.0], 1.0).err(),
        Some(Error::InvalidAction)
    );
}
