//! The LAX learner's gradient: unbiasedness against the exact expectation (Gauss-Hermite
//! quadrature over a 3-step episode), the variance pass against finite differences, and
//! refusal of bad environments and settings.

extern crate std;
use std::println;
use std::vec::Vec;

use super::*;
use crate::dist::Gaussian;
use crate::nn::{mlp_param_count, Mlp, MlpCache};
use crate::rl::Transition;
use crate::Error;
use rand_core::Rng;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

const PM: usize = mlp_param_count(2, 8, 1, 2);
const PV: usize = mlp_param_count(2, 8, 1, 2);
const PC: usize = mlp_param_count(3, 8, 1, 2);
type Small = LaxLearner<2, 1, 3, 8, PM, PV, PC>;
const HORIZON: u32 = 3;
const START: [f32; 2] = [0.2, -0.1];

/// A 3-step episode with smooth, nonlinear deterministic dynamics and rewards, from a fixed
/// start (or a start drawn from the generator, to exercise the replay).
#[derive(Clone)]
struct Drift {
    s: [f32; 2],
    t: u32,
    random_start: bool,
    /// Episodes after this many resets are one step longer (a non-deterministic environment).
    diverge_after: Option<u32>,
    resets: u32,
    nan_reward: bool,
}

impl Drift {
    fn new() -> Self {
        Self {
            s: START,
            t: 0,
            random_start: false,
            diverge_after: None,
            resets: 0,
            nan_reward: false,
        }
    }
    fn reward(s: &[f32; 2], a: f32) -> f32 {
        1.0 - (s[0] - 0.5) * (s[0] - 0.5) - 0.2 * a * a + 0.3 * libm::sinf(s[1] + a)
    }
    fn next(s: &[f32; 2], a: f32) -> [f32; 2] {
        [s[0] + 0.3 * libm::tanhf(a), 0.8 * s[1] + 0.2 * a]
    }
}

impl ContinuousEnvironment<2, 1> for Drift {
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; 2], Error> {
        self.s = START;
        if self.random_start {
            self.s[0] += 0.4 * (crate::math::uniform_open(rng) - 0.5);
        }
        self.t = 0;
        self.resets += 1;
        Ok(self.s)
    }
    fn step(&mut self, a: &[f32; 1]) -> Result<Transition<2>, Error> {
        let r = if self.nan_reward {
            f32::NAN
        } else {
            Self::reward(&self.s, a[0])
        };
        self.s = Self::next(&self.s, a[0]);
        self.t += 1;
        let extra = matches!(self.diverge_after, Some(n) if self.resets > n);
        Ok(Transition {
            obs: self.s,
            reward: r,
            terminated: self.t == HORIZON + u32::from(extra),
            truncated: false,
        })
    }
}

/// Gauss-Hermite nodes and weights for `E[f(eps)]`, `eps ~ N(0, 1)` (Golub-Welsch free:
/// Newton on the orthonormal Hermite recurrence, as in Numerical Recipes' `gauher`).
fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    let pim4 = std::f64::consts::PI.powf(-0.25);
    let (mut x, mut w) = (std::vec![0.0f64; n], std::vec![0.0f64; n]);
    let mut z = 0.0f64;
    for i in 0..n.div_ceil(2) {
        let nf = n as f64;
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-0.16667),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 0.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (pim4, 0.0);
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
            }
            pp = (2.0 * nf).sqrt() * p2;
            let z1 = z;
            z = z1 - p1 / pp;
            if (z - z1).abs() < 1e-14 {
                break;
            }
        }
        x[i] = z;
        x[n - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[n - 1 - i] = w[i];
    }
    let s = 2f64.sqrt();
    let norm = std::f64::consts::PI.sqrt();
    (
        x.iter().map(|v| v * s).collect(),
        w.iter().map(|v| v / norm).collect(),
    )
}

#[test]
fn gauss_hermite_integrates_normal_moments() {
    let (x, w) = gauss_hermite(20);
    let m = |p: i32| x.iter().zip(&w).map(|(x, w)| w * x.powi(p)).sum::<f64>();
    assert!((m(0) - 1.0).abs() < 1e-12);
    assert!((m(2) - 1.0).abs() < 1e-12);
    assert!((m(4) - 3.0).abs() < 1e-10);
    assert!((m(6) - 15.0).abs() < 1e-9);
}

