//! Unbiasedness by exact enumeration, bias of the relaxed estimators, variance reduction, and
//! the finite-difference check of the whole variance gradient `d(g^2)/dphi`.
//!
//! Protocol (the reference code's test problem): `D = 3` bits, `f(b) = sum_i (b_i - t_i)^2`,
//! `t = (0.2, 0.55, 0.9)`, and a categorical `K = 4` with a random table. For each estimator
//! the mean of `N = 100_000` estimates must be within 4 standard errors of the exact gradient in
//! every coordinate, with untrained and trained (then frozen) control variates.
//! Run with `--nocapture` to see the z-scores and variances.

extern crate std;
use std::println;

use super::*;
use crate::dist::{Bernoulli, Categorical, Relaxed};
use crate::nn::{mlp_param_count, Activation, Mlp};
use crate::optim::AdamConfig;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

// The statistics, the exact Bernoulli gradient and the 4-standard-error assertion are the
// ones the NVIL, MuProp and DisARM tests use too.
use super::testing::{assert_unbiased, exact_bernoulli, max_z, sample_stats, N_SAMPLES, TARGET};

/// `f(b) = sum (b_i - t_i)^2`, relaxed the same way, with its Hessian `2 I` when `exact_hvp`.
#[derive(Clone, Copy)]
struct Quad<const D: usize> {
    t: [f32; D],
    exact_hvp: bool,
}

impl<const D: usize> Objective<D> for Quad<D> {
    fn value(&mut self, b: &[f32; D]) -> f32 {
        b.iter().zip(&self.t).map(|(x, t)| (x - t) * (x - t)).sum()
    }
}

impl<const D: usize> RelaxedObjective<D> for Quad<D> {
    fn relaxed(&mut self, x: &[f32; D], grad: &mut [f32; D]) -> f32 {
        for i in 0..D {
            grad[i] = 2.0 * (x[i] - self.t[i]);
        }
        self.value(x)
    }
    fn hvp(&mut self, _x: &[f32; D], w: &[f32; D], hw: &mut [f32; D]) -> bool {
        if self.exact_hvp {
            for i in 0..D {
                hw[i] = 2.0 * w[i];
            }
        }
        self.exact_hvp
    }
}

/// A categorical objective: `f(b) = table[k] + q[k]` on one-hots, relaxed as
/// `sum_k table_k x_k + q_k x_k^2` (curved, so the relaxation matters).
#[derive(Clone, Copy)]
struct Table<const K: usize> {
    table: [f32; K],
    q: [f32; K],
}

impl<const K: usize> Objective<K> for Table<K> {
    fn value(&mut self, x: &[f32; K]) -> f32 {
        (0..K)
            .map(|k| self.table[k] * x[k] + self.q[k] * x[k] * x[k])
            .sum()
    }
}

impl<const K: usize> RelaxedObjective<K> for Table<K> {
    fn relaxed(&mut self, x: &[f32; K], grad: &mut [f32; K]) -> f32 {
        for k in 0..K {
            grad[k] = self.table[k] + 2.0 * self.q[k] * x[k];
        }
        self.value(x)
    }
    fn hvp(&mut self, _x: &[f32; K], w: &[f32; K], hw: &mut [f32; K]) -> bool {
        for k in 0..K {
            hw[k] = 2.0 * self.q[k] * w[k];
        }
        true
    }
}

fn exact_categorical<const K: usize, O: Objective<K>>(l: &[f32; K], f: &mut O) -> [f64; K] {
    let mut g = [0.0f64; K];
    for k in 0..K {
        let b = Categorical::<K>::one_hot(k);
        let lp = Categorical::<K>::log_prob(l, &b) as f64;
        let fb = f.value(&b) as f64;
        let s = Categorical::<K>::score(l, &b);
        for i in 0..K {
            g[i] += lp.exp() * fb * s[i] as f64;
        }
    }
    g
}

/// Trains a RELAX-type estimator's control variate for `steps` steps, then freezes it.
fn train<const D: usize, O, E: Estimator<D, O>>(
    est: &mut E,
    l: &[f32; D],
    f: &mut O,
    steps: usize,
) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(999);
    for _ in 0..steps {
        est.estimate(l, f, &mut rng).expect("training step");
    }
}

type ToyNet3 = Mlp<3, 10, 1, 1, { mlp_param_count(3, 10, 1, 1) }>;
type NeuralCv3 = NeuralCv<Bernoulli<3>, 3, 0, 3, 10, 1, { mlp_param_count(3, 10, 1, 1) }>;
type LogitCv3 = NeuralCv<Bernoulli<3>, 3, 0, 3, 10, 2, { mlp_param_count(3, 10, 1, 2) }>;
type CatCv4 = NeuralCv<Categorical<4>, 4, 0, 4, 10, 2, { mlp_param_count(4, 10, 1, 2) }>;

fn neural_cv3(seed: u64) -> NeuralCv3 {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let net = ToyNet3::new_random(Activation::Tanh, 1.0, &mut rng);
    NeuralCv::new(net, CvInput::RelaxedSigned, 1.0, 0.5, AdamConfig::new(0.01)).unwrap()
}

