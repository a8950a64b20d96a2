use super::*;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

/// The firmware's original window (firmware/src/workload.rs before it used `ReturnWindow`):
/// a ring written at `next`, re-summed over `returns[..len]` in slot order.
struct NaiveRing<const N: usize> {
    returns: [f32; N],
    len: usize,
    next: usize,
}

impl<const N: usize> NaiveRing<N> {
    fn push(&mut self, ret: f32) -> f32 {
        self.returns[self.next] = ret;
        self.next = (self.next + 1) % N;
        self.len = (self.len + 1).min(N);
        let sum: f32 = self.returns[..self.len].iter().sum();
        sum / self.len as f32
    }
}

fn random_return(rng: &mut Xoshiro128PlusPlus) -> f32 {
    // Returns of mixed magnitude, so the summation order matters for the rounding.
    let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
    if rng.next_u32().is_multiple_of(3) {
        u * 500.0
    } else {
        u * 0.37 + 1e-3
    }
}

fn check_against_ring<const N: usize>(pushes: usize, seed: u64) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut ring = NaiveRing::<N> {
        returns: [0.0; N],
        len: 0,
        next: 0,
    };
    let mut window = ReturnWindow::<N>::new();
    for i in 0..pushes {
        let r = random_return(&mut rng);
        let expect = ring.push(r);
        window.push(r);
        assert_eq!(
            window.mean_f32().to_bits(),
            expect.to_bits(),
            "push {i}: f32 mean differs from the slot-order ring"
        );
        assert_eq!(window.len(), ring.len);
        assert_eq!(window.is_full(), ring.len == N);
        let sum64: f64 = ring.returns[..ring.len].iter().map(|&x| x as f64).sum();
        assert_eq!(
            window.mean_f64().to_bits(),
            (sum64 / ring.len as f64).to_bits()
        );
    }
}

#[test]
fn f32_mean_equals_the_firmware_ring_bit_for_bit() {
    check_against_ring::<100>(1000, 0);
    check_against_ring::<100>(257, 1);
    check_against_ring::<7>(50, 2);
    check_against_ring::<1>(5, 3);
}

#[test]
fn slot_order_is_not_age_order() {
    // After 5 pushes into 3 slots, the slots hold [4, 5, 3]: sums in that order.
    let mut window = ReturnWindow::<3>::new();
    for r in [1.0, 2.0, 3.0, 4.0, 5.0] {
        window.push(r);
    }
    assert_eq!(window.returns.as_slice(), &[4.0, 5.0, 3.0]);
    assert_eq!(window.mean_f32(), 4.0);
}

#[test]
fn solved_needs_a_full_window() {
    let mut window = ReturnWindow::<100>::default();
    assert!(window.is_empty());
    assert!(window.mean_f32().is_nan());
    for i in 0..100 {
        window.push(500.0);
        assert_eq!(window.solved(195.0), i == 99, "after {} pushes", i + 1);
    }
    window.push(0.0);
    assert!(window.solved(195.0));
    assert!(!window.solved(495.1));
}
