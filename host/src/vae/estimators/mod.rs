//! The gradient of the mean negative ELBO of a minibatch, by each estimator.
//!
//! The core gives the gradient w.r.t. each stochastic layer's logits, one example at a time
//! (`Draw`, `relax_combine`, `relax_variance_directions`, `nvil_combine`, `muprop_combine`,
//! `disarm_antithetic`/`disarm_combine`, `Bernoulli::{score, relax, relax_jvp, z_vjp}`); this
//! module evaluates `f` and its relaxations for the whole batch with matrix products
//! ([`Vae::forward`], [`Vae::backward`]) and backpropagates the logit gradients through the
//! encoders. Every layer's logit gradient also gets the direct term `d log q(b|x)/dl` (the
//! score: `f` contains `log q`), and the decoder and prior get the direct gradient of `f(b)`,
//! as in the reference code. Concrete instead differentiates the relaxed objective end to
//! end.
//!
//! Multi-layer models: the estimator of layer `k` treats `f(b)` of the whole sampled path as
//! the value of `b_k`; the control variates of layer `k` (REBAR, RELAX) are continuous in
//! `z_k` with the layers above relaxed from the same noise (Tucker et al.), MuProp's
//! surrogate is the mean-field network above `k`, and DisARM's antithetic path redraws the
//! layers above `k` from the same noise.
//!
//! The control variates' variance loss is the reference code's: per layer the mean over
//! batch and latents of `(g / B)^2`, `g` the per-example logit gradient of the estimator
//! (without the direct term), plus `weight_decay/2 |rho|^2` for RELAX's network.

mod config;
mod multi;
mod numeric;
mod passes;
mod relaxed;
mod rnet;
mod sample;

pub use config::{EstimatorConfig, EstimatorKind};
use numeric::{add_scaled, finite_elbo, flush};
use passes::combine_rows;

use super::layers::{Act, AdamVec, Net, NetCache, ParamLayout};
use super::model::{Chain, Pass, Vae};
use crate::Result;
use rand_core::Rng;
use rayon::prelude::*;
use relax_core::dist::{Bernoulli, Relaxed};
use relax_core::estimator::{
    disarm_antithetic, disarm_combine, muprop_combine, nvil_combine, relax_combine,
    relax_variance_directions, Coupling, Draw, MovingAverage,
};
use relax_core::math::sigmoid;

/// What one step reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepStats {
    /// Mean single-sample negative ELBO of the batch (at hard samples).
    pub neg_elbo: f64,
    /// The control variates' variance loss (REBAR, RELAX), 0 otherwise.
    pub variance_loss: f64,
}

/// The learnable variance-reduction parameters `phi` and their layout.
#[derive(Debug, Clone)]
pub struct CvParams {
    /// All of them, flat.
    pub phi: Vec<f32>,
    /// Per layer: offset of `eta` (REBAR, RELAX: one; MuProp: two).
    pub eta: Vec<usize>,
    /// Per layer: offset of `log lambda` (REBAR, RELAX).
    pub log_temp: Vec<usize>,
    /// Per layer: RELAX's `r_rho`.
    pub r: Vec<Net>,
    /// NVIL's and MuProp's baseline network.
    pub baseline: Option<Net>,
}

impl CvParams {
    /// `eta_k` (REBAR/RELAX) per layer.
    pub fn etas(&self) -> Vec<f32> {
        self.eta.iter().map(|&o| self.phi[o]).collect()
    }

    /// `lambda_k` per layer.
    pub fn temperatures(&self) -> Vec<f32> {
        self.log_temp.iter().map(|&o| self.phi[o].exp()).collect()
    }
}

/// One row's scalars from a per-row combination (RELAX's and REBAR's eta gradient and
/// variance loss, MuProp's eta and baseline gradients, NVIL's and RLOO's baseline gradient),
/// kept per row so that their sums over rows run in row order after the rows (the same bits
/// on any number of threads) without gathering them anew each step.
#[derive(Debug, Clone, Copy, Default)]
struct RowTerms {
    /// Gradients of a layer's eta (REBAR and RELAX: the first only).
    eta: [f32; 2],
    /// The baseline's gradient.
    baseline: f32,
    /// The variance loss.
    var: f64,
}

