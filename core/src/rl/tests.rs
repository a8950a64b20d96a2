//! The RL learners' gradients: exact enumeration on a short episode, the variance pass
//! against finite differences, and refusal of bad environments.

extern crate std;
use std::println;

use super::relax::CartPoleRelax;
use super::*;
use crate::dist::{Categorical, Relaxed};
use crate::nn::{Mlp, MlpCache};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// A 3-step episode with 2 actions and deterministic transitions, so the expectation over
/// all 8 action sequences can be enumerated.
#[derive(Clone)]
struct Chain {
    s: [f32; 4],
    t: u32,
    nan_obs: bool,
}

impl Chain {
    fn new() -> Self {
        Self {
            s: [0.0; 4],
            t: 0,
            nan_obs: false,
        }
    }
    fn next(s: &[f32; 4], a: usize) -> [f32; 4] {
        let d = if a == 1 { 0.5 } else { -0.3 };
        [s[0] + d, 0.8 * s[1] - d, s[2] * 0.5 + 0.1, s[0] * d]
    }
    fn reward(s: &[f32; 4], a: usize) -> f32 {
        if a == 1 {
            1.0 + s[0]
        } else {
            0.5 - s[3]
        }
    }
}

impl Environment<4> for Chain {
    fn reset<R: Rng + ?Sized>(&mut self, _rng: &mut R) -> Result<[f32; 4], Error> {
        self.s = [0.1, -0.2, 0.3, 0.05];
        self.t = 0;
        Ok(self.s)
    }
    fn step(&mut self, a: usize) -> Result<Transition<4>, Error> {
        let r = Self::reward(&self.s, a);
        self.s = Self::next(&self.s, a);
        self.t += 1;
        let mut obs = self.s;
        if self.nan_obs {
            obs[0] = f32::NAN;
        }
        Ok(Transition {
            obs,
            reward: r,
            terminated: self.t == 3,
            truncated: false,
        })
    }
}

/// E[sum_t R_t dlog pi(a_t|s_t)/dtheta] by enumerating the 8 action sequences.
fn exact_gradient<const PP: usize>(policy: &Mlp<4, 10, 2, 2, PP>, gamma: f32) -> [f64; PP] {
    let mut g = [0.0f64; PP];
    for seq in 0..8u32 {
        let acts = [
            (seq & 1) as usize,
            ((seq >> 1) & 1) as usize,
            ((seq >> 2) & 1) as usize,
        ];
        let mut s = [0.1f32, -0.2, 0.3, 0.05];
        let mut states = [[0.0f32; 4]; 3];
        let mut rewards = [0.0f32; 3];
        let mut logp = 0.0f64;
        for t in 0..3 {
            states[t] = s;
            let l = policy.forward(&s);
            logp += Categorical::<2>::log_prob(&l, &Categorical::<2>::one_hot(acts[t])) as f64;
            rewards[t] = Chain::reward(&s, acts[t]);
            s = Chain::next(&s, acts[t]);
        }
        let p = logp.exp();
        for t in 0..3 {
            let mut rt = 0.0f32;
            for k in (t..3).rev() {
                rt = rewards[k] + gamma * rt;
            }
            let mut cache = MlpCache::default();
            let l = policy.forward_cached(&states[t], &mut cache);
            let score = Categorical::<2>::score(&l, &Categorical::<2>::one_hot(acts[t]));
            let mut gs = [0.0f32; PP];
            policy.backward(&states[t], &cache, &score, &mut gs);
            for k in 0..PP {
                g[k] += p * rt as f64 * gs[k] as f64;
            }
        }
    }
    g
}

fn assert_matches_exact<const PP: usize, L: Learner<4, PP>>(
    name: &str,
    learner: &mut L,
    exact: &[f64; PP],
    seed: u64,
) -> f64 {
    let n = 100_000;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut env = Chain::new();
    let mut s1 = [0.0f64; PP];
    let mut s2 = [0.0f64; PP];
    let mut g = [0.0f32; PP];
    for _ in 0..n {
        learner
            .episode_gradient(&mut env, &mut rng, &mut g)
            .unwrap();
        for k in 0..PP {
            s1[k] += g[k] as f64;
            s2[k] += (g[k] as f64).powi(2);
        }
    }
    let mut worst = 0.0f64;
    for k in 0..PP {
        let m = s1[k] / n as f64;
        let se = ((s2[k] / n as f64 - m * m).max(0.0) / n as f64).sqrt();
        let d = m - exact[k];
        let z = if se > 0.0 {
            d / se
        } else if d.abs() < 1e-6 {
            0.0
        } else {
            f64::INFINITY
        };
        worst = worst.max(z.abs());
    }
    println!("{name}: max |z| over {PP} policy parameters = {worst:.2}");
    assert!(worst < 4.0, "{name}: max |z| = {worst}");
    worst
}

