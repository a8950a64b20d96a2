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