/// `E[sum_t R_t dlog pi(a_t|s_t)/dtheta]` (mean network, then log-std) over the 3 actions'
/// noise by a 20-point Gauss-Hermite rule per step.
fn exact_gradient(l: &Small) -> Vec<f64> {
    let (x, w) = gauss_hermite(20);
    let gamma = l.config().gamma;
    let log_std = *l.log_std();
    let mut g = std::vec![0.0f64; PM + 1];
    for i0 in 0..x.len() {
        for i1 in 0..x.len() {
            for i2 in 0..x.len() {
                let weight = w[i0] * w[i1] * w[i2];
                let eps = [x[i0] as f32, x[i1] as f32, x[i2] as f32];
                let mut s = START;
                let mut scores = [[0.0f32; PM + 1]; 3];
                let mut rewards = [0.0f32; 3];
                for t in 0..3 {
                    let mut cache = MlpCache::default();
                    let x = l.normalize(&s);
                    let mean = l.policy().forward_cached(&x, &mut cache);
                    let a = Gaussian::<1>::transform(&mean, &log_std, &[eps[t]]);
                    let (sm, ss) = Gaussian::<1>::score(&mean, &log_std, &a);
                    let mut gm = [0.0f32; PM];
                    l.policy().backward(&x, &cache, &sm, &mut gm);
                    scores[t][..PM].copy_from_slice(&gm);
                    scores[t][PM] = ss[0];
                    rewards[t] = Drift::reward(&s, a[0]);
                    s = Drift::next(&s, a[0]);
                }
                for t in 0..3 {
                    let mut rt = 0.0f64;
                    for k in (t..3).rev() {
                        rt = rewards[k] as f64 + gamma as f64 * rt;
                    }
                    for k in 0..=PM {
                        g[k] += weight * rt * scores[t][k] as f64;
                    }
                }
            }
        }
    }
    g
}

/// The largest |z| over all policy parameters of the mean of `n` episode gradients
/// against `exact`.
fn max_z(l: &Small, exact: &[f64], n: usize, seed: u64) -> f64 {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut env = Drift::new();
    let (mut s1, mut s2) = (std::vec![0.0f64; PM + 1], std::vec![0.0f64; PM + 1]);
    let (mut gm, mut gs) = ([0.0f32; PM], [0.0f32; 1]);
    for _ in 0..n {
        l.episode_gradient(&mut env, &mut rng, &mut gm, &mut gs)
            .unwrap();
        for k in 0..=PM {
            let v = if k < PM { gm[k] } else { gs[0] } as f64;
            s1[k] += v;
            s2[k] += v * v;
        }
    }
    let mut worst = 0.0f64;
    for k in 0..=PM {
        let m = s1[k] / n as f64;
        let se = ((s2[k] / n as f64 - m * m).max(0.0) / n as f64).sqrt();
        let d = m - exact[k];
        // The quadrature and f32 rounding: an absolute floor far below any bias of interest.
        let z = d.abs() / (se + 1e-6);
        worst = worst.max(z);
    }
    worst
}

/// Replaces the control variate's parameters by large random ones: a large dc^/da that the
/// estimator must cancel exactly through the score term.
fn strong_cv(l: &mut Small) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(77);
    for p in l.cv_params_mut_for_test().iter_mut() {
        *p = 1.5 * (2.0 * crate::math::uniform_open(&mut rng) - 1.0);
    }
}

fn learner(control_variate: bool, seed: u64) -> Small {
    let mut cfg = LaxConfig::paper(0.01, 0.01, 0.01, control_variate);
    cfg.batch_steps = 30;
    cfg.init_log_std = -0.5;
    Small::new(cfg, &mut Xoshiro128PlusPlus::seed_from_u64(seed)).unwrap()
}

#[test]
fn lax_gradient_is_unbiased_with_a_strong_and_a_trained_control_variate() {
    let n = 200_000;
    let mut l = learner(true, 1);
    strong_cv(&mut l);
    let exact = exact_gradient(&l);
    let z = max_z(&l, &exact, n, 10);
    println!(
        "LAX (strong c^): max |z| over {} policy parameters = {z:.2}",
        PM + 1
    );
    assert!(z < 4.0, "LAX (strong c^): max |z| = {z}");

    // Trained: V, c^, the policy and the observation statistics move (random starts, so
    // that the statistics see a spread of states); the exact gradient is recomputed.
    let mut env = Drift::new();
    env.random_start = true;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    for _ in 0..600 {
        l.train_episode(&mut env, &mut rng).unwrap();
    }
    let exact = exact_gradient(&l);
    let z = max_z(&l, &exact, n, 11);
    println!("LAX (trained): max |z| = {z:.2}");
    assert!(z < 4.0, "LAX (trained): max |z| = {z}");

    let a2c = learner(false, 1);
    let exact = exact_gradient(&a2c);
    let z = max_z(&a2c, &exact, n, 12);
    println!("A2C: max |z| = {z:.2}");
    assert!(z < 4.0, "A2C: max |z| = {z}");
}

