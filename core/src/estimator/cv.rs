//! Learned control variates `c_phi(z)` and the exact gradient of the variance loss.
//!
//! The estimators ask a control variate for two things: its value and `z`-gradient, and the
//! `phi`-gradient of `Q = alpha c(z) + u . grad_z c(z)` for a scalar `alpha` and a direction `u`.
//! The single-sample variance loss `sum_j g_j^2` of RELAX has `phi`-gradient equal to a sum of
//! two such terms (at `z` and at `z~`), so exactly this is what training needs.

use super::{check_temperature, checked_relaxed, RelaxedObjective};
use crate::dist::Relaxed;
use crate::math::dot;
use crate::nn::{Mlp, MlpCache};
use crate::optim::{Adam, AdamConfig, AdamStep};
use crate::Error;
use core::marker::PhantomData;

/// A learned control variate `c_phi(z)` over `D` relaxed coordinates for objective `O`.
pub trait ControlVariate<const D: usize, O: ?Sized> {
    /// `c(z)`, writing `dc/dz` into `grad`.
    fn eval(&mut self, f: &mut O, z: &[f32; D], grad: &mut [f32; D]) -> Result<f32, Error>;

    /// Adds `d/dphi [alpha c(z) + u . dc/dz (z)]` to the accumulated variance gradient.
    fn accumulate(
        &mut self,
        f: &mut O,
        z: &[f32; D],
        alpha: f32,
        u: &[f32; D],
    ) -> Result<(), Error>;

    /// `Ok(())` exactly when [`ControlVariate::step`] would succeed now; changes nothing.
    /// A composite ([`Plus`]) checks every part before it steps any.
    fn check_step(&self) -> Result<(), Error>;

    /// One optimizer step on the accumulated gradient, which is then cleared. All or nothing:
    /// when the gradient, or the step it would take (a parameter or an optimizer moment),
    /// is not finite, it returns [`Error::NonFiniteGradient`], clears the gradient and leaves
    /// every parameter and optimizer moment bit-identical. Learned log-temperatures are then
    /// clamped to `[ln MIN_TEMPERATURE, ln MAX_TEMPERATURE]`.
    fn step(&mut self) -> Result<(), Error>;

    /// Clears the accumulated gradient.
    fn clear(&mut self);

    /// Relaxed objective evaluations made since the last call (then resets the counter).
    fn take_relaxed_evals(&mut self) -> u32 {
        0
    }
}

/// The smallest temperature a learned temperature can take. After every step a learned
/// log-temperature is clamped to `[ln MIN_TEMPERATURE, ln MAX_TEMPERATURE]`.
///
/// Why a floor: trained on the variance loss at a large step size (0.05 on the toy), a
/// learned temperature can collapse towards 0 (1e-5..1e-7 within 1e5 calls). The estimator
/// stays unbiased in exact arithmetic, but its mean then sits in rare spikes of size
/// `1/lambda`, and the `2^23`-point grid of the `f32` uniform noise adds a real bias. The
/// clamp is a projection: the temperature never changes the mean, so the projected step is
/// still a valid variance-reduction step, and the value and its gradient always use the
/// clamped temperature. At the paper's defaults it never binds.
pub const MIN_TEMPERATURE: f32 = 0.01;

/// The largest temperature a learned temperature can take (see [`MIN_TEMPERATURE`]).
pub const MAX_TEMPERATURE: f32 = 100.0;

/// A learned log-temperature projected onto `[ln MIN_TEMPERATURE, ln MAX_TEMPERATURE]`.
fn clamp_log_temperature(t: f32) -> f32 {
    t.clamp(libm::logf(MIN_TEMPERATURE), libm::logf(MAX_TEMPERATURE))
}

/// A learned temperature must start inside `[MIN_TEMPERATURE, MAX_TEMPERATURE]`.
fn check_learned_temperature(t: f32) -> Result<(), Error> {
    check_temperature(t)?;
    if (MIN_TEMPERATURE..=MAX_TEMPERATURE).contains(&t) {
        Ok(())
    } else {
        Err(Error::InvalidTemperature)
    }
}

