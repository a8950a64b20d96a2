//! Objectives from closures, without writing a struct.
//!
//! - A black box `f(b)`: any `FnMut(&[f32; D]) -> f32` already is an [`Objective`];
//!   [`from_fn`] only names that (and helps type inference). Enough for REINFORCE, RLOO,
//!   DisARM, NVIL, and RELAX with a [`NeuralCv`](crate::estimator::NeuralCv).
//! - A differentiable `f` (Concrete, straight-through, MuProp, and REBAR or RELAX with a
//!   [`RebarCv`](crate::estimator::RebarCv)): [`with_grad`] takes one closure
//!   `x -> (f(x), df/dx)` used both at hard samples `b` and at relaxed `x`;
//!   [`hard_and_grad`] takes a separate black box for `f(b)`. Either can add a
//!   Hessian-vector product ([`WithGrad::with_hvp`], [`HardAndGrad::with_hvp`]); without one
//!   REBAR takes a central difference (two more relaxed evaluations, same mean).
//!
//! ```
//! use relax_core::objective;
//! // f(x) = sum_i (x_i - 0.45)^2, with its gradient: usable by REBAR.
//! let mut f = objective::with_grad(|x: &[f32; 2]| {
//!     let d = [x[0] - 0.45, x[1] - 0.45];
//!     (d[0] * d[0] + d[1] * d[1], [2.0 * d[0], 2.0 * d[1]])
//! });
//! use relax_core::objective::{Objective, RelaxedObjective};
//! assert_eq!(f.value(&[1.0, 0.0]), 0.55 * 0.55 + 0.45 * 0.45);
//! let mut g = [0.0; 2];
//! f.relaxed(&[0.5, 0.5], &mut g);
//! assert!((g[0] - 0.1).abs() < 1e-6);
//! ```

pub use crate::estimator::{Objective, RelaxedObjective};

/// A black-box objective `f(b)` from a closure. Closures already implement [`Objective`];
/// this returns `f` itself and only fixes its signature, so the argument type may be left
/// to inference.
pub fn from_fn<const D: usize, F: FnMut(&[f32; D]) -> f32>(f: F) -> F {
    f
}

/// An optional Hessian-vector product `(d^2 f / dx^2) w` for [`RelaxedObjective::hvp`]:
/// [`NoHvp`], or a closure `FnMut(&[f32; D], &[f32; D]) -> [f32; D]` taking `(x, w)`.
pub trait Hvp<const D: usize> {
    /// Writes `(d^2 f / dx^2)(x) w` into `hw` and returns `true`, or returns `false` when
    /// there is none.
    fn hvp(&mut self, x: &[f32; D], w: &[f32; D], hw: &mut [f32; D]) -> bool;
}

/// No Hessian-vector product (the default of [`WithGrad`] and [`HardAndGrad`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoHvp;

impl<const D: usize> Hvp<D> for NoHvp {
    fn hvp(&mut self, _x: &[f32; D], _w: &[f32; D], _hw: &mut [f32; D]) -> bool {
        false
    }
}

impl<const D: usize, H: FnMut(&[f32; D], &[f32; D]) -> [f32; D]> Hvp<D> for H {
    fn hvp(&mut self, x: &[f32; D], w: &[f32; D], hw: &mut [f32; D]) -> bool {
        *hw = self(x, w);
        true
    }
}

/// A [`RelaxedObjective`] from one closure `x -> (f(x), df/dx)`, also used for `f(b)` at
/// hard samples. Made by [`with_grad`].
#[derive(Debug, Clone, Copy)]
pub struct WithGrad<G, H = NoHvp> {
    f: G,
    hvp: H,
}

/// A [`RelaxedObjective`] from `g(x) = (f(x), df/dx)`; `f(b)` is `g(b).0`.
pub fn with_grad<const D: usize, G: FnMut(&[f32; D]) -> (f32, [f32; D])>(g: G) -> WithGrad<G> {
    WithGrad { f: g, hvp: NoHvp }
}

impl<G> WithGrad<G, NoHvp> {
    /// Adds the Hessian-vector product `(x, w) -> (d^2 f / dx^2)(x) w`.
    pub fn with_hvp<H>(self, hvp: H) -> WithGrad<G, H> {
        WithGrad { f: self.f, hvp }
    }
}

impl<const D: usize, G: FnMut(&[f32; D]) -> (f32, [f32; D]), H> Objective<D> for WithGrad<G, H> {
    fn value(&mut self, b: &[f32; D]) -> f32 {
        (self.f)(b).0
    }
}

impl<const D: usize, G: FnMut(&[f32; D]) -> (f32, [f32; D]), H: Hvp<D>> RelaxedObjective<D>
    for WithGrad<G, H>
{
    fn relaxed(&mut self, x: &[f32; D], grad: &mut [f32; D]) -> f32 {
        let (v, g) = (self.f)(x);
        *grad = g;
        v
    }

    fn hvp(&mut self, x: &[f32; D], w: &[f32; D], hw: &mut [f32; D]) -> bool {
        self.hvp.hvp(x, w, hw)
    }
}

/// A [`RelaxedObjective`] from a black box `f(b)` and a separate relaxed
/// `x -> (f(x), df/dx)`. Made by [`hard_and_grad`].
#[derive(Debug, Clone, Copy)]
pub struct HardAndGrad<F, G, H = NoHvp> {
    hard: F,
    relaxed: G,
    hvp: H,
}

/// A [`RelaxedObjective`] whose `f(b)` is `hard(b)` and whose relaxed value and gradient
/// are `relaxed(x)`.
pub fn hard_and_grad<const D: usize, F, G>(hard: F, relaxed: G) -> HardAndGrad<F, G>
where
    F: FnMut(&[f32; D]) -> f32,
    G: FnMut(&[f32; D]) -> (f32, [f32; D]),
{
    HardAndGrad {
        hard,
        relaxed,
        hvp: NoHvp,
    }
}

impl<F, G> HardAndGrad<F, G, NoHvp> {
    /// Adds the Hessian-vector product `(x, w) -> (d^2 f / dx^2)(x) w`.
    pub fn with_hvp<H>(self, hvp: H) -> HardAndGrad<F, G, H> {
        HardAndGrad {
            hard: self.hard,
            relaxed: self.relaxed,
            hvp,
        }
    }
}

impl<const D: usize, F: FnMut(&[f32; D]) -> f32, G, H> Objective<D> for HardAndGrad<F, G, H> {
    fn value(&mut self, b: &[f32; D]) -> f32 {
        (self.hard)(b)
    }
}

impl<const D: usize, F, G, H> RelaxedObjective<D> for HardAndGrad<F, G, H>
where
    F: FnMut(&[f32; D]) -> f32,
    G: FnMut(&[f32; D]) -> (f32, [f32; D]),
    H: Hvp<D>,
{
    fn relaxed(&mut self, x: &[f32; D], grad: &mut [f32; D]) -> f32 {
        let (v, g) = (self.relaxed)(x);
        *grad = g;
        v
    }

    fn hvp(&mut self, x: &[f32; D], w: &[f32; D], hw: &mut [f32; D]) -> bool {
        self.hvp.hvp(x, w, hw)
    }
}

#[cfg(test)]
mod tests;
