use super::*;

#[test]
fn fast_sigmoid_and_softplus_match_f64() {
    let mut worst = (0.0f64, 0.0f64);
    for i in -200_000..=200_000 {
        let x = i as f32 * 5e-4; // [-100, 100]
        let xd = x as f64;
        let sp = xd.max(0.0) + (-xd.abs()).exp().ln_1p();
        let sg = 1.0 / (1.0 + (-xd).exp());
        worst.0 = worst.0.max((softplus(x) as f64 - sp).abs() / sp.max(1.0));
        worst.1 = worst.1.max((sigmoid(x) as f64 - sg).abs());
    }
    assert!(worst.0 < 5e-7 && worst.1 < 2e-7, "{worst:?}");
}