/// REBAR's control variate `c(z) = eta f(sigma_lambda(z))` with learnable `eta` (init 1) and
/// log-temperature (init `log 0.5`), both trained by Adam on the variance loss.
///
/// The `eta`-gradient is exact. The log-temperature gradient needs `f`'s Hessian: exact when the
/// objective provides [`RelaxedObjective::hvp`], otherwise a central difference in
/// log-temperature with step [`RebarCv::fd_step`] (two more relaxed evaluations per point).
///
/// The learned temperature stays in `[MIN_TEMPERATURE, MAX_TEMPERATURE]` (clamped after
/// every step, see [`MIN_TEMPERATURE`]); a step that would make `eta`, the log-temperature or
/// an Adam moment non-finite is refused and changes nothing ([`ControlVariate::step`]).
#[derive(Debug, Clone)]
pub struct RebarCv<Dist, const D: usize> {
    /// `[eta, log lambda]`.
    pub(crate) params: [f32; 2],
    pub(crate) grad: [f32; 2],
    pub(crate) adam: Adam<2>,
    fd_step: f32,
    evals: u32,
    _dist: PhantomData<Dist>,
}

impl<Dist: Relaxed<D>, const D: usize> RebarCv<Dist, D> {
    /// `eta` and temperature `lambda`, trained by Adam with `config`. Refuses a temperature
    /// outside `[MIN_TEMPERATURE, MAX_TEMPERATURE]` ([`Error::InvalidTemperature`]) and a
    /// non-finite `eta`.
    pub fn new(eta: f32, temperature: f32, config: AdamConfig) -> Result<Self, Error> {
        check_learned_temperature(temperature)?;
        if !eta.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        Ok(Self {
            params: [eta, libm::logf(temperature)],
            grad: [0.0; 2],
            adam: Adam::new(config)?,
            fd_step: 1e-2,
            evals: 0,
            _dist: PhantomData,
        })
    }

    /// The paper's defaults: `eta = 1`, `lambda = 0.5`, Adam with `lr`.
    pub fn paper_default(lr: f32) -> Result<Self, Error> {
        Self::new(1.0, 0.5, AdamConfig::new(lr))
    }

    /// `eta`.
    pub fn eta(&self) -> f32 {
        self.params[0]
    }

    /// `lambda`.
    pub fn temperature(&self) -> f32 {
        libm::expf(self.params[1])
    }

    /// The central-difference step in log-temperature used without a Hessian-vector product.
    pub fn fd_step(&self) -> f32 {
        self.fd_step
    }

    /// `q(t) = alpha f(x) + (J_x u) . grad f(x)` at log-temperature `t`.
    fn q<O: RelaxedObjective<D> + ?Sized>(
        &mut self,
        f: &mut O,
        z: &[f32; D],
        t: f32,
        alpha: f32,
        u: &[f32; D],
    ) -> Result<f32, Error> {
        let lam = libm::expf(t);
        let x = Dist::relax(z, lam);
        let (fx, gx) = checked_relaxed(f, &x)?;
        self.evals += 1;
        let w = Dist::relax_jvp(&x, lam, u);
        Ok(alpha * fx + dot(&w, &gx))
    }
}

impl<Dist: Relaxed<D>, const D: usize, O: RelaxedObjective<D> + ?Sized> ControlVariate<D, O>
    for RebarCv<Dist, D>
{
    fn eval(&mut self, f: &mut O, z: &[f32; D], grad: &mut [f32; D]) -> Result<f32, Error> {
        let lam = self.temperature();
        let x = Dist::relax(z, lam);
        let (fx, gx) = checked_relaxed(f, &x)?;
        self.evals += 1;
        let eta = self.params[0];
        let gz = Dist::relax_jvp(&x, lam, &gx);
        for i in 0..D {
            grad[i] = eta * gz[i];
        }
        Ok(eta * fx)
    }

    fn accumulate(
        &mut self,
        f: &mut O,
        z: &[f32; D],
        alpha: f32,
        u: &[f32; D],
    ) -> Result<(), Error> {
        let (eta, t) = (self.params[0], self.params[1]);
        let lam = libm::expf(t);
        let x = Dist::relax(z, lam);
        let (fx, gx) = checked_relaxed(f, &x)?;
        self.evals += 1;
        let w = Dist::relax_jvp(&x, lam, u);
        let d_eta = alpha * fx + dot(&w, &gx);
        let mut hw = [0.0; D];
        let d_t = if f.hvp(&x, &w, &mut hw) {
            let dx = Dist::relax_dlogtemp(z, &x, lam);
            let dw = Dist::relax_jvp_dlogtemp(z, &x, lam, u);
            let mut s = 0.0;
            for i in 0..D {
                s += (alpha * gx[i] + hw[i]) * dx[i] + gx[i] * dw[i];
            }
            eta * s
        } else {
            let h = self.fd_step;
            let qp = self.q(f, z, t + h, alpha, u)?;
            let qm = self.q(f, z, t - h, alpha, u)?;
            eta * (qp - qm) / (2.0 * h)
        };
        self.grad[0] += d_eta;
        self.grad[1] += d_t;
        Ok(())
    }

    fn check_step(&self) -> Result<(), Error> {
        self.adam.check_step(&self.params, &self.grad)
    }

    fn step(&mut self) -> Result<(), Error> {
        let g = self.grad;
        self.grad = [0.0; 2];
        self.adam.step(&mut self.params, &g)?;
        self.params[1] = clamp_log_temperature(self.params[1]);
        Ok(())
    }

    fn clear(&mut self) {
        self.grad = [0.0; 2];
    }

    fn take_relaxed_evals(&mut self) -> u32 {
        core::mem::take(&mut self.evals)
    }
}

