//! The Lunar Lander learners (`RelaxLearner` and `A2c` with 8 observations and 4 actions;
//! the core's own tests cover 2 actions) give unbiased policy gradients: their mean over
//! many episodes of a 2-step deterministic environment matches the exact expectation,
//! enumerated over all 16 action sequences, within 4 standard errors.

use host::rl::{LunarA2c, LunarRelax};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::dist::{Categorical, Relaxed};
use relax_core::nn::{mlp_param_count, Mlp, MlpCache};
use relax_core::rl::{Environment, Learner, PgConfig, Transition};
use relax_core::Error;

const PP: usize = mlp_param_count(8, 10, 4, 2);
const START: [f32; 8] = [0.1, -0.2, 0.3, 0.05, 0.5, -0.4, 0.0, 1.0];

/// Two steps; the next state and the reward depend on the action.
struct Chain2 {
    s: [f32; 8],
    t: u32,
}

fn next(s: &[f32; 8], a: usize) -> [f32; 8] {
    let d = [0.5, -0.3, 0.2, -0.6][a];
    core::array::from_fn(|i| 0.8 * s[i] + d * (i as f32 * 0.3 - 1.0))
}

fn reward(s: &[f32; 8], a: usize) -> f32 {
    [1.0 + s[0], 0.5 - s[3], -0.3 + 2.0 * s[1], 0.8 * s[4]][a]
}

impl Environment<8> for Chain2 {
    fn reset<R: Rng + ?Sized>(&mut self, _: &mut R) -> Result<[f32; 8], Error> {
        self.s = START;
        self.t = 0;
        Ok(self.s)
    }
    fn step(&mut self, a: usize) -> Result<Transition<8>, Error> {
        let r = reward(&self.s, a);
        self.s = next(&self.s, a);
        self.t += 1;
        Ok(Transition {
            obs: self.s,
            reward: r,
            terminated: self.t == 2,
            truncated: false,
        })
    }
}

fn exact(policy: &Mlp<8, 10, 4, 2, PP>, gamma: f32) -> Vec<f64> {
    let mut g = vec![0.0f64; PP];
    for seq in 0..16usize {
        let acts = [seq % 4, seq / 4];
        let mut s = START;
        let mut states = [[0.0f32; 8]; 2];
        let mut rewards = [0.0f32; 2];
        let mut logp = 0.0f64;
        for t in 0..2 {
            states[t] = s;
            let l = policy.forward(&s);
            logp += Categorical::<4>::log_prob(&l, &Categorical::<4>::one_hot(acts[t])) as f64;
            rewards[t] = reward(&s, acts[t]);
            s = next(&s, acts[t]);
        }
        let p = logp.exp();
        for t in 0..2 {
            let rt = if t == 0 {
                rewards[0] + gamma * rewards[1]
            } else {
                rewards[1]
            };
            let mut cache = MlpCache::default();
            let l = policy.forward_cached(&states[t], &mut cache);
            let score = Categorical::<4>::score(&l, &Categorical::<4>::one_hot(acts[t]));
            let mut gs = [0.0f32; PP];
            policy.backward(&states[t], &cache, &score, &mut gs);
            for k in 0..PP {
                g[k] += p * rt as f64 * gs[k] as f64;
            }
        }
    }
    g
}

fn max_z<L: Learner<8, PP>>(learner: &mut L, exact: &[f64], seed: u64) -> f64 {
    let n = 100_000;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut env = Chain2 { s: START, t: 0 };
    let (mut s1, mut s2) = (vec![0.0f64; PP], vec![0.0f64; PP]);
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
        worst = worst.max((m - exact[k]).abs() / (se + 1e-7));
    }
    worst
}

/// The smallest action probability of the policy on the chain's states: the z-test needs
/// every action to be sampled often (a near-deterministic policy's rare actions carry
/// expectation that 10^5 samples never see).
fn min_prob(policy: &Mlp<8, 10, 4, 2, PP>) -> f32 {
    let mut m = 1.0f32;
    for a0 in 0..4 {
        for s in [START, next(&START, a0)] {
            let p = Categorical::<4>::probs(&policy.forward(&s));
            m = p.iter().fold(m, |m, &v| m.min(v));
        }
    }
    m
}

#[test]
fn lunar_lander_relax_and_a2c_gradients_are_unbiased() {
    // A small policy step so that the policy stays stochastic while the control variate
    // (10x the step) moves far from its zero start.
    let cfg = PgConfig::paper(0.001, 10.0);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let mut relax = LunarRelax::new(cfg, &mut rng).unwrap();
    let mut env = Chain2 { s: START, t: 0 };
    for _ in 0..300 {
        relax.train_episode(&mut env, &mut rng).unwrap();
    }
    // The control variate's output layer starts at zero; it must have learned.
    let cv = relax.cv().net().params();
    let out_layer = &cv[cv.len() - 11..];
    assert!(
        out_layer.iter().any(|v| v.abs() > 1e-3),
        "the control variate did not move"
    );
    let pmin = min_prob(relax.policy());
    assert!(pmin > 1e-3, "the policy became near-deterministic: {pmin}");
    let ex = exact(relax.policy(), cfg.gamma);
    let z = max_z(&mut relax, &ex, 6);
    println!("RELAX (8 observations, 4 actions, min prob {pmin:.3}): max |z| over {PP} parameters = {z:.2}");
    assert!(z < 4.0, "RELAX: max |z| = {z}");

    let mut a2c = LunarA2c::new(cfg, &mut rng).unwrap();
    for _ in 0..300 {
        a2c.train_episode(&mut env, &mut rng).unwrap();
    }
    let mut p = Mlp::<8, 10, 4, 2, PP>::zeros(relax_core::nn::Activation::Relu);
    p.set_params(a2c.policy_params()).unwrap();
    assert!(min_prob(&p) > 1e-3);
    let z = max_z(&mut a2c, &exact(&p, cfg.gamma), 7);
    println!("A2C (8 observations, 4 actions): max |z| = {z:.2}");
    assert!(z < 4.0, "A2C: max |z| = {z}");
}
