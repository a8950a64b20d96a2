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

use super::layers::{Act, AdamVec, Net, NetCache, ParamLayout};
use super::model::{Chain, Pass, Vae};
use crate::estimators::{menu, EstimatorId, Menu};
use crate::Result;
use rand_core::Rng;
use relax_core::dist::{Bernoulli, Relaxed};
use relax_core::estimator::{
    disarm_antithetic, disarm_combine, muprop_combine, nvil_combine, relax_combine,
    relax_variance_directions, Coupling, Draw, MovingAverage,
};
use relax_core::math::sigmoid;

/// Which gradient estimator trains the encoder: the VAE's own batched implementation of each
/// estimator of the registry's Vae menu ([`crate::estimators`], where names and labels live).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum EstimatorKind {
    /// REINFORCE with an input-dependent baseline `B(x)` (100 tanh units on `x - mean`)
    /// and a running-mean centring (Mnih & Gregor).
    Nvil,
    /// MuProp: the mean-field network's first-order Taylor expansion as control variate,
    /// plus the NVIL baseline.
    Muprop,
    /// The Concrete (Gumbel-softmax) relaxation, end to end (biased).
    Concrete,
    /// REBAR: `c = eta f(sigma_lambda(z))`, eta and lambda learned per layer.
    Rebar,
    /// RELAX: `c = eta [f(sigma_lambda(z)) + r_rho(x, z)]`, `r` a ReLU network.
    Relax,
    /// REINFORCE with `K` samples per example and the leave-one-out baseline.
    Rloo,
    /// DisARM: antithetic pairs (per layer, 1 + layers evaluations of f).
    Disarm,
}

impl EstimatorKind {
    /// The VAE implementation of a registry estimator (`None`: the VAE has none).
    pub fn from_id(id: EstimatorId) -> Option<Self> {
        Some(match id.name() {
            "nvil" => EstimatorKind::Nvil,
            "muprop" => EstimatorKind::Muprop,
            "concrete" => EstimatorKind::Concrete,
            "rebar" => EstimatorKind::Rebar,
            "relax" => EstimatorKind::Relax,
            "rloo" => EstimatorKind::Rloo,
            "disarm" => EstimatorKind::Disarm,
            _ => return None,
        })
    }

    /// Every estimator of the Vae menu that has a VAE implementation, in menu order.
    pub fn all() -> Vec<Self> {
        menu(Menu::Vae)
            .into_iter()
            .filter_map(Self::from_id)
            .collect()
    }

    /// The registry entry.
    pub fn id(self) -> EstimatorId {
        EstimatorId::named(match self {
            EstimatorKind::Nvil => "nvil",
            EstimatorKind::Muprop => "muprop",
            EstimatorKind::Concrete => "concrete",
            EstimatorKind::Rebar => "rebar",
            EstimatorKind::Relax => "relax",
            EstimatorKind::Rloo => "rloo",
            EstimatorKind::Disarm => "disarm",
        })
    }

    /// The registry's (lower-case) name, used in file names.
    pub fn label(self) -> &'static str {
        self.id().name()
    }

    /// Whether it has parameters trained on a variance objective.
    pub fn has_cv(self) -> bool {
        matches!(
            self,
            EstimatorKind::Nvil
                | EstimatorKind::Muprop
                | EstimatorKind::Rebar
                | EstimatorKind::Relax
        )
    }
}

/// Settings of an estimator.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EstimatorConfig {
    /// Which one.
    pub kind: EstimatorKind,
    /// Concrete's temperature.
    pub concrete_temperature: f32,
    /// RLOO's samples per example.
    pub rloo_k: usize,
    /// Hidden ReLU layers (of 200) in RELAX's `r_rho`: 2 or 4.
    pub cv_depth: usize,
    /// Width of `r_rho`'s layers.
    pub cv_width: usize,
    /// Weight decay on `r_rho`'s parameters.
    pub cv_weight_decay: f32,
    /// Central-difference step in log-temperature for the temperature's variance gradient.
    pub fd_step: f32,
    /// Rows of the batch the temperature's central difference is taken on (scaled up to
    /// the batch): the temperature changes only the variance, so a noisier gradient for it
    /// costs nothing in bias and saves two relaxed passes over the whole batch.
    pub fd_rows: usize,
    /// Initial temperature of REBAR's and RELAX's relaxations.
    pub init_temperature: f32,
}