/// What the network of a [`NeuralCv`] sees of `z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CvInput {
    /// `z` itself (the VAE's `r_rho`, which sees the unsquashed logistic sample).
    Logits,
    /// `sigma_lambda(z)` with a learned temperature (the discrete-RL control variate).
    Relaxed,
    /// `2 sigma_lambda(z) - 1` with a learned temperature (the paper's toy control variate).
    RelaxedSigned,
}

/// A neural control variate `c(z) = s * m([context, input(z)])`: an [`Mlp`] with one output,
/// a learned output scale `s` and, for relaxed inputs, a learned log-temperature.
///
/// `C` leading inputs are a context the caller sets ([`NeuralCv::set_context`]), for example
/// the RL state; `I` must equal `C + D` (checked at compile time).
///
/// A learned temperature stays in `[MIN_TEMPERATURE, MAX_TEMPERATURE]` (clamped after every
/// step, see [`MIN_TEMPERATURE`]); a step that would make a weight, the scale, the
/// log-temperature or an Adam moment non-finite is refused and changes nothing
/// ([`NeuralCv::step`]).
///
/// `M` (default 2) forward passes are remembered: RELAX evaluates `c` at `z` and `z~` and
/// then takes the variance-gradient at the same two points with the same parameters, so
/// each point's forward pass (its `tanh`s) runs once. The numbers are the same bits with
/// any `M`; `M = 0` saves the entries' memory (`M * (I + 2 L H + 1)` floats) for a caller
/// whose points never repeat between steps (the RL learner, [`crate::rl::RelaxLearner`]).
#[derive(Debug, Clone)]
pub struct NeuralCv<
    Dist,
    const D: usize,
    const C: usize,
    const I: usize,
    const H: usize,
    const L: usize,
    const P: usize,
    const M: usize = 2,
> {
    pub(crate) net: Mlp<I, H, 1, L, P>,
    /// `[scale, log lambda]`.
    pub(crate) extra: [f32; 2],
    input: CvInput,
    context: [f32; C],
    pub(crate) grad_net: [f32; P],
    pub(crate) grad_extra: [f32; 2],
    pub(crate) adam_net: Adam<P>,
    pub(crate) adam_extra: Adam<2>,
    train_temperature: bool,
    /// The network's last forward passes, shared by `eval` and `accumulate` at one point.
    /// Every change of the network's parameters must call [`ForwardMemo::invalidate`].
    memo: ForwardMemo<I, H, L, M>,
    _dist: PhantomData<Dist>,
}

/// One forward pass of a [`NeuralCv`]'s network: its input and activations.
#[derive(Debug, Clone)]
struct Forward<const I: usize, const H: usize, const L: usize> {
    input: [f32; I],
    cache: MlpCache<H, L>,
    out: f32,
    /// Larger is newer (the entry with the smallest goes first).
    age: u32,
}

/// The last two forward passes of a network (RELAX evaluates `c` at `z` and `z~` and then
/// accumulates the variance gradient at the same two points with the same parameters), so
/// each point's forward pass runs once. A cache, never a result: a hit returns the same
/// bits the pass would compute, because the key is the input's bits and the entries are
/// dropped whenever the parameters change. A clone starts empty.
struct ForwardMemo<const I: usize, const H: usize, const L: usize, const M: usize> {
    /// The entries (none when `M` is 0: the memo is off and takes no space).
    slots: [Option<Forward<I, H, L>>; M],
}