fn logit_cv3(seed: u64) -> LogitCv3 {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let net = Mlp::new_random(Activation::Relu, 1.0, &mut rng);
    NeuralCv::new(net, CvInput::Logits, 0.5, 1.0, AdamConfig::new(0.01)).unwrap()
}

fn bernoulli_logits() -> [[f32; 3]; 3] {
    // A random draw, a mix with saturated coordinates, and all saturated (|l| about 8).
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2024);
    let r: [f32; 3] = core::array::from_fn(|_| 4.0 * crate::math::uniform_open(&mut rng) - 2.0);
    [r, [8.0, -0.4, 1.1], [-8.0, 7.9, -8.2]]
}

#[test]
fn bernoulli_estimators_are_unbiased() {
    let mut worst: [(&str, f64); 12] = [("", 0.0); 12];
    for (li, l) in bernoulli_logits().iter().enumerate() {
        let mut f = Quad {
            t: TARGET,
            exact_hvp: true,
        };
        let exact = exact_bernoulli(l, &mut f);
        let seed = 100 * li as u64;
        let mut record = |k: usize, name: &'static str, z: f64| {
            worst[k].0 = name;
            worst[k].1 = worst[k].1.max(z);
        };

        let z = assert_unbiased(
            "REINFORCE",
            &mut Reinforce::<Bernoulli<3>, 3>::new(),
            l,
            &mut f,
            &exact,
            seed + 1,
        );
        record(0, "REINFORCE", z);
        let mut r = Reinforce::<Bernoulli<3>, 3>::with_baseline(0.9).unwrap();
        let z = assert_unbiased("REINFORCE+baseline", &mut r, l, &mut f, &exact, seed + 2);
        record(1, "REINFORCE+baseline", z);
        let mut rloo = Rloo::<Bernoulli<3>, 3, 4>::new().unwrap();
        let z = assert_unbiased("RLOO k=4", &mut rloo, l, &mut f, &exact, seed + 3);
        record(2, "RLOO k=4", z);
        let z = assert_unbiased(
            "DisARM",
            &mut DisArm::<3>::new(),
            l,
            &mut f,
            &exact,
            seed + 4,
        );
        record(3, "DisARM", z);

        // REBAR, untrained (eta = 1, lambda = 0.5) then trained and frozen.
        let mut rebar = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap());
        rebar.set_training(false);
        let z = assert_unbiased("REBAR untrained", &mut rebar, l, &mut f, &exact, seed + 5);
        record(4, "REBAR untrained", z);
        rebar.set_training(true);
        train(&mut rebar, l, &mut f, 500);
        rebar.set_training(false);
        let z = assert_unbiased("REBAR trained", &mut rebar, l, &mut f, &exact, seed + 6);
        record(5, "REBAR trained", z);
        // REBAR trained through the finite-difference temperature gradient (no HVP).
        let mut fno = Quad {
            t: TARGET,
            exact_hvp: false,
        };
        let mut rebar_fd = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap());
        train(&mut rebar_fd, l, &mut fno, 500);
        rebar_fd.set_training(false);
        let z = assert_unbiased(
            "REBAR trained (FD temperature)",
            &mut rebar_fd,
            l,
            &mut fno,
            &exact,
            seed + 7,
        );
        record(6, "REBAR trained (FD temperature)", z);

        // RELAX with the toy's neural control variate.
        let mut relax = Relax::<Bernoulli<3>, 3, _>::new(neural_cv3(seed + 8));
        relax.set_training(false);
        let z = assert_unbiased(
            "RELAX neural untrained",
            &mut relax,
            l,
            &mut f,
            &exact,
            seed + 9,
        );
        record(7, "RELAX neural untrained", z);
        relax.set_training(true);
        train(&mut relax, l, &mut f, 500);
        relax.set_training(false);
        let z = assert_unbiased(
            "RELAX neural trained",
            &mut relax,
            l,
            &mut f,
            &exact,
            seed + 10,
        );
        record(8, "RELAX neural trained", z);

        // RELAX with eta f(sigma(z)) + r(z) (the VAE's form).
        let cv = Plus(
            RebarCv::<Bernoulli<3>, 3>::paper_default(0.01).unwrap(),
            logit_cv3(seed + 11),
        );
        let mut relax2 = Relax::<Bernoulli<3>, 3, _>::new(cv);
        train(&mut relax2, l, &mut f, 500);
        relax2.set_training(false);
        let z = assert_unbiased(
            "RELAX f-term + net, trained",
            &mut relax2,
            l,
            &mut f,
            &exact,
            seed + 12,
        );
        record(9, "RELAX f-term + net, trained", z);

        // The tied coupling (z~ = z in value).
        let mut rebar_t = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap())
            .with_coupling(Coupling::Tied);
        train(&mut rebar_t, l, &mut f, 500);
        rebar_t.set_training(false);
        let z = assert_unbiased(
            "REBAR tied, trained",
            &mut rebar_t,
            l,
            &mut f,
            &exact,
            seed + 13,
        );
        record(10, "REBAR tied, trained", z);
        let mut relax_t =
            Relax::<Bernoulli<3>, 3, _>::new(neural_cv3(seed + 14)).with_coupling(Coupling::Tied);
        train(&mut relax_t, l, &mut f, 500);
        relax_t.set_training(false);
        let z = assert_unbiased(
            "RELAX tied, trained",
            &mut relax_t,
            l,
            &mut f,
            &exact,
            seed + 15,
        );
        record(11, "RELAX tied, trained", z);
    }
    println!("largest |z| over the three logit vectors:");
    for (name, z) in worst {
        println!("  {name:<34} {z:.2}");
    }
}

