//! ARMS, Double CV and RODEO for the single-layer models: `K` samples per example (the rows
//! of the batch repeated `K` times, as RLOO), combined per example by the core
//! ([`arms_combine`], [`double_cv_combine`], [`rodeo_combine`]).
//!
//! ARMS draws the `K` samples of an example together, antithetically (the core's
//! [`arms_draw`]: the Dirichlet copula; `K = 2` is DisARM). Double CV takes the gradient of
//! `f` at each hard sample, `df/db`, which the model's backward pass gives at `b` (the
//! relaxed objective at a vertex, `log q` included), and learns its `alpha` per layer on the
//! batch's mean `|g|^2` with the control-variate Adam. RODEO takes the same `df/db` and
//! learns its `(alpha, beta)` and its network the same way: once per minibatch, on the batch
//! mean of `d|g|^2/d(alpha, beta, weights)`, all kept in the control-variate parameters (so
//! the checkpoint holds them and their Adam state). Its network: 2 inputs, [`RODEO_HIDDEN`]
//! (the registry's 10) ELU units, 2 outputs. The RODEO authors' code has 100 LeakyReLU(0.3)
//! units; the core has no LeakyReLU, and ELU is the closest it has: the tanh of the toy and
//! the bench would saturate here, where the network's second input is `f`, the negative
//! ELBO (about 100 to 200), leaving about 98% of the units with a derivative below 1e-3 at
//! initialisation (weights uniform in +-sqrt(3/2)): a nearly constant `h`, whose Stein
//! control variates are nearly zero, and no gradient to learn from (RLOO, in effect). 100
//! units would cost ten times the
//! `K (K-1) (N+1)` network evaluations per example, more than the VAE's own passes here.

use super::*;
use crate::estimators::RODEO_HIDDEN;
use relax_core::estimator::{arms_combine, arms_draw, double_cv_combine, rodeo_combine};
use relax_core::nn::{mlp_param_count, Activation, Mlp};

/// The largest `K` of ARMS, Double CV and RODEO.
pub const MAX_SAMPLES: usize = 4;

/// The hidden units' activation of RODEO's control-variate network (see the module docs).
pub const RODEO_ACTIVATION: Activation = Activation::Elu;
/// Parameters of RODEO's control-variate network.
pub const RODEO_PARAMS: usize = mlp_param_count(2, RODEO_HIDDEN, 2, 1);
/// RODEO's control-variate network: `(nabla . (y - b), f) -> (h_0, h_1)`.
pub type RodeoNet = Mlp<2, RODEO_HIDDEN, 2, 1, RODEO_PARAMS>;

/// `$body` with a const `$k` equal to the runtime `K` (2 to [`MAX_SAMPLES`]).
macro_rules! with_k {
    ($k_val:expr, |$k:ident| -> $t:ty $body:block) => {
        match $k_val {
            2 => {
                const $k: usize = 2;
                let r: $t = $body;
                r
            }
            3 => {
                const $k: usize = 3;
                let r: $t = $body;
                r
            }
            4 => {
                const $k: usize = 4;
                let r: $t = $body;
                r
            }
            other => {
                let r: $t =
                    Err(format!("{other} samples: ARMS, Double CV and RODEO take 2 to 4").into());
                r
            }
        }
    };
}

impl<const N: usize> VaeEstimator<N> {
    /// ARMS' draw for the single layer: the `K` antithetic samples of each example `r` go to
    /// rows `s * rows + r`; then `f` of every row.
    pub(super) fn sample_arms<R: Rng + ?Sized>(
        &mut self,
        model: &Vae,
        theta: &[f32],
        rows: usize,
        reps: usize,
        rng: &mut R,
    ) -> Result<()> {
        let b = rows * reps;
        model.encode_first(theta, &mut self.hard, b);
        for r in 0..rows {
            let l = *row::<N>(&self.hard.l[0], r);
            let mut bs = [[0.0f32; N]; MAX_SAMPLES];
            with_k!(reps, |K| -> Result<()> {
                let drawn = arms_draw::<N, K, R>(&l, rng).map_err(|e| format!("ARMS: {e}"))?;
                bs[..K].copy_from_slice(&drawn);
                Ok(())
            })?;
            for (s, bk) in bs[..reps].iter().enumerate() {
                let i = s * rows + r;
                self.hard.s[0][i * N..(i + 1) * N].copy_from_slice(bk);
                self.draws[0][i].b = *bk;
            }
        }
        model.forward(theta, &mut self.hard, b, model.layers, Chain::Hard);
        if let Some(bad) = self.hard.f[..b].iter().find(|v| !v.is_finite()) {
            return Err(format!("non-finite ELBO {bad}").into());
        }
        Ok(())
    }

    /// The `K` samples and values of example `r`.
    fn example(
        &self,
        r: usize,
        rows: usize,
        reps: usize,
    ) -> ([[f32; N]; MAX_SAMPLES], [f32; MAX_SAMPLES]) {
        let mut bs = [[0.0f32; N]; MAX_SAMPLES];
        let mut fs = [0.0f32; MAX_SAMPLES];
        for s in 0..reps {
            let i = s * rows + r;
            bs[s] = self.draws[0][i].b;
            fs[s] = self.hard.f[i];
        }
        (bs, fs)
    }