/// Shows the memo's size, not its entries: they are a cache, not state (a refused
/// call may leave a remembered pass behind and still "change nothing").
impl<const I: usize, const H: usize, const L: usize, const M: usize> core::fmt::Debug
    for ForwardMemo<I, H, L, M>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ForwardMemo").field("slots", &M).finish()
    }
}

impl<const I: usize, const H: usize, const L: usize, const M: usize> Clone
    for ForwardMemo<I, H, L, M>
{
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<const I: usize, const H: usize, const L: usize, const M: usize> Default
    for ForwardMemo<I, H, L, M>
{
    fn default() -> Self {
        Self {
            slots: core::array::from_fn(|_| None),
        }
    }
}

impl<const I: usize, const H: usize, const L: usize, const M: usize> ForwardMemo<I, H, L, M> {
    /// The remembered forward pass at `input`, if any.
    fn lookup(&self, input: &[f32; I]) -> Option<(&MlpCache<H, L>, f32)> {
        let f = self.slots.iter().flatten().find(|f| {
            f.input
                .iter()
                .zip(input)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        })?;
        Some((&f.cache, f.out))
    }

    /// Remembers the forward pass at `input` in place of the oldest entry.
    fn store(&mut self, input: &[f32; I], cache: MlpCache<H, L>, out: f32) {
        let newest = self.slots.iter().flatten().map(|f| f.age).max();
        let age = newest.map_or(0, |a| a.wrapping_add(1));
        let oldest = self
            .slots
            .iter_mut()
            // An empty slot (None) sorts first.
            .min_by_key(|f| f.as_ref().map(|f| f.age));
        if let Some(slot) = oldest {
            *slot = Some(Forward {
                input: *input,
                cache,
                out,
                age,
            });
        }
    }

    /// Forgets every pass (the parameters changed).
    fn invalidate(&mut self) {
        self.slots = core::array::from_fn(|_| None);
    }
}

impl<
        Dist: Relaxed<D>,
        const D: usize,
        const C: usize,
        const I: usize,
        const H: usize,
        const L: usize,
        const P: usize,
        const M: usize,
    > NeuralCv<Dist, D, C, I, H, L, P, M>
{
    const SIZES_OK: () = assert!(I == C + D, "NeuralCv: I must equal C + D");

    /// A control variate around `net` with output scale `scale`, temperature `temperature`
    /// (unused for [`CvInput::Logits`]), and one Adam configuration for all its parameters.
    /// Refuses a non-finite `scale`, a temperature that is not finite and > 0, and, for the
    /// relaxed inputs (whose temperature is learned), one outside
    /// `[MIN_TEMPERATURE, MAX_TEMPERATURE]` ([`Error::InvalidTemperature`]).
    pub fn new(
        net: Mlp<I, H, 1, L, P>,
        input: CvInput,
        scale: f32,
        temperature: f32,
        config: AdamConfig,
    ) -> Result<Self, Error> {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_OK;
        if input == CvInput::Logits {
            check_temperature(temperature)?;
        } else {
            check_learned_temperature(temperature)?;
        }
        if !scale.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        Ok(Self {
            net,
            extra: [scale, libm::logf(temperature)],
            input,
            context: [0.0; C],
            grad_net: [0.0; P],
            grad_extra: [0.0; 2],
            adam_net: Adam::new(config)?,
            adam_extra: Adam::new(config)?,
            train_temperature: input != CvInput::Logits,
            memo: ForwardMemo::default(),
            _dist: PhantomData,
        })
    }

    /// Sets the context inputs (e.g. the state in RL); refuses non-finite values.
    pub fn set_context(&mut self, context: &[f32; C]) -> Result<(), Error> {
        crate::check_finite(context, Error::NonFiniteInput)?;
        self.context = *context;
        Ok(())
    }

    /// The network.
    pub fn net(&self) -> &Mlp<I, H, 1, L, P> {
        &self.net
    }

    /// The output scale `s`.
    pub fn scale(&self) -> f32 {
        self.extra[0]
    }

    /// The input temperature `lambda`.
    pub fn temperature(&self) -> f32 {
        libm::expf(self.extra[1])
    }

    /// Changes the step size of both optimizers.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), Error> {
        // set_lr validates before it changes anything, so both succeed or neither does.
        self.adam_net.set_lr(lr)?;
        self.adam_extra.set_lr(lr)
    }

    /// The network input for `z` at temperature `lam`, plus the affine factor `a` of
    /// `a sigma + b`.
    fn input_of(&self, z: &[f32; D], lam: f32) -> ([f32; I], [f32; D], f32) {
        let mut inp = [0.0; I];
        inp[..C].copy_from_slice(&self.context);
        let (x, a) = match self.input {
            CvInput::Logits => (*z, 1.0),
            CvInput::Relaxed => (Dist::relax(z, lam), 1.0),
            CvInput::RelaxedSigned => (Dist::relax(z, lam), 2.0),
        };
        for i in 0..D {
            inp[C + i] = match self.input {
                CvInput::Logits => z[i],
                CvInput::Relaxed => x[i],
                CvInput::RelaxedSigned => 2.0 * x[i] - 1.0,
            };
        }
        (inp, x, a)
    }

    /// `J_in u` restricted to the `D` relaxed inputs (the context does not depend on `z`).
    fn input_jvp(&self, x: &[f32; D], lam: f32, a: f32, u: &[f32; D]) -> [f32; D] {
        match self.input {
            CvInput::Logits => *u,
            _ => {
                let j = Dist::relax_jvp(x, lam, u);
                core::array::from_fn(|i| a * j[i])
            }
        }
    }

    /// Value of `c` at `z` (no gradient), for plots and diagnostics.
    pub fn value(&self, z: &[f32; D]) -> f32 {
        let (inp, _, _) = self.input_of(z, self.temperature());
        self.extra[0] * self.net.forward(&inp)[0]
    }
}