#[test]
fn categorical_estimators_are_unbiased() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(77);
    let table: [f32; 4] = core::array::from_fn(|_| 2.0 * crate::math::uniform_open(&mut rng) - 1.0);
    let q: [f32; 4] = core::array::from_fn(|_| crate::math::uniform_open(&mut rng));
    let r: [f32; 4] = core::array::from_fn(|_| 4.0 * crate::math::uniform_open(&mut rng) - 2.0);
    // Saturated: |l| = 8 against logits near 0, so the rarest class still has probability
    // about 3e-4 and is drawn in 10^5 samples. (A gap of 16 gives 1e-7: never drawn, and the
    // sample standard error cannot see its contribution, for any estimator.)
    for (li, l) in [r, [8.0, 0.0, 0.3, -0.5], [-0.2, 8.0, 0.4, 0.1]]
        .iter()
        .enumerate()
    {
        let mut f = Table { table, q };
        let exact = exact_categorical(l, &mut f);
        let seed = 1000 + 100 * li as u64;
        assert_unbiased(
            "cat REINFORCE",
            &mut Reinforce::<Categorical<4>, 4>::new(),
            l,
            &mut f,
            &exact,
            seed,
        );
        let mut rloo = Rloo::<Categorical<4>, 4, 3>::new().unwrap();
        assert_unbiased("cat RLOO k=3", &mut rloo, l, &mut f, &exact, seed + 1);
        let mut rebar = Rebar::<Categorical<4>, 4>::new(RebarCv::paper_default(0.01).unwrap());
        rebar.set_training(false);
        assert_unbiased(
            "cat REBAR untrained",
            &mut rebar,
            l,
            &mut f,
            &exact,
            seed + 2,
        );
        rebar.set_training(true);
        train(&mut rebar, l, &mut f, 500);
        rebar.set_training(false);
        assert_unbiased("cat REBAR trained", &mut rebar, l, &mut f, &exact, seed + 3);
        let mut nrng = Xoshiro128PlusPlus::seed_from_u64(seed + 4);
        let net = Mlp::new_random(Activation::Tanh, 1.0, &mut nrng);
        let cv: CatCv4 =
            NeuralCv::new(net, CvInput::Relaxed, 1.0, 1.0, AdamConfig::new(0.01)).unwrap();
        let mut relax = Relax::<Categorical<4>, 4, _>::new(cv);
        relax.set_training(false);
        assert_unbiased(
            "cat RELAX untrained",
            &mut relax,
            l,
            &mut f,
            &exact,
            seed + 5,
        );
        relax.set_training(true);
        train(&mut relax, l, &mut f, 500);
        relax.set_training(false);
        assert_unbiased("cat RELAX trained", &mut relax, l, &mut f, &exact, seed + 6);
        let mut rebar_t = Rebar::<Categorical<4>, 4>::new(RebarCv::paper_default(0.01).unwrap())
            .with_coupling(Coupling::Tied);
        train(&mut rebar_t, l, &mut f, 500);
        rebar_t.set_training(false);
        assert_unbiased(
            "cat REBAR tied, trained",
            &mut rebar_t,
            l,
            &mut f,
            &exact,
            seed + 7,
        );
    }
}