impl EstimatorConfig {
    /// The defaults: Concrete at 0.5, RLOO with 2 samples, RELAX with 2 x 200 ReLU and
    /// weight decay 0.001, lambda starting at 0.5.
    pub fn new(kind: EstimatorKind) -> Self {
        Self {
            kind,
            concrete_temperature: 0.5,
            rloo_k: 2,
            cv_depth: 2,
            cv_width: 200,
            cv_weight_decay: 1e-3,
            fd_step: 1e-2,
            fd_rows: 4,
            init_temperature: 0.5,
        }
    }
}

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
    draws: Vec<Vec<Draw<N>>>,
    g: Vec<Vec<f32>>,
    gc: Vec<f32>,
    u: Vec<f32>,
    a: Vec<f32>,
    alpha: Vec<f32>,
    fb: Vec<f32>,
    w_inv: Vec<f32>,
    ones: Vec<f32>,
    dbase: Vec<f32>,
    rin: Vec<f32>,
    rdx: Vec<f32>,
    ru: Vec<f32>,
    r_cache: Vec<NetCache>,
    b_cache: Option<NetCache>,
    grad_phi: Vec<f32>,
    xrep: Vec<f32>,
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
        if cfg.kind == EstimatorKind::Relax && !(cfg.cv_depth == 2 || cfg.cv_depth == 4) {
            return Err("RELAX's r_rho has 2 or 4 hidden layers".into());
        }
        let kk = model.layers;
        let p = model.pixels;
        let mut lay = ParamLayout::default();
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
            _ => {}
        }
        let mut phi = vec![0.0f32; lay.len];
        if let Some(b) = &baseline {
            b.init(&mut phi, 1.0, rng);
        }
        for &o in &eta {
            phi[o] = 1.0;
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
            * if cfg.kind == EstimatorKind::Rloo {
                cfg.rloo_k
            } else {
                1
            };
        let r_in = r.last().map_or(0, |n: &Net| n.inputs());
        let zero_draw = Draw {
            z: [0.0; N],
            b: [0.0; N],
            cond: relax_core::dist::Conditional {
                z: [0.0; N],
                coef: [0.0; N],
            },
        };
        Ok(Self {
            cfg,
            adam: AdamVec::new(phi.len(), cv_lr, beta2),
            centre: MovingAverage::new(0.99).map_err(|e| e.to_string())?,
            hard: model.pass(cap),
            soft: model.pass(cap),
            draws: vec![vec![zero_draw; cap]; kk],
            g: vec![vec![0.0; cap * N]; kk],
            gc: vec![0.0; cap * N],
            u: vec![0.0; cap * N],
            a: vec![0.0; cap],
            alpha: vec![0.0; cap],
            fb: vec![0.0; cap],
            w_inv: vec![0.0; cap],
            ones: vec![1.0; cap],
            dbase: vec![0.0; cap],
            rin: vec![0.0; cap * r_in],
            rdx: vec![0.0; cap * r_in],
            ru: vec![0.0; cap * r_in],
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
            xrep: vec![0.0; cap * p],
            batch,
        })
    }

    /// Adds to `grad` the estimate of the gradient of the batch's mean negative ELBO w.r.t.
    /// the model parameters `theta` (`x` is `rows x pixels`, `rows <= batch`). With
    /// `train_cv`, also takes one Adam step on the variance parameters from the same samples
    /// (Algorithm 2).
    #[allow(clippy::too_many_arguments)]
    pub fn step<R: Rng + ?Sized>(
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
        let reps = if kind == EstimatorKind::Rloo {
            self.cfg.rloo_k
        } else {
            1
        };
        let b = rows * reps;
        for s in 0..reps {
            self.xrep[s * rows * p..(s + 1) * rows * p].copy_from_slice(&x[..rows * p]);
        }
        model.set_input(&mut self.hard, &self.xrep, b);
        self.sample(model, theta, b, rng)?;
        let inv = 1.0 / b as f32;
        self.w_inv[..b].fill(inv);
        self.grad_phi.fill(0.0);
        let neg_elbo = self.hard.f[..b].iter().map(|&v| v as f64).sum::<f64>() / b as f64;
        let mut variance_loss = 0.0f64;

        if kind == EstimatorKind::Concrete {
            self.concrete(model, theta, rows, grad)?;
        } else {
            model.backward(
                theta,
                &mut self.hard,
                b,
                kk,
                Chain::Hard,
                &self.w_inv[..b],
                Some(grad),
            );
            // The direct term d log q(b|x)/dl = score.
            for k in 0..kk {
                for r in 0..b {
                    let sc = Bernoulli::<N>::score(row(&self.hard.l[k], r), &self.draws[k][r].b);
                    for (g, s) in self.g[k][r * N..(r + 1) * N].iter_mut().zip(&sc) {
                        *g = inv * s;
                    }
                }
            }
            match kind {
                EstimatorKind::Nvil | EstimatorKind::Muprop => {
                    self.baseline_forward(b);
                    let centre = self.centre.value();
                    self.dbase[..b].fill(0.0);
                    if kind == EstimatorKind::Nvil {
                        for k in 0..kk {
                            for r in 0..b {
                                let base = centre + self.fb[r];
                                let s = nvil_combine::<Bernoulli<N>, N>(
                                    row(&self.hard.l[k], r),
                                    &self.draws[k][r].b,
                                    self.hard.f[r],
                                    base,
                                )
                                .map_err(|e| format!("NVIL: {e}"))?;
                                add_scaled(&mut self.g[k][r * N..(r + 1) * N], &s.grad, inv);
                                if k == 0 {
                                    self.dbase[r] += inv * s.baseline_grad;
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
                        variance_loss += self.relax_layer(model, theta, b, k, train_cv)?;
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
                        for i in 0..b {
                            let s = nvil_combine::<Bernoulli<N>, N>(
                                row(&self.hard.l[k], i),
                                &self.draws[k][i].b,
                                self.hard.f[i],
                                self.fb[i],
                            )
                            .map_err(|e| format!("RLOO: {e}"))?;
                            add_scaled(&mut self.g[k][i * N..(i + 1) * N], &s.grad, inv);
                        }
                    }
                }
                EstimatorKind::Disarm => self.disarm(model, theta, b)?,
                EstimatorKind::Concrete => unreachable!(),
            }
            for k in 0..kk {
                flush(&mut self.g[k][..b * N]);
                model.encoder_backward(theta, &mut self.hard, b, k, &self.g[k], grad);
            }
        }
        if train_cv && kind.has_cv() {
            if kind == EstimatorKind::Relax {
                // wd / kappa: see `relax_layer` (the variance gradient is taken times 1/kappa).
                let wd = self.cfg.cv_weight_decay * (b * b * b * N) as f32;
                for net in &self.cv.r {
                    let (lo, hi) = (net.layers[0].w, net.layers.last().expect("layer").b + 1);
                    for i in lo..hi {
                        self.grad_phi[i] += wd * self.cv.phi[i];
                    }
                }
            }
            if !self.adam.step(&mut self.cv.phi, &self.grad_phi) {
                return Err("non-finite control-variate gradient".into());
            }
        }
        Ok(StepStats {
            neg_elbo,
            variance_loss,
        })
    }

    /// Samples every layer (the core's `Draw`, tied coupling) and evaluates `f(b)`.
    fn sample<R: Rng + ?Sized>(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        rng: &mut R,
    ) -> Result<()> {
        model.encode_first(theta, &mut self.hard, b);
        for k in 0..model.layers {
            if k > 0 {
                model.encode_next(theta, &mut self.hard, b, k);
            }
            for r in 0..b {
                let l = row::<N>(&self.hard.l[k], r);
                let d = Draw::with_coupling::<Bernoulli<N>, _>(l, Coupling::Tied, rng)
                    .map_err(|e| format!("sampling layer {k}: {e}"))?;
                let rs = r * N..(r + 1) * N;
                self.hard.s[k][rs.clone()].copy_from_slice(&d.b);
                for ((e, z), l) in self.hard.eps[k][rs].iter_mut().zip(&d.z).zip(l) {
                    *e = z - l;
                }
                self.draws[k][r] = d;
            }
        }
        model.forward(theta, &mut self.hard, b, model.layers, Chain::Hard);
        if let Some(bad) = self.hard.f[..b].iter().find(|v| !v.is_finite()) {
            return Err(format!("non-finite ELBO {bad}").into());
        }
        Ok(())
    }

    /// Copies the hard pass into the soft pass for a control variate of layer `k`: `x`,
    /// the layers below `k`, the logits of `k`, and the noise above (or zero noise).
    fn prep_soft(&mut self, b: usize, k: usize, zero_noise: bool) {
        let kk = self.hard.l.len();
        let m = b * N;
        let pm = b * self.hard.x.len() / self.hard.cap;
        self.soft.x[..pm].copy_from_slice(&self.hard.x[..pm]);
        self.soft.xc[..pm].copy_from_slice(&self.hard.xc[..pm]);
        for j in 0..=k {
            self.soft.l[j][..m].copy_from_slice(&self.hard.l[j][..m]);
            if j < k {
                self.soft.s[j][..m].copy_from_slice(&self.hard.s[j][..m]);
            }
        }
        for j in k + 1..kk {
            if zero_noise {
                self.soft.eps[j][..m].fill(0.0);
            } else {
                self.soft.eps[j][..m].copy_from_slice(&self.hard.eps[j][..m]);
            }
        }
    }

    /// `f(sigma_lambda(z_k))` with the layers above chained softly, and its `z_k`-gradient
    /// into `self.gc`; returns nothing, values in `self.soft.f`.
    fn soft_eval(&mut self, model: &Vae, theta: &[f32], b: usize, k: usize, lam: f32) {
        self.prep_soft(b, k, false);
        for r in 0..b {
            let x = Bernoulli::<N>::relax(&self.draws[k][r].z, lam);
            self.soft.s[k][r * N..(r + 1) * N].copy_from_slice(&x);
        }
        model.forward(theta, &mut self.soft, b, k, Chain::Soft(lam));
        model.backward(
            theta,
            &mut self.soft,
            b,
            k,
            Chain::Soft(lam),
            &self.ones[..b],
            None,
        );
        for r in 0..b {
            let gz =
                Bernoulli::<N>::relax_jvp(row(&self.soft.s[k], r), lam, row(&self.soft.ds[k], r));
            let gz = Bernoulli::<N>::z_vjp(row(&self.hard.l[k], r), &gz);
            self.gc[r * N..(r + 1) * N].copy_from_slice(&gz);
        }
        flush(&mut self.gc[..b * N]);
    }

    /// REBAR or RELAX for layer `k`: adds the estimate to `self.g[k]` and, in training, the
    /// variance gradient to `grad_phi`; returns the variance loss.
    fn relax_layer(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        k: usize,
        train: bool,
    ) -> Result<f64> {
        let p = model.pixels;
        let inv = 1.0 / b as f32;
        let eta = self.cv.phi[self.cv.eta[k]];
        let t = self.cv.phi[self.cv.log_temp[k]];
        let lam = t.exp();
        self.soft_eval(model, theta, b, k, lam);
        let is_relax = self.cfg.kind == EstimatorKind::Relax;
        let r_in = if is_relax { self.cv.r[k].inputs() } else { 0 };
        if is_relax {
            // r's input: [x - mean, z_k, 2 b_j - 1 for j < k].
            for r in 0..b {
                let dst = &mut self.rin[r * r_in..(r + 1) * r_in];
                dst[..p].copy_from_slice(&self.hard.xc[r * p..(r + 1) * p]);
                dst[p..p + N].copy_from_slice(&self.draws[k][r].z);
                for j in 0..k {
                    dst[p + N + j * N..p + N + (j + 1) * N]
                        .copy_from_slice(&self.hard.inp[j][r * N..(r + 1) * N]);
                }
            }
            let net = &self.cv.r[k];
            net.forward(&self.cv.phi, &self.rin, b, &mut self.r_cache[k]);
            net.backward(
                &self.cv.phi,
                &self.rin,
                b,
                &mut self.r_cache[k],
                &self.ones[..b],
                None,
                Some(&mut self.rdx),
            );
            flush(&mut self.rdx[..b * r_in]);
        }
        // The reference's variance loss is kappa sum_r |g_r|^2 with kappa = 1 / (B^3 N) (the
        // mean over batch and latents of (g / B)^2), plus wd/2 |rho|^2. Its gradient is
        // taken here times 1/kappa (and the weight decay as wd/kappa, in `step`): Adam does
        // not see a constant factor, and at kappa = 4e-7 the gradients of RELAX's network
        // reached the subnormal range, which slowed training several times over.
        let kappa_report = 1.0 / ((b * b * b * N) as f64);
        let kappa = 1.0f32;
        let mut var_loss = 0.0f64;
        let mut d_eta = 0.0f32;
        for r in 0..b {
            let fz = self.soft.f[r];
            let rv = if is_relax {
                self.r_cache[k].out[r]
            } else {
                0.0
            };
            // graw = dF/dz + dr/dz, so that dc/dz = eta graw.
            let mut graw = [0.0f32; N];
            for j in 0..N {
                let gr = if is_relax {
                    self.rdx[r * r_in + p + j]
                } else {
                    0.0
                };
                graw[j] = self.gc[r * N + j] + gr;
            }
            let gcz: [f32; N] = core::array::from_fn(|j| eta * graw[j]);
            let c = eta * (fz + rv);
            let l = row::<N>(&self.hard.l[k], r);
            let draw = &self.draws[k][r];
            let g = relax_combine::<Bernoulli<N>, N>(l, draw, self.hard.f[r], c, &gcz, &gcz)
                .map_err(|e| format!("RELAX layer {k}: {e}"))?;
            add_scaled(&mut self.g[k][r * N..(r + 1) * N], &g, inv);
            if train {
                let dirs = relax_variance_directions::<Bernoulli<N>, N>(l, draw, &g);
                // Tied coupling: c(z~) = c(z) in value and gradient, so the two terms merge
                // into d/dphi [A c(z) + U . dc/dz(z)].
                let a = dirs.alpha_z + dirs.alpha_zt;
                let mut ug = 0.0f32;
                for j in 0..N {
                    let u = dirs.u_z[j] + dirs.u_zt[j];
                    self.u[r * N + j] = u;
                    ug += u * graw[j];
                }
                self.a[r] = a;
                // d/d eta [A c + U . dc/dz] = A (F + r) + U . graw.
                d_eta += kappa * (a * (fz + rv) + ug);
                var_loss += kappa_report * g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
            }
        }
        if !train {
            return Ok(0.0);
        }
        self.grad_phi[self.cv.eta[k]] += d_eta;
        // RELAX's network: the mixed second derivative, scaled by kappa eta.
        if is_relax {
            let s = kappa * eta;
            self.ru[..b * r_in].fill(0.0);
            for r in 0..b {
                self.alpha[r] = s * self.a[r];
                for j in 0..N {
                    self.ru[r * r_in + p + j] = s * self.u[r * N + j];
                }
            }
            flush(&mut self.ru[..b * r_in]);
            flush(&mut self.alpha[..b]);
            let net = &self.cv.r[k];
            net.mixed_backward(
                &self.cv.phi,
                &self.rin,
                &self.ru,
                &self.alpha,
                b,
                &mut self.r_cache[k],
                &mut self.grad_phi,
            );
        }
        // The temperature: a central difference of sum_r kappa eta [A F + U . grad F] in
        // log-temperature (F is the user's objective: no Hessian-vector product here), on
        // the first `fd_rows` rows of the (shuffled) batch, scaled up to the batch.
        let h = self.cfg.fd_step;
        let fr = self.cfg.fd_rows.clamp(1, b);
        let mut q = [0.0f64; 2];
        for (qi, sgn) in q.iter_mut().zip([1.0f32, -1.0]) {
            self.soft_eval(model, theta, fr, k, (t + sgn * h).exp());
            let mut acc = 0.0f64;
            for r in 0..fr {
                let mut ug = 0.0f32;
                for j in 0..N {
                    ug += self.u[r * N + j] * self.gc[r * N + j];
                }
                acc += (kappa * eta * (self.a[r] * self.soft.f[r] + ug)) as f64;
            }
            *qi = acc * b as f64 / fr as f64;
        }
        self.grad_phi[self.cv.log_temp[k]] += ((q[0] - q[1]) / (2.0 * h as f64)) as f32;
        Ok(var_loss)
    }

    /// MuProp for every layer (baseline already in `self.fb`).
    fn muprop(&mut self, model: &Vae, theta: &[f32], b: usize, centre: f32) -> Result<()> {
        let inv = 1.0 / b as f32;
        for k in 0..model.layers {
            self.prep_soft(b, k, true);
            for i in 0..b * N {
                self.soft.s[k][i] = sigmoid(self.hard.l[k][i]);
            }
            model.forward(theta, &mut self.soft, b, k, Chain::Soft(1.0));
            model.backward(
                theta,
                &mut self.soft,
                b,
                k,
                Chain::Soft(1.0),
                &self.ones[..b],
                None,
            );
            let o = self.cv.eta[k];
            let eta = [self.cv.phi[o], self.cv.phi[o + 1]];
            for r in 0..b {
                let s = muprop_combine::<N>(
                    row(&self.hard.l[k], r),
                    &self.draws[k][r].b,
                    self.hard.f[r],
                    self.soft.f[r],
                    row(&self.soft.ds[k], r),
                    centre + self.fb[r],
                    eta,
                )
                .map_err(|e| format!("MuProp layer {k}: {e}"))?;
                add_scaled(&mut self.g[k][r * N..(r + 1) * N], &s.grad, inv);
                self.grad_phi[o] += inv * s.eta_grad[0];
                self.grad_phi[o + 1] += inv * s.eta_grad[1];
                self.dbase[r] += inv * s.baseline_grad;
            }
        }
        Ok(())
    }

    /// DisARM for every layer: the antithetic path differs from the sampled one at layer
    /// `k` and redraws the layers above from the same noise.
    fn disarm(&mut self, model: &Vae, theta: &[f32], b: usize) -> Result<()> {
        let inv = 1.0 / b as f32;
        for k in 0..model.layers {
            self.prep_soft(b, k, false);
            for r in 0..b {
                let bt = disarm_antithetic(row(&self.hard.l[k], r), &self.draws[k][r].z);
                self.soft.s[k][r * N..(r + 1) * N].copy_from_slice(&bt);
            }
            model.forward(theta, &mut self.soft, b, k, Chain::Hard);
            for r in 0..b {
                let g = disarm_combine(
                    row(&self.hard.l[k], r),
                    &self.draws[k][r].b,
                    row(&self.soft.s[k], r),
                    self.hard.f[r],
                    self.soft.f[r],
                )
                .map_err(|e| format!("DisARM layer {k}: {e}"))?;
                add_scaled(&mut self.g[k][r * N..(r + 1) * N], &g, inv);
            }
        }
        Ok(())
    }

    /// Concrete: the reparameterisation gradient of the relaxed objective, every layer
    /// relaxed at the fixed temperature, through decoders, prior and encoders.
    fn concrete(&mut self, model: &Vae, theta: &[f32], b: usize, grad: &mut [f32]) -> Result<()> {
        let lam = self.cfg.concrete_temperature;
        self.prep_soft(b, 0, false);
        for r in 0..b {
            let x = Bernoulli::<N>::relax(&self.draws[0][r].z, lam);
            self.soft.s[0][r * N..(r + 1) * N].copy_from_slice(&x);
        }
        model.forward(theta, &mut self.soft, b, 0, Chain::Soft(lam));
        model.backward(
            theta,
            &mut self.soft,
            b,
            0,
            Chain::Soft(lam),
            &self.w_inv[..b],
            Some(grad),
        );
        let inv = 1.0 / b as f32;
        for r in 0..b {
            let s = row::<N>(&self.soft.s[0], r);
            let gz = Bernoulli::<N>::relax_jvp(s, lam, row(&self.soft.ds[0], r));
            let gl = Bernoulli::<N>::z_vjp(row(&self.hard.l[0], r), &gz);
            for j in 0..N {
                // Plus the direct term of log q(s|x) at the relaxed sample.
                self.g[0][r * N + j] = gl[j] + inv * (s[j] - sigmoid(self.hard.l[0][r * N + j]));
            }
        }
        if let Some(bad) = self.soft.f[..b].iter().find(|v| !v.is_finite()) {
            return Err(format!("Concrete: non-finite relaxed objective {bad}").into());
        }
        flush(&mut self.g[0][..b * N]);
        model.encoder_backward(theta, &mut self.hard, b, 0, &self.g[0], grad);
        Ok(())
    }

    /// The NVIL/MuProp baseline `B(x)` for the batch into `self.fb`.
    fn baseline_forward(&mut self, b: usize) {
        let net = self.cv.baseline.as_ref().expect("baseline");
        let cache = self.b_cache.as_mut().expect("cache");
        net.forward(&self.cv.phi, &self.hard.xc, b, cache);
        self.fb[..b].copy_from_slice(&cache.out[..b]);
    }
}

/// Sets values below 1e-30 in magnitude to zero. Saturated relaxations (`sigmoid(z / lambda)`
/// with `z / lambda` below -87) give subnormal derivatives, and a few subnormal inputs slow a
/// whole matrix product by an order of magnitude (RELAX's first epoch ran at a tenth of its
/// speed); they carry nothing an f32 sum of O(1) terms could see.
fn flush(v: &mut [f32]) {
    for x in v {
        if x.abs() < 1e-30 {
            *x = 0.0;
        }
    }
}

fn add_scaled(dst: &mut [f32], src: &[f32], s: f32) {
    for (d, v) in dst.iter_mut().zip(src) {
        *d += s * v;
    }
}