impl<
        Dist: Relaxed<D>,
        const D: usize,
        const C: usize,
        const I: usize,
        const H: usize,
        const L: usize,
        const P: usize,
        const M: usize,
    > NeuralCv<Dist, D, C, I, H, L, P, M>
{
    /// `c(z)`, writing `dc/dz` into `grad`. A network control variate needs no objective:
    /// this is [`ControlVariate::eval`] without it.
    pub fn eval(&self, z: &[f32; D], grad: &mut [f32; D]) -> f32 {
        let lam = self.temperature();
        let (inp, x, a) = self.input_of(z, lam);
        match self.memo.lookup(&inp) {
            Some((cache, m)) => self.eval_at(cache, m, &x, lam, a, grad),
            None => {
                let mut cache = MlpCache::default();
                let m = self.net.forward_cached(&inp, &mut cache)[0];
                self.eval_at(&cache, m, &x, lam, a, grad)
            }
        }
    }

    /// [`NeuralCv::eval`], remembering its forward pass for [`NeuralCv::accumulate`] at
    /// the same point (what [`ControlVariate::eval`] calls).
    fn eval_remember(&mut self, z: &[f32; D], grad: &mut [f32; D]) -> f32 {
        let lam = self.temperature();
        let (inp, x, a) = self.input_of(z, lam);
        match self.memo.lookup(&inp) {
            Some((cache, m)) => self.eval_at(cache, m, &x, lam, a, grad),
            None => {
                let mut cache = MlpCache::default();
                let m = self.net.forward_cached(&inp, &mut cache)[0];
                let c = self.eval_at(&cache, m, &x, lam, a, grad);
                if M > 0 {
                    self.memo.store(&inp, cache, m);
                }
                c
            }
        }
    }

    /// `c(z)` and `dc/dz` from the network's forward pass (`cache`, output `m`) at `z`:
    /// value_and_input_grad's numbers.
    fn eval_at(
        &self,
        cache: &MlpCache<H, L>,
        m: f32,
        x: &[f32; D],
        lam: f32,
        a: f32,
        grad: &mut [f32; D],
    ) -> f32 {
        let gin = self.net.input_grad(cache, &[1.0]);
        let s = self.extra[0];
        let gd: [f32; D] = core::array::from_fn(|i| gin[C + i]);
        // J is symmetric, so the vjp through the relaxation is the jvp.
        let gz = self.input_jvp(x, lam, a, &gd);
        for i in 0..D {
            grad[i] = s * gz[i];
        }
        s * m
    }

    /// Adds `d/dphi [alpha c(z) + u . dc/dz (z)]` to the accumulated variance gradient
    /// ([`ControlVariate::accumulate`] without the objective).
    pub fn accumulate(&mut self, z: &[f32; D], alpha: f32, u: &[f32; D]) {
        let lam = self.temperature();
        let (inp, x, a) = self.input_of(z, lam);
        let s = self.extra[0];
        let wd = self.input_jvp(&x, lam, a, u);
        let mut w = [0.0; I];
        w[C..].copy_from_slice(&wd);
        // Q = s [alpha m(in) + w . grad m(in)]
        let (alpha_s, gamma_s) = ([s * alpha], [s]);
        // The input gradient (for the temperature's gradient) at the same forward pass.
        let train_temperature = self.train_temperature;
        let (in_bar, m, m_dot, gin) = match self.memo.lookup(&inp) {
            Some((cache, _)) => {
                let (in_bar, m, m_dot) = self.net.mixed_backward_at(
                    &inp,
                    &w,
                    &alpha_s,
                    &gamma_s,
                    &mut self.grad_net,
                    cache,
                );
                let gin = train_temperature.then(|| self.net.input_grad(cache, &[1.0]));
                (in_bar, m, m_dot, gin)
            }
            None => {
                let mut cache = MlpCache::default();
                let (in_bar, m, m_dot) = self.net.mixed_backward_cached(
                    &inp,
                    &w,
                    &alpha_s,
                    &gamma_s,
                    &mut self.grad_net,
                    &mut cache,
                );
                let gin = train_temperature.then(|| self.net.input_grad(&cache, &[1.0]));
                if M > 0 {
                    self.memo.store(&inp, cache, m[0]);
                }
                (in_bar, m, m_dot, gin)
            }
        };
        self.grad_extra[0] += alpha * m[0] + m_dot[0];
        if let Some(gin) = gin {
            let dx = Dist::relax_dlogtemp(z, &x, lam);
            let dw = Dist::relax_jvp_dlogtemp(z, &x, lam, u);
            let mut d_t = 0.0;
            for i in 0..D {
                d_t += in_bar[C + i] * a * dx[i] + s * gin[C + i] * a * dw[i];
            }
            self.grad_extra[1] += d_t;
        }
    }

    /// `Ok(())` exactly when [`NeuralCv::step`] would succeed now; changes nothing.
    pub fn check_step(&self) -> Result<(), Error> {
        crate::check_finite(&self.grad_net, Error::NonFiniteGradient)?;
        crate::check_finite(&self.grad_extra, Error::NonFiniteGradient)?;
        self.adam_net
            .check_step(self.net.params(), &self.grad_net)?;
        self.adam_extra.check_step(&self.extra, &self.grad_extra)
    }

    /// One Adam step on the accumulated gradient, which is then cleared. All or nothing:
    /// both optimizers (the network's, and the scale's and log-temperature's) are checked
    /// before either steps; on [`Error::NonFiniteGradient`] (a non-finite gradient, or a step
    /// that would make a parameter or a moment non-finite) the gradient is cleared and every
    /// parameter and moment is left bit-identical. A learned log-temperature is then clamped
    /// to `[ln MIN_TEMPERATURE, ln MAX_TEMPERATURE]`.
    pub fn step(&mut self) -> Result<(), Error> {
        match self.prepare_step() {
            Ok(step) => {
                self.commit_step(&step);
                Ok(())
            }
            Err(e) => {
                self.clear();
                Err(e)
            }
        }
    }

    /// Both optimizers' steps on the accumulated gradient, computed and checked as
    /// [`NeuralCv::check_step`] checks them, not applied; changes nothing.
    pub(crate) fn prepare_step(&self) -> Result<(AdamStep<P>, AdamStep<2>), Error> {
        // The gradients first, so the error is the one check_step gives.
        crate::check_finite(&self.grad_net, Error::NonFiniteGradient)?;
        crate::check_finite(&self.grad_extra, Error::NonFiniteGradient)?;
        let net = self.adam_net.prepare(self.net.params(), &self.grad_net)?;
        let extra = self.adam_extra.prepare(&self.extra, &self.grad_extra)?;
        Ok((net, extra))
    }

    /// [`NeuralCv::step`] after [`NeuralCv::check_step`] returned `Ok(())` and nothing
    /// changed since: both optimizers step without a second check (and without
    /// [`NeuralCv::prepare_step`]'s buffers).
    pub(crate) fn step_checked(&mut self) {
        self.memo.invalidate();
        self.adam_net
            .step_checked(self.net.params_mut(), &self.grad_net);
        self.adam_extra
            .step_checked(&mut self.extra, &self.grad_extra);
        self.clear();
        if self.train_temperature {
            self.extra[1] = clamp_log_temperature(self.extra[1]);
        }
    }

    /// Forgets the remembered forward passes: for tests that change the network's
    /// parameters directly.
    #[cfg(test)]
    pub(crate) fn invalidate_memo(&mut self) {
        self.memo.invalidate();
    }

    /// Applies a step [`NeuralCv::prepare_step`] made (nothing may change in between) and
    /// clears the gradient.
    pub(crate) fn commit_step(&mut self, step: &(AdamStep<P>, AdamStep<2>)) {
        self.memo.invalidate();
        self.adam_net.commit(self.net.params_mut(), &step.0);
        self.adam_extra.commit(&mut self.extra, &step.1);
        self.clear();
        if self.train_temperature {
            self.extra[1] = clamp_log_temperature(self.extra[1]);
        }
    }

    /// Clears the accumulated gradient.
    pub fn clear(&mut self) {
        self.grad_net = [0.0; P];
        self.grad_extra = [0.0; 2];
    }
}