#[test]
fn concrete_and_straight_through_show_their_bias() {
    let l = bernoulli_logits()[0];
    let mut f = Quad {
        t: TARGET,
        exact_hvp: true,
    };
    let exact = exact_bernoulli(&l, &mut f);
    let (mean, var) = sample_stats(
        &mut Concrete::<Bernoulli<3>, 3>::new(0.5).unwrap(),
        &l,
        &mut f,
        5,
        N_SAMPLES,
    );
    let zc = max_z(&mean, &var, N_SAMPLES, &exact);
    let (mean, var) = sample_stats(
        &mut StraightThrough::<Bernoulli<3>, 3>::new(0.5).unwrap(),
        &l,
        &mut f,
        6,
        N_SAMPLES,
    );
    let zs = max_z(&mean, &var, N_SAMPLES, &exact);
    println!("bias z-scores: Concrete {zc:.1}, straight-through {zs:.1}");
    assert!(
        zc > 10.0,
        "Concrete should be visibly biased, max |z| = {zc}"
    );
    assert!(
        zs > 10.0,
        "straight-through should be visibly biased, max |z| = {zs}"
    );

    let mut rng = Xoshiro128PlusPlus::seed_from_u64(77);
    let table: [f32; 4] = core::array::from_fn(|_| 2.0 * crate::math::uniform_open(&mut rng) - 1.0);
    let q: [f32; 4] = core::array::from_fn(|_| crate::math::uniform_open(&mut rng));
    let lc = [0.5f32, -1.0, 1.5, 0.0];
    let mut fc = Table { table, q };
    let exact = exact_categorical(&lc, &mut fc);
    let (mean, var) = sample_stats(
        &mut Concrete::<Categorical<4>, 4>::new(0.5).unwrap(),
        &lc,
        &mut fc,
        7,
        N_SAMPLES,
    );
    let zc = max_z(&mean, &var, N_SAMPLES, &exact);
    let (mean, var) = sample_stats(
        &mut StraightThrough::<Categorical<4>, 4>::new(0.5).unwrap(),
        &lc,
        &mut fc,
        8,
        N_SAMPLES,
    );
    let zs = max_z(&mean, &var, N_SAMPLES, &exact);
    println!("categorical bias z-scores: Concrete {zc:.1}, straight-through {zs:.1}");
    assert!(zc > 10.0 && zs > 10.0);
}

/// Gaussian LAX against the exact gradient of `E sum (b - t)^2`:
/// `d/dmu = 2 (mu - t)`, `d/ds = 2 sigma^2`.
#[test]
fn lax_is_unbiased() {
    type LaxNet = Mlp<2, 8, 1, 2, { mlp_param_count(2, 8, 1, 2) }>;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let net = LaxNet::new_random(Activation::Elu, 1.0, &mut rng);
    let mut lax = Lax::new(net, AdamConfig::new(0.01)).unwrap();
    let mu = [0.3f32, -0.8];
    let s = [-0.2f32, 0.4];
    let t = [0.5f32, 0.1];
    let mut f = |b: &[f32; 2]| (b[0] - t[0]).powi(2) + (b[1] - t[1]).powi(2);
    let exact = [
        2.0 * (mu[0] - t[0]) as f64,
        2.0 * (mu[1] - t[1]) as f64,
        2.0 * ((2.0 * s[0]) as f64).exp(),
        2.0 * ((2.0 * s[1]) as f64).exp(),
    ];
    for phase in 0..2 {
        if phase == 1 {
            for _ in 0..500 {
                lax.estimate(&mu, &s, &mut f, &mut rng).unwrap();
            }
        }
        lax.set_training(false);
        let mut s1 = [0.0f64; 4];
        let mut s2 = [0.0f64; 4];
        for _ in 0..N_SAMPLES {
            let e = lax.estimate(&mu, &s, &mut f, &mut rng).unwrap();
            let g = [
                e.grad_mean[0],
                e.grad_mean[1],
                e.grad_log_std[0],
                e.grad_log_std[1],
            ];
            for i in 0..4 {
                s1[i] += g[i] as f64;
                s2[i] += (g[i] as f64).powi(2);
            }
        }
        let n = N_SAMPLES as f64;
        for i in 0..4 {
            let m = s1[i] / n;
            let se = ((s2[i] / n - m * m) / n).sqrt();
            let z = (m - exact[i]) / se;
            println!(
                "LAX phase {phase} coord {i}: mean {m:.4} exact {:.4} z {z:.2}",
                exact[i]
            );
            assert!(z.abs() < 4.0);
        }
        lax.set_training(true);
    }
}