/// The estimator the reference code computed: c^ evaluated at a fresh sample a' instead of
/// the action taken. Its mean is off, and the test above would see it: this checks that the
/// comparison has the power to find such a bias.
#[test]
fn evaluating_the_control_variate_at_a_fresh_sample_is_biased() {
    let mut l = learner(true, 1);
    strong_cv(&mut l);
    let exact = exact_gradient(&l);
    let gamma = l.config().gamma;
    let log_std = *l.log_std();
    let std = libm::expf(log_std[0]);
    let n = 50_000;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let (mut s1, mut s2) = (std::vec![0.0f64; PM + 1], std::vec![0.0f64; PM + 1]);
    for _ in 0..n {
        let mut s = START;
        let mut g = [0.0f32; PM + 1];
        let mut rewards = [0.0f32; 3];
        let mut steps = Vec::new();
        for t in 0..3 {
            let mut cache = MlpCache::default();
            let mean = l.policy().forward_cached(&s, &mut cache);
            let eps = Gaussian::<1>::sample_noise(&mut rng);
            let a = Gaussian::<1>::transform(&mean, &log_std, &eps);
            // The reference's bug: c^ and its pathwise derivative at a fresh sample.
            let fresh_eps = Gaussian::<1>::sample_noise(&mut rng)[0];
            let fresh = mean[0] + std * fresh_eps;
            let (c, dx) = l.cv().value_and_input_grad(&[s[0], s[1], fresh], &[1.0]);
            let (sm, ss) = Gaussian::<1>::score(&mean, &log_std, &a);
            steps.push((s, cache, sm[0], ss[0], c[0], dx[2], fresh_eps));
            rewards[t] = Drift::reward(&s, a[0]);
            s = Drift::next(&s, a[0]);
        }
        for (t, (st, cache, sm, ss, c, dca, fe)) in steps.iter().enumerate() {
            let mut rt = 0.0f32;
            for k in (t..3).rev() {
                rt = rewards[k] + gamma * rt;
            }
            let mut gm = [0.0f32; PM];
            l.policy()
                .backward(st, cache, &[(rt - c) * sm + dca], &mut gm);
            for k in 0..PM {
                g[k] += gm[k];
            }
            g[PM] += (rt - c) * ss + dca * std * fe;
        }
        for k in 0..=PM {
            s1[k] += g[k] as f64;
            s2[k] += (g[k] as f64).powi(2);
        }
    }
    let mut worst = 0.0f64;
    for k in 0..=PM {
        let m = s1[k] / n as f64;
        let se = ((s2[k] / n as f64 - m * m).max(0.0) / n as f64).sqrt();
        worst = worst.max((m - exact[k]).abs() / (se + 1e-6));
    }
    println!("fresh-sample control variate: max |z| = {worst:.1}");
    assert!(
        worst > 8.0,
        "the fresh-sample estimator looked unbiased: {worst}"
    );
}

/// `d/dphi |g / T|^2` from the replay against central differences of `|g / T|^2` (same
/// generator, so the same episode) in the control variate's parameters.
/// The divisor `n` of an episode's variance loss `|g / n|^2` under `l`'s configuration.
fn loss_divisor(cfg: &LaxConfig, steps: u32) -> f64 {
    if cfg.cv_loss_per_step {
        steps as f64
    } else {
        cfg.batch_steps as f64
    }
}

/// The variance loss `|g / n|^2` of the episode that `seed` starts, from the learner's own
/// episode gradient (for finite differences of the variance pass).
fn episode_variance_loss<
    E: ContinuousEnvironment<S2, 1>,
    const S2: usize,
    const I2: usize,
    const H2: usize,
    const PM2: usize,
    const PV2: usize,
    const PC2: usize,
>(
    l: &LaxLearner<S2, 1, I2, H2, PM2, PV2, PC2>,
    env: &mut E,
    seed: u64,
) -> f64 {
    let (mut gm, mut gs) = ([0.0f32; PM2], [0.0f32; 1]);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let r = l.episode_gradient(env, &mut rng, &mut gm, &mut gs).unwrap();
    let n = loss_divisor(l.config(), r.steps);
    (gm.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() + (gs[0] as f64).powi(2)) / (n * n)
}

