use super::*;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// Keeps the pole up and the cart near the centre (a linear state feedback).
fn balance(s: [f32; 4]) -> usize {
    usize::from(0.1 * s[0] + 0.5 * s[1] + 10.0 * s[2] + 2.0 * s[3] > 0.0)
}

#[test]
fn constants_are_gymnasiums() {
    assert_eq!(
        THETA_THRESHOLD,
        (12.0 * 2.0 * core::f64::consts::PI / 360.0) as f32
    );
    assert_eq!(TOTAL_MASS, 1.1);
    assert_eq!(POLE_MASS_LENGTH, 0.05);
}

#[test]
fn reset_is_reproducible_and_inside_the_bounds() {
    let mut a = CartPole::new();
    let mut b = CartPole::default();
    let sa = a.reset(&mut Xoshiro128PlusPlus::seed_from_u64(42));
    let sb = b.reset(&mut Xoshiro128PlusPlus::seed_from_u64(42));
    assert_eq!(sa, sb);
    assert_eq!(a.state(), sa);
    assert_eq!(a.steps(), 0);
    let sc = a.reset(&mut Xoshiro128PlusPlus::seed_from_u64(43));
    assert_ne!(sa, sc);

    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0);
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    for _ in 0..10_000 {
        for v in a.reset(&mut rng) {
            assert!(v > -0.05 && v < 0.05, "{v}");
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    assert!(lo < -0.0499 && hi > 0.0499, "{lo} {hi}");
}

#[test]
fn one_step_follows_the_equations() {
    let mut env = CartPole::new();
    env.reset_to([0.0; 4]).unwrap();
    let s = env.step(1).unwrap();
    // At rest and upright: xacc = F / (m_c + m_p) - m_p l thetaacc / (m_c + m_p),
    // thetaacc = -F / (m_c + m_p) / (l (4/3 - m_p / (m_c + m_p))); positions move
    // only on the next step (explicit Euler).
    let temp = 10.0 / 1.1;
    let thetaacc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
    let xacc = temp - 0.05 * thetaacc / 1.1;
    assert_eq!(s.obs[0], 0.0);
    assert_eq!(s.obs[2], 0.0);
    assert!((s.obs[1] - 0.02 * xacc).abs() < 1e-6, "{:?}", s.obs);
    assert!((s.obs[3] - 0.02 * thetaacc).abs() < 1e-6, "{:?}", s.obs);
    assert_eq!(s.reward, 1.0);
    assert!(!s.terminated && !s.truncated);
    assert_eq!(env.steps(), 1);
}

#[test]
fn pushing_one_way_terminates_and_then_refuses_to_step() {
    let mut env = CartPole::new();
    env.reset(&mut Xoshiro128PlusPlus::seed_from_u64(3));
    let mut n = 0;
    let last = loop {
        let s = env.step(1).unwrap();
        n += 1;
        assert_eq!(s.reward, 1.0, "the terminating step is rewarded too");
        if s.terminated {
            break s;
        }
        assert!(n < 100, "pushing right always should drop the pole quickly");
    };
    assert!(!last.truncated);
    assert!(
        last.obs[2] < -THETA_THRESHOLD,
        "the pole falls left: {:?}",
        last.obs
    );
    assert_eq!(env.steps(), n);
    let before = env;
    assert_eq!(env.step(0), Err(Error::EpisodeOver));
    assert_eq!(env, before);
}

#[test]
fn leaving_the_track_terminates() {
    let mut env = CartPole::new();
    env.reset_to([2.39, 1.0, 0.0, 0.0]).unwrap();
    let s = env.step(1).unwrap();
    assert!(s.obs[0] > 2.4 && s.terminated);
    env.reset_to([-2.39, -1.0, 0.0, 0.0]).unwrap();
    assert!(env.step(0).unwrap().terminated);
    // The pole angle alone, on both sides.
    env.reset_to([0.0, 0.0, 0.2094, 1.0]).unwrap();
    assert!(env.step(1).unwrap().terminated);
    env.reset_to([0.0, 0.0, -0.2094, -1.0]).unwrap();
    assert!(env.step(0).unwrap().terminated);
}

#[test]
fn truncates_at_exactly_500_steps() {
    let mut env = CartPole::new();
    let mut obs = env.reset(&mut Xoshiro128PlusPlus::seed_from_u64(5));
    for t in 1..=CartPole::MAX_STEPS {
        let s = env.step(balance(obs)).unwrap();
        assert!(!s.terminated, "the controller dropped the pole at step {t}");
        assert_eq!(s.truncated, t == CartPole::MAX_STEPS, "step {t}");
        assert_eq!(env.steps(), t);
        obs = s.obs;
    }
    assert_eq!(env.step(0), Err(Error::EpisodeOver));
    // A reset starts a new episode with a fresh count.
    env.reset_to([0.0; 4]).unwrap();
    assert_eq!(env.steps(), 0);
    assert!(env.step(0).is_ok());
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut env = CartPole::new();
    assert_eq!(
        env.step(0),
        Err(Error::EpisodeOver),
        "no episode before a reset"
    );
    env.reset_to([0.01, 0.0, -0.01, 0.0]).unwrap();
    let before = env;
    assert_eq!(env.step(2), Err(Error::InvalidAction));
    assert_eq!(env.step(usize::MAX), Err(Error::InvalidAction));
    assert_eq!(
        env.reset_to([0.0, f32::NAN, 0.0, 0.0]),
        Err(Error::NonFiniteInput)
    );
    assert_eq!(
        env.set_state([0.0, 0.0, f32::INFINITY, 0.0]),
        Err(Error::NonFiniteInput)
    );
    assert_eq!(env, before);

    // Finite but absurd: theta_dot^2 overflows f32.
    env.reset_to([0.0, 0.0, 0.1, 1e30]).unwrap();
    let before = env;
    assert_eq!(env.step(0), Err(Error::NonFiniteInput));
    assert_eq!(env, before);
}

#[test]
fn set_state_keeps_the_step_count() {
    let mut env = CartPole::new();
    env.reset_to([0.0; 4]).unwrap();
    env.step(0).unwrap();
    env.step(1).unwrap();
    env.set_state([0.1, 0.2, 0.03, 0.04]).unwrap();
    assert_eq!(env.state(), [0.1, 0.2, 0.03, 0.04]);
    assert_eq!(env.steps(), 2);
    // Teleporting does not revive a finished episode.
    env.set_state([0.0, 0.0, 0.5, 0.0]).unwrap();
    assert!(env.step(0).unwrap().terminated);
    env.set_state([0.0; 4]).unwrap();
    assert_eq!(env.step(0), Err(Error::EpisodeOver));
}