/// The whole variance gradient: after one training step with learning rate `lr` from
/// parameters `phi`, Adam's first step moves each parameter by `lr * sign(grad)`. Instead we
/// check the gradient directly: `sum_j g_j^2` at fixed noise as a function of `eta` and
/// `log lambda` (REBAR) is differenced numerically and compared with what `accumulate` adds.
#[test]
fn variance_gradient_matches_finite_differences() {
    let l = [0.3f32, -1.1, 2.0];
    for exact_hvp in [true, false] {
        let mut f = Quad {
            t: TARGET,
            exact_hvp,
        };
        for seed in 0..5u64 {
            let draw =
                Draw::new::<Bernoulli<3>, _>(&l, &mut Xoshiro128PlusPlus::seed_from_u64(seed))
                    .unwrap();
            let g_of = |eta: f32, lt: f32, f: &mut Quad<3>| -> f64 {
                let mut cv =
                    RebarCv::<Bernoulli<3>, 3>::new(eta, libm::expf(lt), AdamConfig::new(0.01))
                        .unwrap();
                let fb = f.value(&draw.b);
                let (mut gz, mut gzt) = ([0.0; 3], [0.0; 3]);
                cv.eval(f, &draw.z, &mut gz).unwrap();
                let czt = cv.eval(f, &draw.cond.z, &mut gzt).unwrap();
                let g = relax_combine::<Bernoulli<3>, 3>(&l, &draw, fb, czt, &gz, &gzt).unwrap();
                g.iter().map(|x| (*x as f64).powi(2)).sum()
            };
            let (eta, lt) = (0.8f32, libm::logf(0.6));
            let mut cv = RebarCv::<Bernoulli<3>, 3>::new(eta, 0.6, AdamConfig::new(0.01)).unwrap();
            let fb = f.value(&draw.b);
            let (mut gz, mut gzt) = ([0.0; 3], [0.0; 3]);
            cv.eval(&mut f, &draw.z, &mut gz).unwrap();
            let czt = cv.eval(&mut f, &draw.cond.z, &mut gzt).unwrap();
            let g = relax_combine::<Bernoulli<3>, 3>(&l, &draw, fb, czt, &gz, &gzt).unwrap();
            let dirs = relax_variance_directions::<Bernoulli<3>, 3>(&l, &draw, &g);
            cv.accumulate(&mut f, &draw.z, dirs.alpha_z, &dirs.u_z)
                .unwrap();
            cv.accumulate(&mut f, &draw.cond.z, dirs.alpha_zt, &dirs.u_zt)
                .unwrap();
            let analytic = cv.grad;
            let h = 1e-2f32;
            let fd_eta = (g_of(eta + h, lt, &mut f) - g_of(eta - h, lt, &mut f)) / (2.0 * h as f64);
            let fd_t = (g_of(eta, lt + h, &mut f) - g_of(eta, lt - h, &mut f)) / (2.0 * h as f64);
            for (a, fd, what) in [
                (analytic[0], fd_eta, "eta"),
                (analytic[1], fd_t, "log lambda"),
            ] {
                let tol = 2e-3 + 3e-2 * fd.abs();
                assert!(
                    (a as f64 - fd).abs() < tol,
                    "d(g^2)/d{what} (hvp {exact_hvp}, seed {seed}): {a} vs finite difference {fd}"
                );
            }
        }
    }
}

/// The same for a neural control variate (MLP weights, scale, log-temperature), Bernoulli.
#[test]
fn neural_variance_gradient_matches_finite_differences_bernoulli() {
    nn_vargrad_bernoulli();
}

/// The same for a neural control variate on a categorical.
#[test]
fn neural_variance_gradient_matches_finite_differences_categorical() {
    nn_vargrad_categorical();
}

fn sum_g2<Dist: Relaxed<D>, const D: usize, O: Objective<D>, CV: ControlVariate<D, O>>(
    cv: &mut CV,
    l: &[f32; D],
    draw: &Draw<D>,
    f: &mut O,
) -> (f64, [f32; D]) {
    let fb = f.value(&draw.b);
    let (mut gz, mut gzt) = ([0.0; D], [0.0; D]);
    cv.eval(f, &draw.z, &mut gz).unwrap();
    let czt = cv.eval(f, &draw.cond.z, &mut gzt).unwrap();
    let g = relax_combine::<Dist, D>(l, draw, fb, czt, &gz, &gzt).unwrap();
    (g.iter().map(|x| (*x as f64).powi(2)).sum(), g)
}

/// Accumulates a neural control variate's variance gradient at `draw` (on a copy of
/// `base`) and checks it against central differences of `sum g^2`: every `stride`-th
/// network weight, then the scale and the log-temperature.
fn check_neural_vargrad<
    Dist: Relaxed<D>,
    const D: usize,
    O: Objective<D>,
    const I: usize,
    const H: usize,
    const L: usize,
    const P: usize,
>(
    base: &NeuralCv<Dist, D, 0, I, H, L, P>,
    l: &[f32; D],
    draw: &Draw<D>,
    f: &mut O,
    stride: usize,
    what: &str,
) where
    NeuralCv<Dist, D, 0, I, H, L, P>: ControlVariate<D, O> + Clone,
{
    let mut cv = base.clone();
    let (_, g) = sum_g2::<Dist, D, _, _>(&mut cv, l, draw, f);
    let dirs = relax_variance_directions::<Dist, D>(l, draw, &g);
    ControlVariate::<D, O>::accumulate(&mut cv, f, &draw.z, dirs.alpha_z, &dirs.u_z).unwrap();
    ControlVariate::<D, O>::accumulate(&mut cv, f, &draw.cond.z, dirs.alpha_zt, &dirs.u_zt)
        .unwrap();
    let h = 1e-2f32;
    let fd = |i: usize, f: &mut O| {
        let (mut p, mut m) = (base.clone(), base.clone());
        let np = base.net.params().len();
        if i < np {
            p.net.params_mut()[i] += h;
            m.net.params_mut()[i] -= h;
        } else {
            p.extra[i - np] += h;
            m.extra[i - np] -= h;
        }
        (sum_g2::<Dist, D, _, _>(&mut p, l, draw, f).0
            - sum_g2::<Dist, D, _, _>(&mut m, l, draw, f).0)
            / (2.0 * h as f64)
    };
    let np = base.net.params().len();
    for i in (0..np).step_by(stride).chain(np..np + 2) {
        let a = if i < np {
            cv.grad_net[i]
        } else {
            cv.grad_extra[i - np]
        } as f64;
        let d = fd(i, f);
        let which = if i < np {
            "net weight"
        } else {
            "scale/log-temp"
        };
        assert!(
            (a - d).abs() < 3e-3 + 3e-2 * d.abs(),
            "{what} {which} {i}: {a} vs {d}"
        );
    }
}