#[test]
fn variance_pass_matches_finite_differences() {
    let mut base = learner(true, 3);
    strong_cv(&mut base);
    let mut env = Drift::new();
    env.random_start = true;
    for seed in 0..4u64 {
        // Both weightings of the loss: |g / T|^2 and |g / B|^2.
        let mut cfg = *base.config();
        cfg.cv_loss_per_step = seed % 2 == 0;
        base.set_config(cfg).unwrap();
        let sq = |l: &Small, env: &mut Drift| episode_variance_loss(l, env, seed);
        let (grad, loss) = base
            .variance_grad_for_test(&mut env, &mut Xoshiro128PlusPlus::seed_from_u64(seed))
            .unwrap();
        let h = 1e-3f32;
        let mut checked = 0;
        for i in (0..PC).step_by(3) {
            let (mut p, mut m) = (base.clone(), base.clone());
            p.cv_params_mut_for_test()[i] += h;
            m.cv_params_mut_for_test()[i] -= h;
            let fd = (sq(&p, &mut env) - sq(&m, &mut env)) / (2.0 * h as f64);
            let a = grad[i] as f64;
            let tol = 1e-3 * (1.0 + loss as f64).sqrt() + 3e-2 * fd.abs();
            assert!(
                (a - fd).abs() < tol,
                "seed {seed} cv param {i}: {a} vs {fd} (loss {loss})"
            );
            checked += 1;
        }
        assert!(checked > 10);
    }
}

#[test]
fn the_policy_steps_once_per_batch() {
    let mut l = learner(true, 4);
    let mut env = Drift::new();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    let p0 = *l.policy().params();
    // batch_steps = 30 and episodes of 3 steps: updates after episodes 10, 20, ...
    for ep in 1..=25u32 {
        let r = l.train_episode(&mut env, &mut rng).unwrap();
        assert_eq!(r.steps, 3);
        assert_eq!(r.policy_updated, ep % 10 == 0, "episode {ep}");
        if ep < 10 {
            assert_eq!(l.policy().params(), &p0);
        }
        assert!(r.variance_loss > 0.0);
    }
    assert_eq!(l.pending_steps(), 15);
    assert_ne!(l.policy().params(), &p0);
}

#[test]
fn bad_environments_and_settings_are_refused_and_nothing_changes() {
    let mut l = learner(true, 5);
    let before = l.clone();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    // The replay is one step longer than the first pass: not deterministic.
    let mut env = Drift::new();
    env.diverge_after = Some(1);
    assert_eq!(
        l.train_episode(&mut env, &mut rng).err(),
        Some(Error::Environment)
    );
    let mut env = Drift::new();
    env.nan_reward = true;
    assert_eq!(
        l.train_episode(&mut env, &mut rng).err(),
        Some(Error::NonFiniteObjective)
    );
    assert_eq!(l.policy().params(), before.policy().params());
    assert_eq!(l.value().params(), before.value().params());
    assert_eq!(l.cv().params(), before.cv().params());
    assert_eq!(l.pending_steps(), 0);
    // The A2C variant has no replay, so it cannot see the divergence, and needs none.
    let mut a2c = learner(false, 5);
    let mut env = Drift::new();
    env.diverge_after = Some(1);
    assert!(a2c.train_episode(&mut env, &mut rng).is_ok());
    let mut cfg = LaxConfig::paper(0.01, 0.01, 0.01, true);
    cfg.gamma = 0.0;
    assert_eq!(
        Small::new(cfg, &mut rng).err(),
        Some(Error::InvalidHyperparameter)
    );
    cfg = LaxConfig::paper(0.01, f32::NAN, 0.01, true);
    assert_eq!(
        Small::new(cfg, &mut rng).err(),
        Some(Error::InvalidHyperparameter)
    );
    let _ = Mlp::<2, 8, 1, 2, PM>::zeros(crate::nn::Activation::Tanh);
}