/// A network control variate ignores the objective: every `O` gets the inherent methods.
impl<
        Dist: Relaxed<D>,
        O: ?Sized,
        const D: usize,
        const C: usize,
        const I: usize,
        const H: usize,
        const L: usize,
        const P: usize,
        const M: usize,
    > ControlVariate<D, O> for NeuralCv<Dist, D, C, I, H, L, P, M>
{
    fn eval(&mut self, _f: &mut O, z: &[f32; D], grad: &mut [f32; D]) -> Result<f32, Error> {
        Ok(Self::eval_remember(self, z, grad))
    }

    fn accumulate(
        &mut self,
        _f: &mut O,
        z: &[f32; D],
        alpha: f32,
        u: &[f32; D],
    ) -> Result<(), Error> {
        Self::accumulate(self, z, alpha, u);
        Ok(())
    }

    fn check_step(&self) -> Result<(), Error> {
        Self::check_step(self)
    }

    fn step(&mut self) -> Result<(), Error> {
        Self::step(self)
    }

    fn clear(&mut self) {
        Self::clear(self)
    }
}

/// The sum of two control variates, `c = a + b` (RELAX's `eta f(sigma_lambda(z)) + r_rho(z)`).
/// Its step is all or nothing: both halves are checked ([`ControlVariate::check_step`])
/// before either steps.
#[derive(Debug, Clone)]
pub struct Plus<A, B>(pub A, pub B);

