extern crate std;
use super::*;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

#[test]
fn sigmoid_is_stable_and_symmetric() {
    for &x in &[-100.0f32, -20.0, -1.0, 0.0, 0.5, 20.0, 100.0] {
        let s = sigmoid(x);
        assert!(s.is_finite() && (0.0..=1.0).contains(&s));
        assert!((s + sigmoid(-x) - 1.0).abs() < 1e-6);
    }
    assert_eq!(sigmoid(0.0), 0.5);
}

#[test]
fn softplus_matches_definition_and_does_not_overflow() {
    for &x in &[-30.0f32, -2.0, 0.0, 2.0, 30.0] {
        let direct = libm::log(1.0 + libm::exp(x as f64)) as f32;
        assert!((softplus(x) - direct).abs() < 1e-5, "{x}");
    }
    assert_eq!(softplus(1000.0), 1000.0);
    assert!((log_sigmoid(0.0) + core::f32::consts::LN_2).abs() < 1e-6);
}

#[test]
fn logit_inverts_sigmoid() {
    for &p in &[0.01f32, 0.3, 0.5, 0.9, 0.999] {
        assert!((sigmoid(logit(p)) - p).abs() < 1e-6);
    }
}

#[test]
fn softmax_and_log_softmax_agree() {
    let x = [1.0f32, -2.0, 300.0, 0.5];
    let p = softmax(&x);
    let lp = log_softmax(&x);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    for i in 0..4 {
        assert!((libm::expf(lp[i]) - p[i]).abs() < 1e-6);
    }
}

#[test]
fn uniform_is_open_and_has_the_right_mean() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
    let n = 200_000;
    let mut sum = 0.0f64;
    for _ in 0..n {
        let u = uniform_open(&mut rng);
        assert!(u > 0.0 && u < 1.0);
        sum += u as f64;
    }
    // mean 1/2, standard error sqrt(1/12/n) = 6.5e-4
    assert!((sum / n as f64 - 0.5).abs() < 4.0 * 6.5e-4);
}

/// A generator that always returns the same word, to reach the extremes.
struct Constant(u32);
impl rand_core::TryRng for Constant {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0 as u64)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(0);
        Ok(())
    }
}

#[test]
fn uniform_extremes_stay_inside_and_logs_are_finite() {
    let lo = uniform_open(&mut Constant(0));
    let hi = uniform_open(&mut Constant(u32::MAX));
    assert!(lo > 0.0 && hi < 1.0, "{lo} {hi}");
    for u in [lo, hi] {
        let z = libm::logf(u) - libm::log1pf(-u);
        assert!(z.is_finite() && z.abs() < 16.7, "{z}");
    }
}

#[test]
fn the_branch_free_expf_has_the_bits_of_libm() {
    // Every input whose result goes through the reduction, polynomial and scaling (2^-14 <
    // |x| < 104, both signs: 330 million inputs; about 6 s on two threads in the optimised
    // test profile), and every 1,009th of all the others (NaNs, infinities, overflow,
    // underflow to zero, |x| <= 2^-14: selects returning what libm returns). The whole 2^32
    // was checked once too (80 s): no difference.
    let check = |lo: u32, hi: u32, step: usize| {
        move || {
            let mut bad = 0u64;
            for b in (lo..hi).step_by(step) {
                let x = f32::from_bits(b);
                let (got, want) = (crate::math::expf_branch_free(x), libm::expf(x));
                if got.to_bits() != want.to_bits() && !(got.is_nan() && want.is_nan()) {
                    bad += 1;
                }
            }
            bad
        }
    };
    let (lo, hi) = (0x3900_0001u32, 0x42d0_0000u32);
    let t = std::thread::spawn(check(lo, hi, 1));
    let mut bad = check(lo | 0x8000_0000, hi | 0x8000_0000, 1)();
    bad += check(0, u32::MAX, 1009)();
    bad += t.join().unwrap();
    assert_eq!(bad, 0, "inputs where expf differs from libm::expf");
    assert_eq!(
        crate::math::expf(-1.5).to_bits(),
        libm::expf(-1.5).to_bits()
    );
}

#[test]
fn sigmoid_has_the_bits_of_its_two_branch_form() {
    // The x86-64 form (one exponential of -|x| and a select) against the two-branch form
    // the microcontrollers run, on every 97th input.
    for b in (0..u32::MAX).step_by(97) {
        let x = f32::from_bits(b);
        let want = if x >= 0.0 {
            1.0 / (1.0 + libm::expf(-x))
        } else {
            let e = libm::expf(x);
            e / (1.0 + e)
        };
        let got = sigmoid(x);
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "x = {x:e}: {got:e} against {want:e}"
        );
    }
}
