//! The relaxed passes of REBAR and RELAX (and the soft copies of the hard pass that MuProp,
//! DisARM and Concrete start from), and each layer's RELAX/REBAR gradient with its
//! variance-loss gradient.
//!
//! REBAR's and RELAX's relaxed passes need the samples, not the hard pass's value or
//! gradient: after the hard pass evaluates and differentiates `f(b)` and RELAX's network
//! `r(z)` ([`r_passes`]), they read the sampled pass ([`Relaxing`]) and leave each layer's
//! results in a [`LayerEvals`] until [`VaeEstimator::relax_layer`] combines them with `f(b)`.
//! With more than one thread, each matrix product is split among them by the weights' column
//! blocks ([`crate::vae::layers::Dense`]), and the row-by-row work by rows.

use super::rnet::{r_mixed, r_passes, r_step};
use super::sample::scores;
use super::*;
use crate::vae::rows::{first_error, par_copy, rows_per_thread};

/// One row's outputs in [`VaeEstimator::relax_layer`]: its index, its logit gradient and `U`
/// (`N` each), and its `A`.
type RowOut<'a> = (
    usize,
    (
        ((&'a mut [f32], &'a mut [f32]), &'a mut f32),
        &'a mut RowTerms,
    ),
);

/// What the relaxed pass of one layer at its temperature leaves for its combination (REBAR,
/// RELAX).
#[derive(Debug, Clone)]
pub(super) struct LayerEvals {
    /// `f(sigma_lambda(z_k))` per row.
    fz: Vec<f32>,
    /// Its `z_k`-gradient, `rows x N`.
    gc: Vec<f32>,
}

impl LayerEvals {
    /// Buffers for up to `cap` rows of `n` latents.
    pub(super) fn new(cap: usize, n: usize) -> Self {
        Self {
            fz: vec![0.0; cap],
            gc: vec![0.0; cap * n],
        }
    }
}

/// What the passes of one layer's temperature gradient leave (REBAR, RELAX, in training).
#[derive(Debug, Clone)]
pub(super) struct TempEvals {
    /// `f` of the first `fd_rows` rows at the two temperatures (row `i fd_rows + r` at the
    /// `i`-th).
    pf: Vec<f32>,
    /// Their `z_k`-gradients.
    pgc: Vec<f32>,
}

impl TempEvals {
    /// Buffers for up to `cap` rows of `n` latents.
    pub(super) fn new(cap: usize, n: usize) -> Self {
        Self {
            pf: vec![0.0; 2 * cap],
            pgc: vec![0.0; 2 * cap * n],
        }
    }
}

/// Copies the pass `from` into `soft` for a control variate of layer `k`: `x`, the layers
/// below `k`, the logits of `k`, and the noise above (or zero noise). Not `x - mean`: only
/// the first encoder reads it, and a soft pass starts from given logits (the estimators read
/// the sampled pass's).
pub(super) fn prep(from: &Pass, soft: &mut Pass, b: usize, k: usize, zero_noise: bool) {
    let kk = from.l.len();
    let m = b * from.eps.first().map_or(0, |e| e.len() / from.cap);
    let p = from.x.len() / from.cap;
    par_copy(&mut soft.x, &from.x, b, p);
    for j in 0..=k {
        soft.l[j][..m].copy_from_slice(&from.l[j][..m]);
        if j < k {
            soft.s[j][..m].copy_from_slice(&from.s[j][..m]);
        }
    }
    for j in k + 1..kk {
        if zero_noise {
            soft.eps[j][..m].fill(0.0);
        } else {
            soft.eps[j][..m].copy_from_slice(&from.eps[j][..m]);
        }
    }
}

/// The read-only inputs of the relaxed passes.
pub(super) struct Relaxing<'a, const N: usize> {
    /// The model.
    pub model: &'a Vae,
    /// Its parameters.
    pub theta: &'a [f32],
    /// The sampled pass: `x`, `x - mean`, every layer's logits, samples and noise.
    pub from: &'a Pass,
    /// Every layer's draws.
    pub draws: &'a [Vec<Draw<N>>],
    /// Ones, one per row.
    pub ones: &'a [f32],
}