fn nn_vargrad_bernoulli() {
    let l = [0.3f32, -1.1, 2.0];
    let mut f = Quad {
        t: TARGET,
        exact_hvp: true,
    };
    for seed in 0..4u64 {
        let draw =
            Draw::new::<Bernoulli<3>, _>(&l, &mut Xoshiro128PlusPlus::seed_from_u64(seed)).unwrap();
        check_neural_vargrad(&neural_cv3(50 + seed), &l, &draw, &mut f, 3, "bernoulli");
    }
}

fn nn_vargrad_categorical() {
    let l = [0.5f32, -1.0, 1.5, 0.0];
    let mut f = Table {
        table: [0.3, -0.7, 0.9, 0.1],
        q: [0.5, 0.2, 0.8, 0.1],
    };
    for seed in 0..4u64 {
        let draw = Draw::new::<Categorical<4>, _>(&l, &mut Xoshiro128PlusPlus::seed_from_u64(seed))
            .unwrap();
        let mut nrng = Xoshiro128PlusPlus::seed_from_u64(seed + 60);
        let net = Mlp::new_random(Activation::Tanh, 1.0, &mut nrng);
        let base: CatCv4 =
            NeuralCv::new(net, CvInput::Relaxed, 0.7, 0.8, AdamConfig::new(0.01)).unwrap();
        check_neural_vargrad(&base, &l, &draw, &mut f, 5, "categorical");
    }
}

/// The paper's toy at theta = 0.5: after training only the control variate, RELAX's
/// per-sample variance is at least 10x below plain REINFORCE's, and REBAR's is below it too.
#[test]
fn relax_reduces_variance_on_the_toy() {
    type ToyNet = Mlp<1, 10, 1, 1, { mlp_param_count(1, 10, 1, 1) }>;
    type ToyCv = NeuralCv<Bernoulli<1>, 1, 0, 1, 10, 1, { mlp_param_count(1, 10, 1, 1) }>;
    let l = [0.0f32];
    let mut f = Quad {
        t: [0.499],
        exact_hvp: true,
    };
    let n = N_SAMPLES;
    let reinforce = sample_stats(&mut Reinforce::<Bernoulli<1>, 1>::new(), &l, &mut f, 1, n).1[0];

    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    let net = ToyNet::new_random(Activation::Tanh, 1.0, &mut rng);
    let cv: ToyCv =
        NeuralCv::new(net, CvInput::RelaxedSigned, 0.0, 0.5, AdamConfig::new(0.01)).unwrap();
    // The reference toy ties z~ to z (its `force_same`); so do we here.
    let mut relax = Relax::<Bernoulli<1>, 1, _>::new(cv).with_coupling(Coupling::Tied);
    train(&mut relax, &l, &mut f, 3000);
    relax.set_training(false);
    let relax_var = sample_stats(&mut relax, &l, &mut f, 2, n).1[0];

    let mut rebar = Rebar::<Bernoulli<1>, 1>::new(RebarCv::paper_default(0.01).unwrap())
        .with_coupling(Coupling::Tied);
    train(&mut rebar, &l, &mut f, 3000);
    // At theta = 0.5 and t = 0.499 REBAR's control variate is (nearly) uncorrelated with
    // f(b) * score: a sweep over eta in [-2, 2] and lambda in [0.05, 2] finds the variance
    // symmetric in eta with its minimum, REINFORCE's, at eta = 0. Training must find that
    // minimum from eta = 1 (variance 2.35e-2), and REBAR must beat REINFORCE where its
    // relaxation carries information (the 3-bit problem below).
    rebar.set_training(false);
    let rebar_var = sample_stats(&mut rebar, &l, &mut f, 3, n).1[0];
    println!("toy variances at theta = 0.5: REINFORCE {reinforce:.3e}, REBAR {rebar_var:.3e}, RELAX {relax_var:.3e} (ratio {:.1})", reinforce / relax_var);
    assert!(
        relax_var * 10.0 < reinforce,
        "RELAX {relax_var} vs REINFORCE {reinforce}"
    );
    assert!(
        rebar_var < reinforce * 1.01,
        "REBAR {rebar_var} vs REINFORCE {reinforce}"
    );
    let mut rebar0 = Rebar::<Bernoulli<1>, 1>::new(RebarCv::paper_default(0.01).unwrap())
        .with_coupling(Coupling::Tied);
    rebar0.set_training(false);
    let rebar0_var = sample_stats(&mut rebar0, &l, &mut f, 3, n).1[0];
    assert!(
        rebar_var < 0.8 * rebar0_var,
        "training lowered REBAR's variance: {rebar0_var} -> {rebar_var}"
    );

    let l3 = bernoulli_logits()[0];
    let mut f3 = Quad {
        t: TARGET,
        exact_hvp: true,
    };
    let r3 = sample_stats(&mut Reinforce::<Bernoulli<3>, 3>::new(), &l3, &mut f3, 1, n);
    let mut rebar3 = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap());
    train(&mut rebar3, &l3, &mut f3, 1000);
    rebar3.set_training(false);
    let b3 = sample_stats(&mut rebar3, &l3, &mut f3, 2, n);
    let (vr, vb) = (r3.1.iter().sum::<f64>(), b3.1.iter().sum::<f64>());
    println!("3-bit problem, total variance: REINFORCE {vr:.3e}, REBAR {vb:.3e}; toy REBAR untrained {rebar0_var:.3e}");
    assert!(
        vb < 0.5 * vr,
        "REBAR {vb} vs REINFORCE {vr} on the 3-bit problem"
    );
}