/// The KL of a policy step, as the learner reports it one batch later, against the KL
/// recomputed here from the policies before and after the step on the same states (the
/// episodes re-run from copies of the generator); and the step-size rule: a target far
/// above the measured KL grows the step by 1.5 per update up to 10 lr, one far below shrinks
/// it down to lr / 100.
#[test]
fn the_policy_step_size_follows_the_kl_target() {
    let mut l = learner(false, 6);
    let mut env = Drift::new();
    env.random_start = true;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(6);
    // batch_steps = 30, 3-step episodes: the policy steps after episodes 10, 20, ...
    let mut before = l.clone();
    for _ in 0..10 {
        before = l.clone();
        l.train_episode(&mut env, &mut rng).unwrap();
    }
    let (p0, s0) = (before.policy().clone(), *before.log_std());
    let (p1, s1) = (l.policy().clone(), *l.log_std());
    assert_ne!(p0.params(), p1.params());
    let (mut sum, mut n) = (0.0f64, 0u32);
    let mut reported = 0.0;
    for ep in 11..=20 {
        let mut copy = rng.clone();
        let mut e2 = env.clone();
        let mut raw = e2.reset(&mut copy).unwrap();
        loop {
            let obs = l.normalize(&raw);
            let mean = p1.forward(&obs);
            sum += Gaussian::<1>::kl(&p0.forward(&obs), &s0, &mean, &s1) as f64;
            n += 1;
            let eps = Gaussian::<1>::sample_noise(&mut copy);
            let tr = e2
                .step(&Gaussian::<1>::transform(&mean, &s1, &eps))
                .unwrap();
            raw = tr.obs;
            if tr.terminated {
                break;
            }
        }
        let r = l.train_episode(&mut env, &mut rng).unwrap();
        assert_eq!(r.policy_updated, ep == 20);
        reported = r.kl;
    }
    let expected = sum / n as f64;
    println!("KL of the first policy step: reported {reported:.3e}, recomputed {expected:.3e}");
    assert!(expected > 0.0);
    assert!(
        (reported as f64 - expected).abs() <= 1e-4 * expected + 1e-12,
        "{reported} vs {expected}"
    );

    for (target, limit) in [(1e3f32, 0.1f32), (1e-12, 1e-4)] {
        let mut cfg = *l.config();
        cfg.kl_target = target;
        let mut l = Small::new(cfg, &mut Xoshiro128PlusPlus::seed_from_u64(7)).unwrap();
        let mut lrs = Vec::new();
        for _ in 0..200 {
            let r = l.train_episode(&mut env, &mut rng).unwrap();
            if r.policy_updated {
                lrs.push(r.policy_lr);
            }
        }
        // The first step has no KL yet; each later one moves the step size by 1.5.
        assert_eq!(lrs[0], 0.01);
        let ratio = if target > 1.0 { 1.5 } else { 1.0 / 1.5 };
        assert!((lrs[1] / lrs[0] - ratio).abs() < 1e-5, "{lrs:?}");
        assert!(
            (lrs.last().unwrap() - limit).abs() < 1e-7 * limit.max(1.0),
            "{lrs:?}"
        );
    }
    // A negative or non-finite target is refused.
    let mut cfg = *l.config();
    cfg.kl_target = -1.0;
    assert_eq!(
        Small::new(cfg, &mut rng).err(),
        Some(Error::InvalidHyperparameter)
    );
}

/// Records the observations a learner feeds its networks (all but each episode's last).
struct Recorder {
    inner: Drift,
    seen: Vec<[f32; 2]>,
}

impl ContinuousEnvironment<2, 1> for Recorder {
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; 2], Error> {
        let o = self.inner.reset(rng)?;
        self.seen.push(o);
        Ok(o)
    }
    fn step(&mut self, a: &[f32; 1]) -> Result<Transition<2>, Error> {
        let tr = self.inner.step(a)?;
        if !(tr.terminated || tr.truncated) {
            self.seen.push(tr.obs);
        }
        Ok(tr)
    }
}

/// The running observation statistics against the mean and variance of every observation
/// the learner saw (A2C mode, so no replay), computed here in f64; the normalised input
/// against its definition; and the identity before any statistics or when switched off.
#[test]
fn observations_are_normalised_by_their_running_statistics() {
    let mut l = learner(false, 8);
    let probe = [0.9f32, -0.7];
    assert_eq!(l.normalize(&probe), probe);
    let mut env = Recorder {
        inner: Drift::new(),
        seen: Vec::new(),
    };
    env.inner.random_start = true;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(8);
    for _ in 0..200 {
        l.train_episode(&mut env, &mut rng).unwrap();
    }
    let (count, mean, var) = l.obs_stats();
    let n = env.seen.len();
    assert_eq!(n, 600);
    assert_eq!(count, n as f32);
    for i in 0..2 {
        let m = env.seen.iter().map(|o| o[i] as f64).sum::<f64>() / n as f64;
        let v = env
            .seen
            .iter()
            .map(|o| (o[i] as f64 - m).powi(2))
            .sum::<f64>()
            / n as f64;
        println!("obs {i}: mean {} vs {m}, var {} vs {v}", mean[i], var[i]);
        assert!((mean[i] as f64 - m).abs() < 1e-5 * (1.0 + m.abs()));
        assert!((var[i] as f64 - v).abs() < 1e-4 * v, "{} vs {v}", var[i]);
        assert!(v > 1e-4);
        let x = l.normalize(&probe)[i] as f64;
        let want = ((probe[i] as f64 - m) / (v + 1e-8).sqrt()).clamp(-5.0, 5.0);
        assert!(
            (x - want).abs() < 1e-3 * (1.0 + want.abs()),
            "{x} vs {want}"
        );
    }
    let mut cfg = *l.config();
    cfg.normalize_obs = false;
    let mut off = Small::new(cfg, &mut Xoshiro128PlusPlus::seed_from_u64(8)).unwrap();
    for _ in 0..20 {
        off.train_episode(&mut env, &mut rng).unwrap();
    }
    assert_eq!(off.normalize(&probe), probe);
}

