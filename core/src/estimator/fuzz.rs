//! Hostile inputs for the fuzz test of the estimators' promises (issue 15): values drawn from
//! pools of finite, huge, subnormal, infinite and NaN numbers; an objective that draws its
//! values, gradients and Hessian-vector products from them; and the learnable state of every
//! estimator as a list of `f32`s, compared bit for bit before and after a call that fails.

extern crate std;
use std::vec::Vec;

use super::{
    Concrete, DisArm, Lax, MuProp, NeuralCv, Nvil, Objective, Plus, RebarCv, Reinforce, Relax,
    RelaxedObjective, Rloo, StraightThrough,
};
use crate::dist::Relaxed;
use crate::optim::Adam;
use rand_core::Rng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// Values that break naive arithmetic: overflow on a square (1e21), on a difference (3e38),
/// the extremes, subnormals, signed zeros, infinities and NaN.
pub(crate) const POOL: [f32; 20] = [
    0.0,
    -0.0,
    1e-40,
    -1e-45,
    f32::MIN_POSITIVE,
    1e19,
    -1e21,
    1e21,
    1e30,
    -1e30,
    3e38,
    -3e38,
    f32::MAX,
    f32::MIN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    -f32::NAN,
    1e-30,
    65504.0,
];

/// How hostile one call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Regime {
    /// Moderate values only, so the learnable state trains between attacks.
    Calm,
    /// Each value is hostile with probability 1/3.
    Mixed,
    /// Every value comes from [`POOL`] or a random power of ten.
    Hostile,
}

impl Regime {
    /// Calm half of the time, mixed a quarter, hostile a quarter.
    pub(crate) fn draw(rng: &mut Xoshiro128PlusPlus) -> Self {
        match rng.next_u32() % 4 {
            0 | 1 => Regime::Calm,
            2 => Regime::Mixed,
            _ => Regime::Hostile,
        }
    }
}

/// A uniform in `[-scale, scale]`.
fn moderate(rng: &mut Xoshiro128PlusPlus, scale: f32) -> f32 {
    let u = (rng.next_u32() >> 8) as f32 / 16_777_216.0;
    scale * (2.0 * u - 1.0)
}

/// One value of the regime: moderate in `[-scale, scale]`, or hostile.
pub(crate) fn value(rng: &mut Xoshiro128PlusPlus, regime: Regime, scale: f32) -> f32 {
    let hostile = match regime {
        Regime::Calm => false,
        Regime::Mixed => rng.next_u32().is_multiple_of(3),
        Regime::Hostile => true,
    };
    if !hostile {
        return moderate(rng, scale);
    }
    if rng.next_u32().is_multiple_of(2) {
        POOL[(rng.next_u32() % POOL.len() as u32) as usize]
    } else {
        // A random sign and power of ten over (almost) the whole f32 range.
        let e = (rng.next_u32() % 84) as i32 - 45;
        let m = 1.0 + moderate(rng, 0.5);
        let v = m * libm::powf(10.0, e as f32);
        if rng.next_u32().is_multiple_of(2) {
            v
        } else {
            -v
        }
    }
}

/// `D` values of the regime.
pub(crate) fn values<const D: usize>(
    rng: &mut Xoshiro128PlusPlus,
    regime: Regime,
    scale: f32,
) -> [f32; D] {
    core::array::from_fn(|_| value(rng, regime, scale))
}

/// An objective whose every value, gradient and Hessian-vector product is drawn from the
/// call's regime (moderate values are `f(b) = sum (b_i - t_i)^2`-sized).
#[derive(Debug, Clone)]
pub(crate) struct HostileObjective {
    pub rng: Xoshiro128PlusPlus,
    pub regime: Regime,
    /// Evaluations made (any kind).
    pub evals: u64,
}

impl<const D: usize> Objective<D> for HostileObjective {
    fn value(&mut self, b: &[f32; D]) -> f32 {
        self.evals += 1;
        let noise = value(&mut self.rng, self.regime, 1.0);
        b.iter().map(|x| (x - 0.3) * (x - 0.3)).sum::<f32>() + noise
    }
}

impl<const D: usize> RelaxedObjective<D> for HostileObjective {
    fn relaxed(&mut self, x: &[f32; D], grad: &mut [f32; D]) -> f32 {
        *grad = values(&mut self.rng, self.regime, 2.0);
        Objective::<D>::value(self, x)
    }

    fn hvp(&mut self, _x: &[f32; D], w: &[f32; D], hw: &mut [f32; D]) -> bool {
        if self.rng.next_u32().is_multiple_of(2) {
            return false;
        }
        let h: [f32; D] = values(&mut self.rng, self.regime, 2.0);
        for i in 0..D {
            hw[i] = h[i] * w[i];
        }
        true
    }
}