/// An estimator with its learnable state and every buffer a step needs (sized once).
#[derive(Debug)]
pub struct VaeEstimator<const N: usize> {
    /// Settings.
    pub cfg: EstimatorConfig,
    /// Learned variance-reduction parameters.
    pub cv: CvParams,
    adam: AdamVec,
    centre: MovingAverage,
    hard: Pass,
    soft: Pass,
    /// REBAR, RELAX: each layer's relaxed pass's results.
    evals: Vec<relaxed::LayerEvals>,
    /// REBAR, RELAX: each layer's temperature gradient's passes' results.
    temps: Vec<relaxed::TempEvals>,
    /// RELAX: each layer's network's input and `dr/dz`.
    r_evals: Vec<rnet::REvals>,
    draws: Vec<Vec<Draw<N>>>,
    g: Vec<Vec<f32>>,
    u: Vec<f32>,
    a: Vec<f32>,
    fb: Vec<f32>,
    w_inv: Vec<f32>,
    ones: Vec<f32>,
    dbase: Vec<f32>,
    r_cache: Vec<NetCache>,
    b_cache: Option<NetCache>,
    grad_phi: Vec<f32>,
    /// The batch repeated once for each sample of a row (the estimators with several
    /// samples a row; empty for the others, whose input is the batch itself).
    xrep: Vec<f32>,
    /// The generator's words of one layer's draws (see `draw`).
    words: Vec<u32>,
    /// Each row's scalars of a per-row combination (see [`RowTerms`]).
    terms: Vec<RowTerms>,
    /// NVIL's baseline of each row (the running centre plus the input-dependent part).
    base: Vec<f32>,
    batch: usize,
}

fn row<const N: usize>(v: &[f32], r: usize) -> &[f32; N] {
    v[r * N..(r + 1) * N].try_into().expect("row of N")
}

