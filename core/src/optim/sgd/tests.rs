use super::*;

#[test]
fn plain_step_and_refusal() {
    let mut sgd = Sgd::<2>::new(0.5, 0.0).unwrap();
    let mut p = [1.0, 1.0];
    sgd.step(&mut p, &[1.0, -2.0]).unwrap();
    assert_eq!(p, [0.5, 2.0]);
    assert_eq!(
        sgd.step(&mut p, &[f32::INFINITY, 0.0]),
        Err(Error::NonFiniteGradient)
    );
    assert_eq!(p, [0.5, 2.0]);
    assert!(Sgd::<1>::new(0.1, 1.0).is_err());
}

#[test]
fn a_step_that_would_overflow_is_refused_and_changes_nothing() {
    let mut sgd = Sgd::<1>::new(10.0, 0.9).unwrap();
    let mut p = [3e38f32];
    assert_eq!(sgd.step(&mut p, &[-1e38]), Err(Error::NonFiniteGradient));
    assert_eq!(p, [3e38]);
    assert_eq!(sgd.velocity, [0.0]);
}
