//! Elementwise activations with their first and second derivatives.

/// A hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    /// `tanh(a)`.
    Tanh,
    /// `max(0, a)`; its second derivative is taken as 0 (it is 0 almost everywhere).
    Relu,
    /// `a` for `a > 0`, else `e^a - 1`.
    Elu,
    /// The identity (a linear network).
    Identity,
}

impl Activation {
    /// Value, first and second derivative at pre-activation `a`.
    #[inline]
    pub fn eval(self, a: f32) -> (f32, f32, f32) {
        match self {
            Activation::Tanh => {
                let h = libm::tanhf(a);
                let d = 1.0 - h * h;
                (h, d, -2.0 * h * d)
            }
            Activation::Relu => {
                if a > 0.0 {
                    (a, 1.0, 0.0)
                } else {
                    (0.0, 0.0, 0.0)
                }
            }
            Activation::Elu => {
                if a > 0.0 {
                    (a, 1.0, 0.0)
                } else {
                    let e = libm::expf(a);
                    (e - 1.0, e, e)
                }
            }
            Activation::Identity => (a, 1.0, 0.0),
        }
    }
}