impl<const D: usize, O: ?Sized, A: ControlVariate<D, O>, B: ControlVariate<D, O>>
    ControlVariate<D, O> for Plus<A, B>
{
    fn eval(&mut self, f: &mut O, z: &[f32; D], grad: &mut [f32; D]) -> Result<f32, Error> {
        let mut g2 = [0.0; D];
        let v = self.0.eval(f, z, grad)? + self.1.eval(f, z, &mut g2)?;
        for i in 0..D {
            grad[i] += g2[i];
        }
        Ok(v)
    }

    fn accumulate(
        &mut self,
        f: &mut O,
        z: &[f32; D],
        alpha: f32,
        u: &[f32; D],
    ) -> Result<(), Error> {
        self.0.accumulate(f, z, alpha, u)?;
        self.1.accumulate(f, z, alpha, u)
    }

    fn check_step(&self) -> Result<(), Error> {
        self.0.check_step()?;
        self.1.check_step()
    }

    /// Both halves are checked before either steps, so a refused step changes neither.
    fn step(&mut self) -> Result<(), Error> {
        let result = self
            .check_step()
            .and_then(|()| self.0.step())
            .and_then(|()| self.1.step());
        if result.is_err() {
            self.clear();
        }
        result
    }

    fn clear(&mut self) {
        self.0.clear();
        self.1.clear();
    }

    fn take_relaxed_evals(&mut self) -> u32 {
        self.0.take_relaxed_evals() + self.1.take_relaxed_evals()
    }
}

#[cfg(test)]
mod tests;