/// With the policy frozen (`train_policy = false`), LAX's `c^` trained on the variance
/// loss, per batch of 10 episodes or after every episode, lowers the mean squared episode
/// gradient below A2C's. The learners see the same episodes (same seed, same policy) and
/// train the same `V`, so `c^` is the only difference. Asserted at 4 standard errors over
/// 4000 fresh episodes each.
#[test]
fn the_trained_control_variate_lowers_the_gradient_variance() {
    let mut means = Vec::new();
    for (control_variate, per_batch) in [(false, true), (true, true), (true, false)] {
        let mut cfg = LaxConfig::paper(0.01, 0.01, 0.01, control_variate);
        cfg.batch_steps = 30;
        cfg.train_policy = false;
        cfg.cv_per_batch = per_batch;
        cfg.init_log_std = -0.5;
        let mut l = Small::new(cfg, &mut Xoshiro128PlusPlus::seed_from_u64(3)).unwrap();
        let mut env = Drift::new();
        env.random_start = true;
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
        for _ in 0..10_000 {
            l.train_episode(&mut env, &mut rng).unwrap();
        }
        let (mut gm, mut gs) = ([0.0f32; PM], [0.0f32; 1]);
        let (mut s1, mut s2, n) = (0.0f64, 0.0f64, 4000);
        let mut eval = Xoshiro128PlusPlus::seed_from_u64(30);
        for _ in 0..n {
            let r = l
                .episode_gradient(&mut env, &mut eval, &mut gm, &mut gs)
                .unwrap();
            let q = r.grad_sq_norm as f64;
            s1 += q;
            s2 += q * q;
        }
        let m = s1 / n as f64;
        let se = ((s2 / n as f64 - m * m) / n as f64).sqrt();
        means.push((m, se));
    }
    let (a2c, se_a) = means[0];
    for (name, &(lax, se_l)) in ["per batch", "per episode"].iter().zip(&means[1..]) {
        let z = (a2c - lax) / (se_a * se_a + se_l * se_l).sqrt();
        println!("mean |g|^2: A2C {a2c:.4} +- {se_a:.4}, LAX ({name}) {lax:.4} +- {se_l:.4} (z = {z:.1})");
        assert!(
            z > 4.0,
            "A2C {a2c} +- {se_a} vs LAX ({name}) {lax} +- {se_l}"
        );
    }
}

/// `0.5 sum_t (V(s_t) - R_t)^2` over the episode that `rng` starts, re-simulated here from
/// the policy (not through the learner's passes).
fn value_loss(l: &Small, rng: &Xoshiro128PlusPlus) -> f64 {
    let mut rng = rng.clone();
    let mut env = Drift::new();
    env.random_start = true;
    let mut raw = env.reset(&mut rng).unwrap();
    let (mut inputs, mut rewards) = (Vec::new(), Vec::new());
    loop {
        let obs = l.normalize(&raw);
        let mean = l.policy().forward(&obs);
        let eps = Gaussian::<1>::sample_noise(&mut rng);
        let action = Gaussian::<1>::transform(&mean, l.log_std(), &eps);
        let tr = env.step(&action).unwrap();
        inputs.push(obs);
        rewards.push(tr.reward as f64);
        raw = tr.obs;
        if tr.terminated {
            break;
        }
    }
    let (mut ret, mut loss) = (0.0, 0.0);
    for t in (0..rewards.len()).rev() {
        ret = rewards[t] + l.config().gamma as f64 * ret;
        let v = l.value().forward(&inputs[t])[0] as f64;
        loss += 0.5 * (v - ret) * (v - ret);
    }
    loss
}

