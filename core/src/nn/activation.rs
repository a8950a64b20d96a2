//! Elementwise activations with their first and second derivatives.

/// Expands `$body` once per variant with `$act` bound to that constant variant, so the
/// scalar `eval`/`derivatives` inline to the variant's own arm inside a layer's loop.
macro_rules! per_variant {
    ($self:expr, $act:ident => $body:expr) => {
        match $self {
            Activation::Tanh => {
                let $act = Activation::Tanh;
                $body
            }
            Activation::Relu => {
                let $act = Activation::Relu;
                $body
            }
            Activation::Elu => {
                let $act = Activation::Elu;
                $body
            }
            Activation::Identity => {
                let $act = Activation::Identity;
                $body
            }
        }
    };
}

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

    /// First and second derivative at pre-activation `a` whose value `h = eval(a).0` is
    /// already known (a forward pass kept it): the same numbers as `eval(a).1` and
    /// `eval(a).2`, bit for bit, without computing `tanh` a second time.
    #[inline]
    pub fn derivatives(self, a: f32, h: f32) -> (f32, f32) {
        match self {
            Activation::Tanh => {
                let d = 1.0 - h * h;
                (d, -2.0 * h * d)
            }
            _ => {
                let (_, d, dd) = self.eval(a);
                (d, dd)
            }
        }
    }

    /// `eval(pre[j]).0` for a whole layer, the match on the activation made once per layer
    /// instead of once per unit (the same numbers as the scalar calls). Built in place:
    /// no zeroed array first.
    #[inline]
    pub(crate) fn eval_layer<const N: usize>(self, pre: &[f32; N]) -> [f32; N] {
        per_variant!(self, act => core::array::from_fn(|j| act.eval(pre[j]).0))
    }

    /// `(eval(pre[j]).0, eval(pre[j]).1)`, value and first derivative, for a whole layer.
    #[inline]
    pub(crate) fn eval_d_layer<const N: usize>(self, pre: &[f32; N]) -> [(f32, f32); N] {
        per_variant!(self, act => core::array::from_fn(|j| {
            let (h, d, _) = act.eval(pre[j]);
            (h, d)
        }))
    }

    /// `derivatives(pre[j], post[j]).0` for a whole layer.
    #[inline]
    pub(crate) fn d_layer<const N: usize>(self, pre: &[f32; N], post: &[f32; N]) -> [f32; N] {
        per_variant!(self, act => core::array::from_fn(|j| act.derivatives(pre[j], post[j]).0))
    }

    /// `derivatives(pre[j], post[j])` for a whole layer.
    #[inline]
    pub(crate) fn derivatives_layer<const N: usize>(
        self,
        pre: &[f32; N],
        post: &[f32; N],
    ) -> [(f32, f32); N] {
        per_variant!(self, act => core::array::from_fn(|j| act.derivatives(pre[j], post[j])))
    }
}