impl<const N: usize> VaeEstimator<N> {
    /// An estimator for `model` and batches of up to `batch` examples; the variance
    /// parameters are trained by Adam(`cv_lr`, beta2) and initialised from `rng`.
    pub fn new<R: Rng + ?Sized>(
        cfg: EstimatorConfig,
        model: &Vae,
        batch: usize,
        cv_lr: f32,
        beta2: f32,
        rng: &mut R,
    ) -> Result<Self> {
        if model.latents != N {
            return Err(format!("estimator for {N} latents, model has {}", model.latents).into());
        }
        if cfg.kind == EstimatorKind::Rloo && cfg.rloo_k < 2 {
            return Err("RLOO needs at least 2 samples".into());
        }
        if cfg.kind.one_layer_only() {
            if !(2..=multi::MAX_SAMPLES).contains(&cfg.rloo_k) {
                return Err(format!(
                    "--samples {}: {} takes 2 to {} samples",
                    cfg.rloo_k,
                    cfg.kind.label(),
                    multi::MAX_SAMPLES
                )
                .into());
            }
            if model.layers != 1 {
                return Err(format!(
                    "{} is implemented for the one-layer models (linear1, nonlinear), not {} \
                     stochastic layers",
                    cfg.kind.label(),
                    model.layers
                )
                .into());
            }
        }
        if cfg.kind == EstimatorKind::Relax && !(cfg.cv_depth == 2 || cfg.cv_depth == 4) {
            return Err("RELAX's r_rho has 2 or 4 hidden layers".into());
        }
        let kk = model.layers;
        let p = model.pixels;
        // The networks' weights in the model's column blocks.
        let mut lay = ParamLayout::with_parts(model.parts());
        let mut eta = Vec::new();
        let mut log_temp = Vec::new();
        let mut r = Vec::new();
        let mut baseline = None;
        match cfg.kind {
            EstimatorKind::Nvil | EstimatorKind::Muprop => {
                baseline = Some(Net::new(&mut lay, &[p, 100, 1], Act::Tanh));
                if cfg.kind == EstimatorKind::Muprop {
                    for _ in 0..kk {
                        eta.push(lay.vector(2));
                    }
                }
            }
            EstimatorKind::Rebar | EstimatorKind::Relax => {
                for k in 0..kk {
                    eta.push(lay.vector(1));
                    log_temp.push(lay.vector(1));
                    if cfg.kind == EstimatorKind::Relax {
                        let mut w = vec![p + N + k * N];
                        w.extend(std::iter::repeat_n(cfg.cv_width, cfg.cv_depth));
                        w.push(1);
                        r.push(Net::new(&mut lay, &w, Act::Relu));
                    }
                }
            }
            EstimatorKind::DoubleCv => eta.push(lay.vector(1)),
            // [alpha, beta, the network's parameters]
            EstimatorKind::Rodeo => eta.push(lay.vector(2 + multi::RODEO_PARAMS)),
            _ => {}
        }
        let mut phi = vec![0.0f32; lay.len];
        if let Some(b) = &baseline {
            b.init(&mut phi, 1.0, rng);
        }
        for &o in &eta {
            // Double CV's alpha starts at 0 (plain RLOO), as in the reference code.
            // RODEO's alpha and beta too (plain RLOO until they learn).
            phi[o] = if matches!(cfg.kind, EstimatorKind::DoubleCv | EstimatorKind::Rodeo) {
                0.0
            } else {
                1.0
            };
            if cfg.kind == EstimatorKind::Rodeo {
                let net = multi::RodeoNet::new_random(multi::RODEO_ACTIVATION, 1.0, rng);
                phi[o + 2..o + 2 + multi::RODEO_PARAMS].copy_from_slice(net.params());
            }
            if cfg.kind == EstimatorKind::Muprop {
                phi[o + 1] = 1.0;
            }
        }
        for &o in &log_temp {
            phi[o] = cfg.init_temperature.ln();
        }
        for net in &r {
            // Zero output weights: RELAX starts as REBAR and learns r from there.
            net.init(&mut phi, 0.0, rng);
        }
        let cap = batch
            * if cfg.kind.multi_sample() {
                cfg.rloo_k
            } else {
                1
            };
        let relaxed = matches!(cfg.kind, EstimatorKind::Rebar | EstimatorKind::Relax);
        // REBAR's and RELAX's soft pass also holds the top layer's temperature rows
        // (`Relaxing::passes`): `fd_rows` at each of two temperatures.
        let soft_cap = cap
            + if relaxed {
                2 * cfg.fd_rows.clamp(1, cap)
            } else {
                0
            };
        let evals = (0..if relaxed { kk } else { 0 })
            .map(|_| relaxed::LayerEvals::new(cap, N))
            .collect();
        let temps = (0..if relaxed { kk } else { 0 })
            .map(|_| relaxed::TempEvals::new(cap, N))
            .collect();
        let r_evals = r
            .iter()
            .map(|n| rnet::REvals::new(cap, N, n.inputs()))
            .collect();
        let zero_draw = Draw {
            z: [0.0; N],
            b: [0.0; N],
            cond: relax_core::dist::Conditional {
                z: [0.0; N],
                coef: [0.0; N],
            },
        };
        let mut adam = AdamVec::new(phi.len(), cv_lr, beta2);
        let cv_mats: Vec<_> = r.iter().chain(&baseline).flat_map(Net::matrices).collect();
        adam.set_matrices(&cv_mats, lay.parts);
        Ok(Self {
            cfg,
            adam,
            centre: MovingAverage::new(0.99).map_err(|e| e.to_string())?,
            hard: model.pass(cap),
            soft: model.pass(soft_cap),
            evals,
            r_evals,
            draws: vec![vec![zero_draw; cap]; kk],
            g: vec![vec![0.0; cap * N]; kk],
            u: vec![0.0; cap * N],
            a: vec![0.0; cap],
            fb: vec![0.0; cap],
            w_inv: vec![0.0; cap],
            ones: vec![1.0; soft_cap],
            dbase: vec![0.0; cap],
            r_cache: r.iter().map(|n| n.cache(cap)).collect(),
            b_cache: baseline.as_ref().map(|b| b.cache(cap)),
            grad_phi: vec![0.0; phi.len()],
            cv: CvParams {
                phi,
                eta,
                log_temp,
                r,
                baseline,
            },
            xrep: vec![0.0; if cfg.kind.multi_sample() { cap * p } else { 0 }],
            words: vec![0; cap * N],
            terms: vec![RowTerms::default(); cap],
            base: vec![0.0; cap],
            temps,
            batch,
        })
    }