    /// The gradients `df/db` at the `K` samples of example `r`: the backward pass leaves
    /// them in `hard.ds[0]` times `1 / b` (its weights), `b` the rows of the batch.
    fn example_grads(&self, r: usize, rows: usize, reps: usize, b: f32) -> [[f32; N]; MAX_SAMPLES] {
        let mut grads = [[0.0f32; N]; MAX_SAMPLES];
        for (s, gs) in grads[..reps].iter_mut().enumerate() {
            let i = s * rows + r;
            for (g, &d) in gs.iter_mut().zip(&self.hard.ds[0][i * N..(i + 1) * N]) {
                *g = d * b;
            }
        }
        grads
    }

    /// ARMS: each example's gradient, shared by its `K` rows (each `1 / (rows K)` of it).
    pub(super) fn arms(&mut self, rows: usize, reps: usize) -> Result<()> {
        let inv = 1.0 / (rows * reps) as f32;
        for r in 0..rows {
            let (bs, fs) = self.example(r, rows, reps);
            let l = *row::<N>(&self.hard.l[0], r);
            let g = with_k!(reps, |K| -> Result<[f32; N]> {
                let bk: &[[f32; N]; K] = bs[..K].try_into().expect("K samples");
                let fk: &[f32; K] = fs[..K].try_into().expect("K values");
                arms_combine::<N, K>(&l, bk, fk).map_err(|e| format!("ARMS: {e}").into())
            })?;
            for s in 0..reps {
                let i = s * rows + r;
                add_scaled(&mut self.g[0][i * N..(i + 1) * N], &g, inv);
            }
        }
        Ok(())
    }

    /// Double CV: each example's gradient from its samples, values and `df/db` (left in
    /// `hard.ds[0]` by the backward pass, times `1 / b`); accumulates `d|g|^2/d alpha` (mean
    /// over examples) and returns the mean `|g|^2`.
    pub(super) fn double_cv(&mut self, rows: usize, reps: usize, train: bool) -> Result<f64> {
        let b = (rows * reps) as f32;
        let inv = 1.0 / b;
        let o = self.cv.eta[0];
        let alpha = self.cv.phi[o];
        let mut loss = 0.0f64;
        for r in 0..rows {
            let (bs, fs) = self.example(r, rows, reps);
            let l = *row::<N>(&self.hard.l[0], r);
            let grads = self.example_grads(r, rows, reps, b);
            let step = with_k!(
                reps,
                |K| -> Result<relax_core::estimator::DoubleCvStep<N>> {
                    let bk: &[[f32; N]; K] = bs[..K].try_into().expect("K samples");
                    let fk: &[f32; K] = fs[..K].try_into().expect("K values");
                    let gk: &[[f32; N]; K] = grads[..K].try_into().expect("K gradients");
                    double_cv_combine::<N, K>(&l, bk, fk, gk, alpha)
                        .map_err(|e| format!("Double CV: {e}").into())
                }
            )?;
            for s in 0..reps {
                let i = s * rows + r;
                add_scaled(&mut self.g[0][i * N..(i + 1) * N], &step.grad, inv);
            }
            loss += step.variance_loss as f64;
            if train {
                self.grad_phi[o] += step.alpha_grad / rows as f32;
            }
        }
        Ok(loss / rows as f64)
    }

    /// RODEO: each example's gradient from its samples, values and `df/db`, with
    /// `(alpha, beta)` and the network read from the control-variate parameters; accumulates
    /// the batch mean of `d|g|^2/d(alpha, beta, weights)` and returns the mean `|g|^2`.
    pub(super) fn rodeo(&mut self, rows: usize, reps: usize, train: bool) -> Result<f64> {
        let b = (rows * reps) as f32;
        let inv = 1.0 / b;
        let o = self.cv.eta[0];
        let coef = [self.cv.phi[o], self.cv.phi[o + 1]];
        let mut net = RodeoNet::zeros(RODEO_ACTIVATION);
        let params: &[f32; RODEO_PARAMS] = self.cv.phi[o + 2..o + 2 + RODEO_PARAMS]
            .try_into()
            .expect("RODEO's network parameters");
        net.set_params(params)
            .map_err(|e| format!("RODEO's network: {e}"))?;
        let mut coef_grad = [0.0f32; 2];
        let mut net_grad = [0.0f32; RODEO_PARAMS];
        let mut loss = 0.0f64;
        for r in 0..rows {
            let (bs, fs) = self.example(r, rows, reps);
            let grads = self.example_grads(r, rows, reps, b);
            let l = *row::<N>(&self.hard.l[0], r);
            let ng = train.then_some(&mut net_grad);
            let step = with_k!(reps, |K| -> Result<relax_core::estimator::RodeoStep<N>> {
                let bk: &[[f32; N]; K] = bs[..K].try_into().expect("K samples");
                let fk: &[f32; K] = fs[..K].try_into().expect("K values");
                let gk: &[[f32; N]; K] = grads[..K].try_into().expect("K gradients");
                rodeo_combine::<N, K, RODEO_HIDDEN, 1, RODEO_PARAMS>(&l, bk, fk, gk, &net, coef, ng)
                    .map_err(|e| format!("RODEO: {e}").into())
            })?;
            for s in 0..reps {
                let i = s * rows + r;
                add_scaled(&mut self.g[0][i * N..(i + 1) * N], &step.grad, inv);
            }
            loss += step.variance_loss as f64;
            coef_grad[0] += step.coef_grad[0];
            coef_grad[1] += step.coef_grad[1];
        }
        if train {
            let m = 1.0 / rows as f32;
            self.grad_phi[o] += coef_grad[0] * m;
            self.grad_phi[o + 1] += coef_grad[1] * m;
            add_scaled(
                &mut self.grad_phi[o + 2..o + 2 + RODEO_PARAMS],
                &net_grad,
                m,
            );
        }
        Ok(loss / rows as f64)
    }
}