impl<const N: usize> Relaxing<'_, N> {
    /// `f(sigma_lambda(z_k))` of the first `b` rows with the layers above chained softly into
    /// `soft.f[..b]`, and its `z_k`-gradient into `gc`. With `temps = Some((fr, lams, pgc))`
    /// (the top layer only: no layer above it is chained at a temperature), also the first
    /// `fr` rows at each temperature of `lams`, as rows `b + i fr + r` of the same pass
    /// (values in `soft.f[b..b + 2 fr]`, `z_k`-gradients in `pgc`): each row's products are
    /// the same sums as in a pass of its own, so the same bits, and the weights are read
    /// once for all the rows.
    fn soft_eval(
        &self,
        soft: &mut Pass,
        b: usize,
        k: usize,
        lam: f32,
        gc: &mut [f32],
        temps: Option<(usize, [f32; 2], &mut [f32])>,
    ) {
        let (model, theta) = (self.model, self.theta);
        prep(self.from, soft, b, k, false);
        let (fr, lams, pgc) = match temps {
            Some((fr, lams, pgc)) => (fr, lams, pgc),
            None => (0, [lam; 2], &mut [][..]),
        };
        let rows = b + 2 * fr;
        debug_assert!(fr == 0 || (k + 1 == model.layers && fr <= b && rows <= soft.cap));
        // The extra rows: copies of the first `fr` (nothing above `k` to copy noise for).
        let (p, m) = (model.pixels, fr * N);
        for o in [b, b + fr].into_iter().take(if fr > 0 { 2 } else { 0 }) {
            soft.x.copy_within(..fr * p, o * p);
            for j in 0..=k {
                soft.l[j].copy_within(..m, o * N);
                if j < k {
                    soft.s[j].copy_within(..m, o * N);
                }
            }
        }
        // Row `r`'s temperature and the row of the sampled pass it copies.
        let lam_of = |r: usize| if r < b { lam } else { lams[(r - b) / fr] };
        let src = |r: usize| if r < b { r } else { (r - b) % fr };
        let per = rows_per_thread(rows);
        soft.s[k][..rows * N]
            .par_chunks_mut(N)
            .enumerate()
            .with_min_len(per)
            .for_each(|(r, s)| {
                s.copy_from_slice(&Bernoulli::<N>::relax(&self.draws[k][src(r)].z, lam_of(r)))
            });
        model.forward(theta, soft, rows, k, Chain::Soft(lam));
        let ones = &self.ones[..rows];
        model.backward(theta, soft, rows, k, Chain::Soft(lam), ones, None);
        let (s, ds, l) = (
            &soft.s[k][..rows * N],
            &soft.ds[k][..rows * N],
            &self.from.l[k][..b * N],
        );
        gc[..b * N]
            .par_chunks_mut(N)
            .chain(pgc[..2 * fr * N].par_chunks_mut(N))
            .enumerate()
            .with_min_len(per)
            .for_each(|(r, gc)| {
                let gz = Bernoulli::<N>::relax_jvp(row(s, r), lam_of(r), row(ds, r));
                gc.copy_from_slice(&Bernoulli::<N>::z_vjp(row(l, src(r)), &gz));
                flush(gc);
            });
    }

    /// Every layer's relaxed pass for REBAR or RELAX into `evals`: `f` and its
    /// `z`-gradient at `sigma_lambda(z)`; with `temps` (in training), also the passes of
    /// each layer's temperature gradient (see `relax_layer`) into `temps`: `f` and its
    /// `z`-gradient of the first `fd_rows` rows at the two temperatures. The top layer's
    /// are extra rows of its relaxed pass (where `soft` has room; [`VaeEstimator::new`]
    /// makes it), the others' passes of their own.
    pub(super) fn passes(
        &self,
        cfg: &EstimatorConfig,
        cv: &CvParams,
        soft: &mut Pass,
        evals: &mut [LayerEvals],
        mut temps: Option<&mut [TempEvals]>,
        b: usize,
    ) {
        let kk = self.model.layers;
        let h = cfg.fd_step;
        let fr = cfg.fd_rows.clamp(1, b);
        for (k, ev) in evals.iter_mut().enumerate().take(kk) {
            let t = cv.phi[cv.log_temp[k]];
            let lams = [(t + h).exp(), (t - h).exp()];
            let joint = k + 1 == kk && b + 2 * fr <= soft.cap;
            match temps.as_deref_mut().map(|tv| &mut tv[k]) {
                Some(tv) if joint => {
                    let extra = Some((fr, lams, &mut tv.pgc[..]));
                    self.soft_eval(soft, b, k, t.exp(), &mut ev.gc, extra);
                    tv.pf[..2 * fr].copy_from_slice(&soft.f[b..b + 2 * fr]);
                }
                tv => {
                    self.soft_eval(soft, b, k, t.exp(), &mut ev.gc, None);
                    if let Some(tv) = tv {
                        ev.fz[..b].copy_from_slice(&soft.f[..b]);
                        for (i, &lam) in lams.iter().enumerate() {
                            self.soft_eval(soft, fr, k, lam, &mut tv.pgc[i * fr * N..], None);
                            tv.pf[i * fr..(i + 1) * fr].copy_from_slice(&soft.f[..fr]);
                        }
                        continue;
                    }
                }
            }
            ev.fz[..b].copy_from_slice(&soft.f[..b]);
        }
    }
}