/// `value_steps` and `cv_steps` (the paper's 25 V steps and `cv_num` c^ steps per batch,
/// here per episode): more steps on one episode lower that episode's value loss (computed
/// here by re-simulating the episode) and its variance loss further than one step does; the
/// policy's batch still gets the gradient of the first pass (bit for bit the same as with
/// one step, so the estimate stays unbiased); and a replay that fails in an extra step
/// leaves the whole learner as it was.
#[test]
fn extra_value_and_control_variate_steps_replay_the_episode() {
    let make = |value_steps: u32, cv_steps: u32| {
        let mut cfg = LaxConfig::paper(0.003, 0.003, 0.003, true);
        cfg.batch_steps = 1000;
        cfg.init_log_std = -0.5;
        cfg.normalize_obs = false;
        cfg.cv_per_batch = false;
        cfg.value_steps = value_steps;
        cfg.cv_steps = cv_steps;
        let mut l = Small::new(cfg, &mut Xoshiro128PlusPlus::seed_from_u64(3)).unwrap();
        strong_cv(&mut l);
        l
    };
    let start = Xoshiro128PlusPlus::seed_from_u64(11);
    let env = || {
        let mut e = Drift::new();
        e.random_start = true;
        e
    };
    let variance_loss = |l: &Small| {
        l.variance_grad_for_test(&mut env(), &mut start.clone())
            .unwrap()
            .1
    };
    let before = make(1, 1);
    let (v0, c0) = (value_loss(&before, &start), variance_loss(&before));
    let mut trained = Vec::new();
    for (vs, cs) in [(1, 1), (5, 1), (1, 5)] {
        let mut l = make(vs, cs);
        let report = l.train_episode(&mut env(), &mut start.clone()).unwrap();
        assert_eq!(report.steps, HORIZON);
        assert_eq!(l.policy().params(), before.policy().params());
        trained.push(l);
    }
    let v: Vec<f64> = trained.iter().map(|l| value_loss(l, &start)).collect();
    let c: Vec<f32> = trained.iter().map(variance_loss).collect();
    println!("value loss {v0:.5} -> {v:.5?}; variance loss {c0:.5} -> {c:.5?}");
    assert!(v[1] < v[0] && v[0] < v0, "value steps: {v0} {v:?}");
    assert!(c[2] < c[0] && c[0] < c0, "cv steps: {c0} {c:?}");
    // Extra value steps leave c^ alone and extra c^ steps leave V alone.
    assert_eq!(trained[1].cv().params(), trained[0].cv().params());
    assert_eq!(trained[2].value().params(), trained[0].value().params());
    for l in &trained[1..] {
        assert_eq!(l.batch_grad, trained[0].batch_grad);
        assert_eq!(l.batch_grad_std, trained[0].batch_grad_std);
        assert_eq!(l.pending_steps(), HORIZON);
    }
    // Resets 1 and 2 are the first pass and its variance replay; the third, the first
    // extra step's replay, is one step longer.
    let mut l = make(2, 2);
    let snapshot = l.clone();
    let mut e = env();
    e.diverge_after = Some(2);
    assert_eq!(
        l.train_episode(&mut e, &mut start.clone()).err(),
        Some(Error::Environment)
    );
    assert_eq!(e.resets, 3);
    assert_eq!(l.value().params(), snapshot.value().params());
    assert_eq!(l.cv().params(), snapshot.cv().params());
    assert_eq!(l.batch_grad, snapshot.batch_grad);
    assert_eq!(l.pending_steps(), 0);
    assert_eq!(l.obs_stats().0, 0.0);
    let mut cfg = *make(1, 1).config();
    cfg.cv_steps = 0;
    assert_eq!(
        Small::new(cfg, &mut Xoshiro128PlusPlus::seed_from_u64(0)).err(),
        Some(Error::InvalidHyperparameter)
    );
}

/// `set_config`: a bad configuration is refused and nothing changes; `train_policy = false`
/// freezes the policy while `V` and `c^` learn (per batch); with `control_variate = false`
/// the episode gradient is the one with `c^` removed (its parameters zeroed, `c = V`); and
/// the step sizes follow the new configuration.
#[test]
fn set_config_freezes_the_policy_and_switches_the_control_variate_off() {
    let mut l = learner(true, 8);
    strong_cv(&mut l);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(8);
    let mut env = Drift::new();
    env.random_start = true;
    for _ in 0..20 {
        l.train_episode(&mut env, &mut rng).unwrap();
    }
    let before = l.clone();
    let mut bad = *l.config();
    bad.lr = -1.0;
    assert_eq!(l.set_config(bad).err(), Some(Error::InvalidHyperparameter));
    assert_eq!(l.config(), before.config());
    assert_eq!(l.policy_lr(), before.policy_lr());

    let mut frozen = *l.config();
    frozen.train_policy = false;
    frozen.cv_lr = 0.02;
    l.set_config(frozen).unwrap();
    assert_eq!(l.cv_adam.config().lr, 0.02);
    assert_eq!(l.policy_lr(), frozen.lr);
    for _ in 0..50 {
        assert!(!l.train_episode(&mut env, &mut rng).unwrap().policy_updated);
    }
    // 150 steps: batches of 30 did complete, and the policy did not move.
    assert!(l.pending_steps() < 30);
    assert_eq!(l.policy().params(), before.policy().params());
    assert_ne!(l.cv().params(), before.cv().params());
    assert_ne!(l.value().params(), before.value().params());

    let mut off = frozen;
    off.control_variate = false;
    let mut a2c = l.clone();
    a2c.set_config(off).unwrap();
    let mut zeroed = l.clone();
    zeroed.cv_params_mut_for_test().fill(0.0);
    let (mut g1, mut s1, mut g2, mut s2, mut g3, mut s3) = (
        [0.0; PM], [0.0; 1], [0.0; PM], [0.0; 1], [0.0; PM], [0.0; 1],
    );
    let start = Xoshiro128PlusPlus::seed_from_u64(99);
    a2c.episode_gradient(&mut env, &mut start.clone(), &mut g1, &mut s1)
        .unwrap();
    zeroed
        .episode_gradient(&mut env, &mut start.clone(), &mut g2, &mut s2)
        .unwrap();
    l.episode_gradient(&mut env, &mut start.clone(), &mut g3, &mut s3)
        .unwrap();
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(diff(&g1, &g2) <= 1e-6 && diff(&s1, &s2) <= 1e-6);
    // ... and differs from LAX's with the trained c^.
    assert!(diff(&g1, &g3) > 1e-3, "{}", diff(&g1, &g3));
}

