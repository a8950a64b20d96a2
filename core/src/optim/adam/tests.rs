extern crate std;

use super::*;

#[test]
fn first_step_moves_each_parameter_by_lr() {
    let mut adam = Adam::<2>::new(AdamConfig::new(0.1)).unwrap();
    let mut p = [1.0, -1.0];
    adam.step(&mut p, &[3.0, -0.5]).unwrap();
    assert!((p[0] - 0.9).abs() < 1e-6 && (p[1] + 0.9).abs() < 1e-6);
}

#[test]
fn minimises_a_quadratic() {
    let mut adam = Adam::<1>::new(AdamConfig::new(0.05)).unwrap();
    let mut p = [5.0];
    for _ in 0..2000 {
        let g = [2.0 * (p[0] - 1.5)];
        adam.step(&mut p, &g).unwrap();
    }
    assert!((p[0] - 1.5).abs() < 1e-2);
}

#[test]
fn refuses_bad_input_and_keeps_state() {
    assert_eq!(
        Adam::<1>::new(AdamConfig::new(-1.0)).err(),
        Some(Error::InvalidHyperparameter)
    );
    let mut adam = Adam::<2>::new(AdamConfig::new(0.1)).unwrap();
    let mut p = [1.0, 2.0];
    assert_eq!(
        adam.step(&mut p, &[f32::NAN, 0.0]),
        Err(Error::NonFiniteGradient)
    );
    assert_eq!(p, [1.0, 2.0]);
    assert_eq!(adam.step(&mut p, &[0.0]), Err(Error::SizeMismatch));
    assert_eq!(adam.beta1_t, 1.0);
}

/// Issue 15: one finite gradient of 1e21 made the second moment infinite and froze that
/// parameter forever while every call returned `Ok`. Now the step is refused and nothing
/// changes; the next ordinary gradient steps as if the attack never happened.
#[test]
fn a_step_that_would_overflow_is_refused_and_changes_nothing() {
    let mut adam = Adam::<2>::new(AdamConfig::new(0.01)).unwrap();
    let mut p = [0.5f32, -0.5];
    adam.step(&mut p, &[0.3, -0.2]).unwrap();
    let mut twin = adam.clone();
    let mut p_twin = p;
    let before = std::format!("{adam:?}");
    for g in [1e21f32, -3e38, f32::MAX] {
        assert_eq!(
            adam.check_step(&p, &[g, 0.1]),
            Err(Error::NonFiniteGradient)
        );
        assert_eq!(adam.step(&mut p, &[g, 0.1]), Err(Error::NonFiniteGradient));
        assert_eq!(p.map(f32::to_bits), p_twin.map(f32::to_bits));
        assert_eq!(std::format!("{adam:?}"), before);
    }
    assert_eq!(
        adam.step(&mut [f32::INFINITY, 0.0], &[0.1, 0.1]),
        Err(Error::NonFiniteInput)
    );
    // Large but safe: accepted, and bit-identical to a twin that never saw the attacks.
    adam.step(&mut p, &[1e18, 0.1]).unwrap();
    twin.step(&mut p_twin, &[1e18, 0.1]).unwrap();
    assert_eq!(p.map(f32::to_bits), p_twin.map(f32::to_bits));
    let (m, v, _, _) = adam.snapshot();
    assert!(m.iter().chain(v).all(|x| x.is_finite()) && p.iter().all(|x| x.is_finite()));
}