impl<const N: usize> VaeEstimator<N> {
    /// REBAR and RELAX: samples every layer, then makes the hard pass (`f(b)` and the
    /// decoders' gradient into `grad`), RELAX's network, and every relaxed pass, one after
    /// another; each product and each row-by-row piece is split among the product threads.
    /// The passes do not run as two tasks side by side. Inside a task, a product's second
    /// column block waits to be stolen while the other thread runs its own task, so the
    /// task's thread ran both blocks and each core read all the weights. Adam's step, writing
    /// each thread's own columns, then took those lines back from the other core. Without
    /// the tasks, two-thread linear1 REBAR ran 1.24-1.36x faster and RELAX 0.93-1.02x
    /// (docs/results.md, sixteenth round).
    pub(super) fn sample_relaxed<R: Rng + Send + ?Sized>(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        rng: &mut R,
        grad: &mut [f32],
        train_cv: bool,
    ) -> Result<()> {
        let kk = model.layers;
        self.draw(model, theta, b, rng)?;
        let (cfg, cv, soft, evals) = (&self.cfg, &self.cv, &mut self.soft, &mut self.evals);
        let temps = &mut self.temps;
        let (r_evals, r_cache) = (&mut self.r_evals, &mut self.r_cache);
        let (draws, ones, w) = (&self.draws, &self.ones, &self.w_inv[..b]);
        let gs = &mut self.g;
        let hard = &mut self.hard;
        model.forward(theta, hard, b, kk, Chain::Hard);
        finite_elbo(&hard.f[..b])?;
        model.backward(theta, hard, b, kk, Chain::Hard, w, Some(grad));
        // The hard pass leaves what the relaxed passes read as it was sampled, so they read
        // it in place.
        let relaxing = Relaxing {
            model,
            theta,
            from: hard,
            draws,
            ones,
        };
        // One after another, each split among the product threads by the weights' column
        // blocks (not as two tasks side by side: see the doc comment).
        scores(relaxing.from, draws, gs, b, kk);
        r_passes(relaxing.from, draws, ones, cv, r_evals, r_cache, b);
        relaxing.passes(cfg, cv, soft, evals, train_cv.then_some(&mut temps[..]), b);
        Ok(())
    }

    /// Backpropagates every layer's logit gradient `g` through the encoders into `grad`; in
    /// RELAX's training, before it its network's second derivative ([`r_mixed`]) and after
    /// it the network's step ([`r_step`]) (one after another, each split among the product
    /// threads: see [`Self::sample_relaxed`]).
    pub(super) fn encoders(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        grad: &mut [f32],
        train_cv: bool,
    ) -> Result<()> {
        let relax_train = self.cfg.kind == EstimatorKind::Relax && train_cv;
        if relax_train {
            let (cv, r_evals) = (&self.cv, &self.r_evals);
            r_mixed(model, cv, r_evals, &mut self.r_cache, &mut self.grad_phi, b);
        }
        // The encoders' backward last, right before the model's Adam step reads the
        // gradients it leaves.
        for (k, g) in self.g.iter_mut().enumerate().take(model.layers) {
            flush(&mut g[..b * N]);
            model.encoder_backward(theta, &mut self.hard, b, k, g, grad);
        }
        if relax_train {
            // RELAX's network's Adam step.
            let wd = self.cfg.cv_weight_decay * (b * b * b * N) as f32;
            r_step(&mut self.cv, &mut self.adam, &mut self.grad_phi, wd)?;
        }
        Ok(())
    }

    /// Copies the hard pass into the soft pass for a control variate of layer `k` (see
    /// [`prep`]).
    pub(super) fn prep_soft(&mut self, b: usize, k: usize, zero_noise: bool) {
        prep(&self.hard, &mut self.soft, b, k, zero_noise);
    }