/// Everything a call may change, as `f32`s (flags as 0 or 1), in a fixed order.
pub(crate) trait State {
    fn state(&self, out: &mut Vec<f32>);
}

impl<const P: usize> State for Adam<P> {
    fn state(&self, out: &mut Vec<f32>) {
        let (m, v, b1, b2) = self.snapshot();
        out.extend_from_slice(m);
        out.extend_from_slice(v);
        out.extend_from_slice(&[b1, b2]);
    }
}

impl<Dist, const D: usize> State for RebarCv<Dist, D> {
    fn state(&self, out: &mut Vec<f32>) {
        out.extend_from_slice(&self.params);
        out.extend_from_slice(&self.grad);
        self.adam.state(out);
    }
}

impl<
        Dist,
        const D: usize,
        const C: usize,
        const I: usize,
        const H: usize,
        const L: usize,
        const P: usize,
    > State for NeuralCv<Dist, D, C, I, H, L, P>
{
    fn state(&self, out: &mut Vec<f32>) {
        out.extend_from_slice(self.net.params());
        out.extend_from_slice(&self.extra);
        out.extend_from_slice(&self.grad_net);
        out.extend_from_slice(&self.grad_extra);
        self.adam_net.state(out);
        self.adam_extra.state(out);
    }
}

impl<A: State, B: State> State for Plus<A, B> {
    fn state(&self, out: &mut Vec<f32>) {
        self.0.state(out);
        self.1.state(out);
    }
}

impl<Dist: Relaxed<D>, const D: usize, CV: State> State for Relax<Dist, D, CV> {
    fn state(&self, out: &mut Vec<f32>) {
        self.cv().state(out);
    }
}

impl<Dist, const D: usize> State for Reinforce<Dist, D> {
    fn state(&self, out: &mut Vec<f32>) {
        if let Some(m) = &self.baseline {
            out.extend_from_slice(&[m.value(), f32::from(u8::from(m.started))]);
        }
    }
}

impl<Dist: Relaxed<D>, const D: usize, const K: usize> State for Rloo<Dist, D, K> {
    fn state(&self, out: &mut Vec<f32>) {
        for term in self.per_sample() {
            out.extend_from_slice(term);
        }
    }
}

impl<Dist: Relaxed<D>, const D: usize> State for Nvil<Dist, D> {
    fn state(&self, out: &mut Vec<f32>) {
        out.push(self.baseline());
        self.adam.state(out);
    }
}

impl<const N: usize> State for MuProp<N> {
    fn state(&self, out: &mut Vec<f32>) {
        out.extend_from_slice(&self.params);
        self.adam.state(out);
    }
}

impl<const N: usize, const H: usize, const L: usize, const P: usize> State for Lax<N, H, L, P> {
    fn state(&self, out: &mut Vec<f32>) {
        out.extend_from_slice(self.net().params());
        out.extend_from_slice(&self.grad);
        self.adam.state(out);
    }
}

/// The stateless estimators.
macro_rules! stateless {
    ($($t:ty),*) => {$(
        impl<Dist, const D: usize> State for $t {
            fn state(&self, _out: &mut Vec<f32>) {}
        }
    )*};
}
stateless!(Concrete<Dist, D>, StraightThrough<Dist, D>);

impl<const N: usize> State for DisArm<N> {
    fn state(&self, _out: &mut Vec<f32>) {}
}

impl<const N: usize, const S: usize> State for super::Arms<N, S> {
    fn state(&self, _out: &mut Vec<f32>) {}
}

impl<Dist, const D: usize> State for super::ReinMax<Dist, D> {
    fn state(&self, _out: &mut Vec<f32>) {}
}

impl<const N: usize, const K: usize> State for super::DoubleCv<N, K> {
    fn state(&self, out: &mut Vec<f32>) {
        out.extend_from_slice(&self.alpha);
        self.adam.state(out);
    }
}

impl<const N: usize, const K: usize, const H: usize, const L: usize, const P: usize> State
    for super::Rodeo<N, K, H, L, P>
{
    fn state(&self, out: &mut Vec<f32>) {
        out.extend_from_slice(self.net.params());
        out.extend_from_slice(&self.coef);
        self.adam_net.state(out);
        self.adam_coef.state(out);
    }
}

impl<const D: usize, const K: usize, const N: usize> State for super::IndeCateR<D, K, N> {
    fn state(&self, _out: &mut Vec<f32>) {}
}

impl<const D: usize, const K: usize, const N: usize> State for super::CoupledDisArm<D, K, N> {
    fn state(&self, _out: &mut Vec<f32>) {}
}

impl<const D: usize, const K: usize, const N: usize, const S: usize> State
    for super::Carms<D, K, N, S>
{
    fn state(&self, _out: &mut Vec<f32>) {}
}

mod tests;