#[test]
fn bad_input_is_refused_and_state_is_kept() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut f = Quad {
        t: TARGET,
        exact_hvp: true,
    };
    let mut relax = Relax::<Bernoulli<3>, 3, _>::new(neural_cv3(3));
    let before = *relax.cv().net().params();
    let bad = [0.0, f32::NAN, 1.0];
    assert_eq!(
        relax.estimate(&bad, &mut f, &mut rng).err(),
        Some(Error::NonFiniteInput)
    );
    let mut nan_f = |_: &[f32; 3]| f32::NAN;
    assert_eq!(
        relax.estimate(&[0.0; 3], &mut nan_f, &mut rng).err(),
        Some(Error::NonFiniteObjective)
    );
    assert_eq!(relax.cv().net().params(), &before);
    assert_eq!(
        Reinforce::<Bernoulli<3>, 3>::new()
            .estimate(&[f32::INFINITY, 0.0, 0.0], &mut f, &mut rng)
            .err(),
        Some(Error::NonFiniteInput)
    );
    assert_eq!(
        Concrete::<Bernoulli<3>, 3>::new(0.0).err(),
        Some(Error::InvalidTemperature)
    );
    assert_eq!(
        StraightThrough::<Bernoulli<3>, 3>::new(-1.0).err(),
        Some(Error::InvalidTemperature)
    );
    assert_eq!(
        RebarCv::<Bernoulli<3>, 3>::new(1.0, f32::NAN, AdamConfig::new(0.1)).err(),
        Some(Error::InvalidTemperature)
    );
    assert_eq!(
        Rloo::<Bernoulli<3>, 3, 1>::new().err(),
        Some(Error::InvalidHyperparameter)
    );
    // A relaxed objective that returns NaN leaves REBAR's parameters untouched.
    struct NanRelaxed;
    impl Objective<3> for NanRelaxed {
        fn value(&mut self, _: &[f32; 3]) -> f32 {
            1.0
        }
    }
    impl RelaxedObjective<3> for NanRelaxed {
        fn relaxed(&mut self, _: &[f32; 3], g: &mut [f32; 3]) -> f32 {
            *g = [f32::NAN; 3];
            0.0
        }
    }
    let mut rebar = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap());
    assert_eq!(
        rebar.estimate(&[0.1; 3], &mut NanRelaxed, &mut rng).err(),
        Some(Error::NonFiniteObjective)
    );
    assert_eq!((rebar.cv().eta(), rebar.cv().temperature()), (1.0, 0.5));
    let mut nan_g = |_: &[f32; 2]| f32::NAN;
    let mut lax = Lax::new(
        Mlp::<2, 4, 1, 1, { mlp_param_count(2, 4, 1, 1) }>::zeros(Activation::Tanh),
        AdamConfig::new(0.1),
    )
    .unwrap();
    assert_eq!(
        lax.estimate(&[0.0; 2], &[0.0; 2], &mut nan_g, &mut rng)
            .err(),
        Some(Error::NonFiniteObjective)
    );
}

#[test]
fn every_estimate_counts_its_evaluations() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let l = [0.2f32, -0.3, 0.4];
    let mut f = Quad {
        t: TARGET,
        exact_hvp: true,
    };
    let e = Rloo::<Bernoulli<3>, 3, 5>::new()
        .unwrap()
        .estimate(&l, &mut f, &mut rng)
        .unwrap();
    assert_eq!((e.f_evals, e.relaxed_evals), (5, 0));
    let e = DisArm::<3>::new().estimate(&l, &mut f, &mut rng).unwrap();
    assert_eq!((e.f_evals, e.relaxed_evals), (2, 0));
    let mut rebar = Rebar::<Bernoulli<3>, 3>::new(RebarCv::paper_default(0.01).unwrap());
    let e = rebar.estimate(&l, &mut f, &mut rng).unwrap();
    assert_eq!((e.f_evals, e.relaxed_evals), (1, 4)); // 2 values + 2 variance terms (exact HVP)
    assert!(e.variance_loss.is_some());
    let mut fno = Quad {
        t: TARGET,
        exact_hvp: false,
    };
    let e = rebar.estimate(&l, &mut fno, &mut rng).unwrap();
    assert_eq!((e.f_evals, e.relaxed_evals), (1, 8)); // + 2 differences at each of 2 points
    rebar.set_training(false);
    let e = rebar.estimate(&l, &mut f, &mut rng).unwrap();
    assert_eq!((e.f_evals, e.relaxed_evals, e.variance_loss), (1, 2, None));
}