    /// REBAR or RELAX for layer `k`, after the relaxed passes ([`Relaxing::passes`]) and the
    /// hard pass: adds the estimate to `self.g[k]` and, in training, the variance gradient
    /// to `grad_phi`; returns the variance loss.
    pub(super) fn relax_layer(&mut self, b: usize, k: usize, train: bool) -> Result<f64> {
        let inv = 1.0 / b as f32;
        let eta = self.cv.phi[self.cv.eta[k]];
        let is_relax = self.cfg.kind == EstimatorKind::Relax;
        let ev = &self.evals[k];
        let tv = &self.temps[k];
        let rev = self.r_evals.get(k);
        // The reference's variance loss is kappa sum_r |g_r|^2 with kappa = 1 / (B^3 N) (the
        // mean over batch and latents of (g / B)^2), plus wd/2 |rho|^2. Its gradient is
        // taken here times 1/kappa (and the weight decay as wd/kappa, in `step`): Adam does
        // not see a constant factor, and at kappa = 4e-7 the gradients of RELAX's network
        // reached the subnormal range, which slowed training several times over.
        let kappa_report = 1.0 / ((b * b * b * N) as f64);
        let kappa = 1.0f32;
        // Each row alone on the product threads (its gradient, U and A), then the sums over
        // rows in row order, so the same bits on any number of threads.
        let (hard, draws, r_out) = (&self.hard, &self.draws[k], self.r_cache.get(k));
        let row_terms = |(r, (((g, u), a), t)): RowOut<'_>| {
            let fz = ev.fz[r];
            let rv = if is_relax {
                r_out.map_or(0.0, |c| c.out[r])
            } else {
                0.0
            };
            // graw = dF/dz + dr/dz, so that dc/dz = eta graw.
            let mut graw = [0.0f32; N];
            for j in 0..N {
                let gr = rev.map_or(0.0, |e| e.rdx[r * N + j]);
                graw[j] = ev.gc[r * N + j] + gr;
            }
            let gcz: [f32; N] = core::array::from_fn(|j| eta * graw[j]);
            let c = eta * (fz + rv);
            let l = row::<N>(&hard.l[k], r);
            let draw = &draws[r];
            let gr = relax_combine::<Bernoulli<N>, N>(l, draw, hard.f[r], c, &gcz, &gcz)
                .map_err(|e| format!("RELAX layer {k}: {e}"))?;
            add_scaled(g, &gr, inv);
            if !train {
                *t = RowTerms::default();
                return Ok(());
            }
            let dirs = relax_variance_directions::<Bernoulli<N>, N>(l, draw, &gr);
            // Tied coupling: c(z~) = c(z) in value and gradient, so the two terms merge into
            // d/dphi [A c(z) + U . dc/dz(z)].
            let av = dirs.alpha_z + dirs.alpha_zt;
            let mut ug = 0.0f32;
            for j in 0..N {
                let uj = dirs.u_z[j] + dirs.u_zt[j];
                u[j] = uj;
                ug += uj * graw[j];
            }
            *a = av;
            // d/d eta [A c + U . dc/dz] = A (F + r) + U . graw.
            let d_eta = kappa * (av * (fz + rv) + ug);
            let var = kappa_report * gr.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
            *t = RowTerms {
                eta: [d_eta, 0.0],
                var,
                ..RowTerms::default()
            };
            Ok::<_, String>(())
        };
        let rows = self.g[k][..b * N]
            .par_chunks_mut(N)
            .zip(self.u[..b * N].par_chunks_mut(N))
            .zip(self.a[..b].par_iter_mut())
            .zip(self.terms[..b].par_iter_mut())
            .enumerate()
            .with_min_len(rows_per_thread(b));
        first_error(rows, row_terms)?;
        let mut var_loss = 0.0f64;
        let mut d_eta = 0.0f32;
        for t in &self.terms[..b] {
            d_eta += t.eta[0];
            var_loss += t.var;
        }
        if !train {
            return Ok(0.0);
        }
        self.grad_phi[self.cv.eta[k]] += d_eta;
        // RELAX's network: the weights of the mixed second derivative, scaled by kappa eta
        // (applied in `r_step`).
        if let Some(rev) = self.r_evals.get_mut(k) {
            let s = kappa * eta;
            for r in 0..b {
                rev.alpha[r] = s * self.a[r];
                for j in 0..N {
                    rev.ru[r * N + j] = s * self.u[r * N + j];
                }
            }
            flush(&mut rev.ru[..b * N]);
            flush(&mut rev.alpha[..b]);
        }
        // The temperature: a central difference of sum_r kappa eta [A F + U . grad F] in
        // log-temperature (F is the user's objective: no Hessian-vector product here), on
        // the first `fd_rows` rows of the (shuffled) batch, scaled up to the batch; `F` and
        // its gradient at the two temperatures are in `pf`, `pgc`.
        let h = self.cfg.fd_step;
        let fr = self.cfg.fd_rows.clamp(1, b);
        let mut q = [0.0f64; 2];
        for (i, qi) in q.iter_mut().enumerate() {
            let o = i * fr;
            let mut acc = 0.0f64;
            for r in 0..fr {
                let mut ug = 0.0f32;
                for j in 0..N {
                    ug += self.u[r * N + j] * tv.pgc[(o + r) * N + j];
                }
                acc += (kappa * eta * (self.a[r] * tv.pf[o + r] + ug)) as f64;
            }
            *qi = acc * b as f64 / fr as f64;
        }
        self.grad_phi[self.cv.log_temp[k]] += ((q[0] - q[1]) / (2.0 * h as f64)) as f32;
        Ok(var_loss)
    }
}