#[test]
fn relax_policy_gradient_is_unbiased_untrained_and_trained() {
    let cfg = PgConfig::paper(0.01, 1.0);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    let mut learner = CartPoleRelax::new(cfg, &mut rng).unwrap();
    let exact = exact_gradient(learner.policy(), cfg.gamma);
    assert_matches_exact(
        "RELAX (untrained control variate)",
        &mut learner,
        &exact,
        10,
    );
    // Train: this also moves the policy, so the exact gradient is recomputed.
    let mut env = Chain::new();
    for _ in 0..300 {
        learner.train_episode(&mut env, &mut rng).unwrap();
    }
    let exact = exact_gradient(learner.policy(), cfg.gamma);
    assert_matches_exact("RELAX (trained control variate)", &mut learner, &exact, 11);
}

#[test]
fn a2c_and_reinforce_gradients_are_unbiased() {
    let cfg = PgConfig::paper(0.01, 1.0);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    let mut a2c = a2c::CartPoleA2c::new(cfg, &mut rng).unwrap();
    let mut env = Chain::new();
    for _ in 0..100 {
        a2c.train_episode(&mut env, &mut rng).unwrap();
    }
    let exact = exact_gradient(&a2c.policy, cfg.gamma);
    assert_matches_exact("A2C", &mut a2c, &exact, 12);
    let mut re = reinforce::CartPoleReinforce::new(cfg, &mut rng).unwrap();
    let exact = exact_gradient(&re.policy, cfg.gamma);
    assert_matches_exact("REINFORCE", &mut re, &exact, 13);
}

/// The control variate's step uses the exact `d|g|^2/dphi`; check it against central
/// differences of `|g|^2` (same generator, so the same episode) in the control variate's
/// parameters.
#[test]
fn relax_variance_pass_matches_finite_differences() {
    let cfg = PgConfig::paper(0.01, 1.0);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(8);
    let learner = CartPoleRelax::new(cfg, &mut rng).unwrap();
    for seed in 0..3u64 {
        let mut env = Chain::new();
        let sq = |l: &mut CartPoleRelax, env: &mut Chain| -> f64 {
            let mut g = [0.0f32; 182];
            l.episode_gradient(env, &mut Xoshiro128PlusPlus::seed_from_u64(seed), &mut g)
                .unwrap();
            g.iter().map(|v| (*v as f64).powi(2)).sum()
        };
        let mut l = learner.clone();
        let mut g = [0.0f32; 182];
        let rep = l
            .episode_gradient(
                &mut env,
                &mut Xoshiro128PlusPlus::seed_from_u64(seed),
                &mut g,
            )
            .unwrap();
        l.variance_pass_for_test(
            &mut env,
            &mut Xoshiro128PlusPlus::seed_from_u64(seed),
            &g,
            rep.steps,
        )
        .unwrap();
        let (gn, ge) = l.cv_grads_for_test();
        let h = 1e-3f32;
        let mut checked = 0;
        for i in (0..gn.len()).step_by(7).chain([gn.len(), gn.len() + 1]) {
            let (mut p, mut m) = (learner.clone(), learner.clone());
            p.perturb_cv_for_test(i, h);
            m.perturb_cv_for_test(i, -h);
            let fd = (sq(&mut p, &mut env) - sq(&mut m, &mut env)) / (2.0 * h as f64);
            let a = if i < gn.len() {
                gn[i]
            } else {
                ge[i - gn.len()]
            } as f64;
            let tol = 1e-3 * (1.0 + rep.grad_sq_norm as f64).sqrt() + 3e-2 * fd.abs();
            assert!(
                (a - fd).abs() < tol,
                "seed {seed} cv param {i}: {a} vs {fd} (|g|^2 = {})",
                rep.grad_sq_norm
            );
            checked += 1;
        }
        assert!(checked > 20);
    }
}

#[test]
fn bad_environments_are_refused_and_nothing_changes() {
    let cfg = PgConfig::paper(0.01, 1.0);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut learner = CartPoleRelax::new(cfg, &mut rng).unwrap();
    let before = learner.clone();
    let mut env = Chain::new();
    env.nan_obs = true;
    assert_eq!(
        learner.train_episode(&mut env, &mut rng).err(),
        Some(Error::Environment)
    );
    assert_eq!(learner.policy().params(), before.policy().params());
    assert_eq!(learner.cv().net().params(), before.cv().net().params());
    struct NanReward;
    impl Environment<4> for NanReward {
        fn reset<R: Rng + ?Sized>(&mut self, _: &mut R) -> Result<[f32; 4], Error> {
            Ok([0.0; 4])
        }
        fn step(&mut self, _: usize) -> Result<Transition<4>, Error> {
            Ok(Transition {
                obs: [0.0; 4],
                reward: f32::NAN,
                terminated: false,
                truncated: false,
            })
        }
    }
    assert_eq!(
        learner.train_episode(&mut NanReward, &mut rng).err(),
        Some(Error::NonFiniteObjective)
    );
    assert_eq!(learner.policy().params(), before.policy().params());
    let mut a2c = a2c::CartPoleA2c::new(cfg, &mut rng).unwrap();
    assert_eq!(
        a2c.train_episode(&mut NanReward, &mut rng).err(),
        Some(Error::NonFiniteObjective)
    );
    let bad = PgConfig { gamma: 1.5, ..cfg };
    assert_eq!(
        CartPoleRelax::new(bad, &mut rng).err(),
        Some(Error::InvalidHyperparameter)
    );
}