/// The soak of issue 15 (release only: `cargo test -p core --release -- --ignored soak`):
/// 10^6 steps of the paper's toy (`t = 0.499`, one logit trained by Adam 0.01, RELAX's neural
/// control variate with its own Adam 0.01, tied `z~`) end at the optimum `theta -> 0` with every
/// call `Ok` and every learnable number finite.
#[test]
#[ignore]
fn soak_toy_relax_one_million_steps() {
    use crate::optim::Adam;
    type ToyCv = NeuralCv<Bernoulli<1>, 1, 0, 1, 10, 1, { mlp_param_count(1, 10, 1, 1) }>;
    let start = std::time::Instant::now();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0);
    let mut f = Quad {
        t: [0.499],
        exact_hvp: true,
    };
    let net = Mlp::new_random(Activation::Tanh, 1.0, &mut rng);
    let cv: ToyCv =
        NeuralCv::new(net, CvInput::RelaxedSigned, 0.0, 0.5, AdamConfig::new(0.01)).unwrap();
    let mut relax = Relax::<Bernoulli<1>, 1, _>::new(cv).with_coupling(Coupling::Tied);
    let mut logit = [0.0f32];
    let mut adam = Adam::<1>::new(AdamConfig::new(0.01)).unwrap();
    let (mut lowest, mut highest) = (f32::INFINITY, 0.0f32);
    for step in 0..1_000_000u32 {
        let e = relax
            .estimate(&logit, &mut f, &mut rng)
            .unwrap_or_else(|err| panic!("step {step}: {err}"));
        adam.step(&mut logit, &e.grad)
            .unwrap_or_else(|err| panic!("step {step}: {err}"));
        let t = relax.cv().temperature();
        lowest = lowest.min(t);
        highest = highest.max(t);
    }
    let theta = crate::math::sigmoid(logit[0]);
    let cv = relax.cv();
    let finite = cv.net().params().iter().all(|p| p.is_finite())
        && cv.scale().is_finite()
        && cv.temperature().is_finite()
        && logit[0].is_finite();
    // theta in f64: sigmoid(l) of a logit below -104 is 0 in f32.
    let theta64 = 1.0 / (1.0 + (-(logit[0] as f64)).exp());
    let loss = theta64 * (1.0 - 0.499f64).powi(2) + (1.0 - theta64) * 0.499f64.powi(2);
    println!(
        "soak: {:.1} s, logit {}, theta {theta64:.3e}, loss {loss:.9} (optimum {:.9}), temperature {:.3e} (range {lowest:.3e}..{highest:.3e}), scale {}",
        start.elapsed().as_secs_f64(),
        logit[0],
        0.499f64 * 0.499,
        cv.temperature(),
        cv.scale()
    );
    assert!(finite, "non-finite state");
    assert!(theta < 0.01, "theta {theta}");
    assert!(loss - 0.499 * 0.499 < 1e-5, "loss {loss}");
}

/// Issue 15: finite values whose differences overflow (`+-3e38`) gave `Ok` with infinite or
/// NaN gradients (RLOO, REINFORCE with a baseline, DisARM). Now an error, and nothing changes.
#[test]
fn overflowing_differences_are_errors() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let l = [0.0f32; 2];
    let mut flip = 1.0f32;
    let mut f = |_: &[f32; 2]| {
        flip = -flip;
        3e38 * flip
    };
    let mut rloo = Rloo::<Bernoulli<2>, 2, 2>::new().unwrap();
    let mut base = Reinforce::<Bernoulli<2>, 2>::with_baseline(0.5).unwrap();
    let mut disarm = DisArm::<2>::new();
    let (mut rloo_err, mut base_err, mut disarm_err) = (0, 0, 0);
    for _ in 0..200 {
        let before = *rloo.per_sample();
        match rloo.estimate(&l, &mut f, &mut rng) {
            Ok(e) => assert!(e.grad.iter().all(|g| g.is_finite())),
            Err(_) => {
                rloo_err += 1;
                assert_eq!(before, *rloo.per_sample());
            }
        }
        let baseline = base.baseline;
        match base.estimate(&l, &mut f, &mut rng) {
            Ok(e) => assert!(e.grad.iter().all(|g| g.is_finite())),
            Err(_) => {
                base_err += 1;
                assert_eq!(baseline, base.baseline);
            }
        }
        match disarm.estimate(&l, &mut f, &mut rng) {
            Ok(e) => assert!(e.grad.iter().all(|g| g.is_finite())),
            Err(e) => {
                disarm_err += 1;
                assert_eq!(e, Error::NonFiniteGradient);
            }
        }
    }
    assert!(rloo_err > 0 && base_err > 0 && disarm_err > 0);
}