    /// The state carried from step to step (a checkpoint's part): the variance parameters,
    /// their Adam and the running centre (`None` before its first value).
    pub fn state(&self) -> (&[f32], &AdamVec, Option<f32>) {
        let fresh = MovingAverage::new(0.99).expect("decay");
        let centre = (self.centre != fresh).then(|| self.centre.value());
        (&self.cv.phi, &self.adam, centre)
    }

    /// Restores [`VaeEstimator::state`].
    pub fn set_state(
        &mut self,
        phi: &[f32],
        adam: (&[f32], &[f32], i32),
        centre: Option<f32>,
    ) -> Result<()> {
        if phi.len() != self.cv.phi.len() {
            return Err("control-variate parameters of another size".into());
        }
        self.cv.phi.copy_from_slice(phi);
        self.adam.set_state(adam.0, adam.1, adam.2)?;
        self.centre = MovingAverage::new(0.99).map_err(|e| e.to_string())?;
        if let Some(c) = centre {
            // The first value starts the average at exactly that value.
            self.centre.update(c);
        }
        Ok(())
    }

    /// Adds to `grad` the estimate of the gradient of the batch's mean negative ELBO w.r.t.
    /// the model parameters `theta` (`x` is `rows x pixels`, `rows <= batch`). With
    /// `train_cv`, also takes one Adam step on the variance parameters from the same samples
    /// (Algorithm 2).
    #[allow(clippy::too_many_arguments)]
    pub fn step<R: Rng + Send + ?Sized>(
        &mut self,
        model: &Vae,
        theta: &[f32],
        x: &[f32],
        rows: usize,
        rng: &mut R,
        grad: &mut [f32],
        train_cv: bool,
    ) -> Result<StepStats> {
        assert!(
            rows <= self.batch,
            "batch larger than the estimator's buffers"
        );
        let kind = self.cfg.kind;
        let p = model.pixels;
        let kk = model.layers;
        let reps = if kind.multi_sample() {
            self.cfg.rloo_k
        } else {
            1
        };
        let b = rows * reps;
        if reps == 1 {
            // One sample a row: the batch is the input (no copy of it).
            model.set_input(&mut self.hard, x, b);
        } else {
            for s in 0..reps {
                crate::vae::rows::par_copy(&mut self.xrep[s * rows * p..], x, rows, p);
            }
            model.set_input(&mut self.hard, &self.xrep, b);
        }
        let inv = 1.0 / b as f32;
        self.w_inv[..b].fill(inv);
        // Each thread zeroes its own stretches of the control variates' gradient.
        self.adam.zero(&mut self.grad_phi);
        // REBAR and RELAX: the hard pass (f(b) and the decoders' gradient), RELAX's network
        // and every relaxed pass.
        let relaxed = matches!(kind, EstimatorKind::Rebar | EstimatorKind::Relax);
        if kind == EstimatorKind::Arms {
            self.sample_arms(model, theta, rows, reps, rng)?;
        } else if relaxed {
            self.sample_relaxed(model, theta, b, rng, grad, train_cv)?;
        } else {
            self.sample(model, theta, b, rng)?;
        }
        let neg_elbo = self.hard.f[..b].iter().map(|&v| v as f64).sum::<f64>() / b as f64;
        let mut variance_loss = 0.0f64;

        if kind == EstimatorKind::Concrete {
            self.concrete(model, theta, rows, grad)?;
        } else {
            // Double CV and RODEO also need df/db: the backward pass leaves it from layer 0 on.
            let f0 = if matches!(kind, EstimatorKind::DoubleCv | EstimatorKind::Rodeo) {
                0
            } else {
                kk
            };
            if !relaxed {
                model.backward(
                    theta,
                    &mut self.hard,
                    b,
                    f0,
                    Chain::Hard,
                    &self.w_inv[..b],
                    Some(grad),
                );
            }
            // The direct term d log q(b|x)/dl = score (REBAR and RELAX set it with their
            // relaxed passes).
            if !relaxed {
                sample::scores(&self.hard, &self.draws, &mut self.g, b, kk);
            }
            match kind {
                EstimatorKind::Nvil | EstimatorKind::Muprop => {
                    self.baseline_forward(b);
                    let centre = self.centre.value();
                    self.dbase[..b].fill(0.0);
                    if kind == EstimatorKind::Nvil {
                        for (base, &fb) in self.base[..b].iter_mut().zip(&self.fb[..b]) {
                            *base = centre + fb;
                        }
                        for k in 0..kk {
                            let (hard, draws, g) = (&self.hard, &self.draws[k], &mut self.g[k]);
                            let (terms, base) = (&mut self.terms, &self.base);
                            combine_rows(hard, draws, g, terms, k, b, inv, "NVIL", base)?;
                            if k == 0 {
                                for (d, t) in self.dbase[..b].iter_mut().zip(&self.terms[..b]) {
                                    *d += inv * t.baseline;
                                }
                            }
                        }
                    } else {
                        self.muprop(model, theta, b, centre)?;
                    }
                    self.centre.update(neg_elbo as f32);
                    if train_cv {
                        let net = self.cv.baseline.as_ref().expect("baseline");
                        let cache = self.b_cache.as_mut().expect("cache");
                        net.backward(
                            &self.cv.phi,
                            &self.hard.xc,
                            b,
                            cache,
                            &self.dbase,
                            Some(&mut self.grad_phi),
                            None,
                        );
                    }
                }
                EstimatorKind::Rebar | EstimatorKind::Relax => {
                    for k in 0..kk {
                        variance_loss += self.relax_layer(b, k, train_cv)?;
                    }
                }
                EstimatorKind::Rloo => {
                    for r in 0..rows {
                        let total: f32 = (0..reps).map(|s| self.hard.f[s * rows + r]).sum();
                        for s in 0..reps {
                            let i = s * rows + r;
                            self.fb[i] = (total - self.hard.f[i]) / (reps - 1) as f32;
                        }
                    }
                    for k in 0..kk {
                        let (hard, draws, g) = (&self.hard, &self.draws[k], &mut self.g[k]);
                        let terms = &mut self.terms;
                        combine_rows(hard, draws, g, terms, k, b, inv, "RLOO", &self.fb)?;
                    }
                }
                EstimatorKind::Disarm => self.disarm(model, theta, b)?,
                EstimatorKind::Arms => self.arms(rows, reps)?,
                EstimatorKind::DoubleCv => variance_loss += self.double_cv(rows, reps, train_cv)?,
                EstimatorKind::Rodeo => variance_loss += self.rodeo(rows, reps, train_cv)?,
                EstimatorKind::Concrete => unreachable!(),
            }
            self.encoders(model, theta, b, grad, train_cv)?;
        }
        // RELAX's step was taken with its network's (`relaxed::r_step`).
        let stepped = kind == EstimatorKind::Relax;
        if train_cv
            && kind.has_cv()
            && !stepped
            && !self.adam.step(&mut self.cv.phi, &mut self.grad_phi)
        {
            return Err("non-finite control-variate gradient".into());
        }
        Ok(StepStats {
            neg_elbo,
            variance_loss,
        })
    }
}