/// A 4-dimensional smooth system with 40-step episodes, for the Inverted Pendulum learner's
/// sizes (64-64 networks).
struct Swing {
    s: [f32; 4],
    t: u32,
}

impl ContinuousEnvironment<4, 1> for Swing {
    fn reset<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; 4], Error> {
        self.s = core::array::from_fn(|_| 0.2 * (crate::math::uniform_open(rng) - 0.5));
        self.t = 0;
        Ok(self.s)
    }
    fn step(&mut self, a: &[f32; 1]) -> Result<Transition<4>, Error> {
        let [x, v, th, w] = self.s;
        let u = libm::tanhf(a[0]);
        self.s = [
            x + 0.05 * v,
            v + 0.05 * (u - 0.3 * th),
            th + 0.05 * w,
            w + 0.05 * (libm::sinf(th) - 0.5 * u),
        ];
        self.t += 1;
        let reward = 1.0 - self.s.iter().map(|z| z * z).sum::<f32>() - 0.01 * a[0] * a[0];
        Ok(Transition {
            obs: self.s,
            reward,
            terminated: false,
            truncated: self.t == 40,
        })
    }
}

/// The variance pass at the Inverted Pendulum learner's sizes (64-64 ELU `c^`, 64-64 tanh
/// policy, 40-step episodes): the derivative of the episode's variance loss along random
/// directions of `c^`'s parameters against central finite differences of the loss itself.
#[test]
fn variance_pass_matches_finite_differences_at_pendulum_size() {
    type P = crate::rl::lax::PendulumLax;
    const PCP: usize = mlp_param_count(5, 64, 1, 2);
    let mut cfg = LaxConfig::paper(0.01, 0.01, 0.01, true);
    cfg.normalize_obs = false;
    let mut base = P::new(cfg, &mut Xoshiro128PlusPlus::seed_from_u64(4)).unwrap();
    let mut init = Xoshiro128PlusPlus::seed_from_u64(5);
    for p in base.cv_params_mut_for_test().iter_mut() {
        *p = 0.3 * (2.0 * crate::math::uniform_open(&mut init) - 1.0);
    }
    let mut env = Swing { s: [0.0; 4], t: 0 };
    let loss = episode_variance_loss::<
        Swing,
        4,
        5,
        64,
        { mlp_param_count(4, 64, 1, 2) },
        { mlp_param_count(4, 64, 1, 2) },
        PCP,
    >;
    for seed in 0..4u64 {
        // Both weightings of the loss: |g / T|^2 and |g / B|^2 (B = 40, one episode).
        let mut cfg = *base.config();
        cfg.cv_loss_per_step = seed % 2 == 0;
        cfg.batch_steps = 40;
        base.set_config(cfg).unwrap();
        let (grad, l0) = base
            .variance_grad_for_test(&mut env, &mut Xoshiro128PlusPlus::seed_from_u64(seed))
            .unwrap();
        for k in 0..4 {
            let mut dir_rng = Xoshiro128PlusPlus::seed_from_u64(100 + k);
            let d: Vec<f32> = (0..PCP)
                .map(|_| 2.0 * crate::math::uniform_open(&mut dir_rng) - 1.0)
                .collect();
            let analytic: f64 = grad
                .iter()
                .zip(&d)
                .map(|(g, d)| *g as f64 * *d as f64)
                .sum();
            let h = 1e-3f32;
            let (mut p, mut m) = (base.clone(), base.clone());
            for (i, di) in d.iter().enumerate() {
                p.cv_params_mut_for_test()[i] += h * di;
                m.cv_params_mut_for_test()[i] -= h * di;
            }
            let fd = (loss(&p, &mut env, seed) - loss(&m, &mut env, seed)) / (2.0 * h as f64);
            println!("seed {seed} dir {k}: analytic {analytic:.6e}, fd {fd:.6e}, loss {l0:.4e}");
            // 2% plus the f32 rounding of the loss over 2h (~1e-6 loss / 2e-3), six-fold.
            assert!(
                (analytic - fd).abs() <= 0.02 * fd.abs().max(analytic.abs()) + 3e-3 * l0 as f64,
                "seed {seed} direction {k}: {analytic} vs {fd}"
            );
        }
    }
}
