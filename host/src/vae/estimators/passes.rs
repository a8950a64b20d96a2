//! MuProp, DisARM and Concrete for every layer, NVIL's and RLOO's per-row combination, and the
//! NVIL baseline's forward pass.

use super::*;
use crate::vae::rows::{first_error, rows_per_thread};

impl<const N: usize> VaeEstimator<N> {
    /// MuProp for every layer (baseline already in `self.fb`).
    pub(super) fn muprop(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        centre: f32,
    ) -> Result<()> {
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
            // Each row alone on the product threads (its estimate into its row of `g`), then
            // the sums over rows in row order: the same bits on any number of threads.
            let (hard, soft, draws, fb) = (&self.hard, &self.soft, &self.draws[k], &self.fb);
            let rows = self.g[k][..b * N]
                .par_chunks_mut(N)
                .zip(self.terms[..b].par_iter_mut())
                .enumerate()
                .with_min_len(rows_per_thread(b));
            first_error(rows, |(r, (g, t))| {
                let s = muprop_combine::<N>(
                    row(&hard.l[k], r),
                    &draws[r].b,
                    hard.f[r],
                    soft.f[r],
                    row(&soft.ds[k], r),
                    centre + fb[r],
                    eta,
                )
                .map_err(|e| format!("MuProp layer {k}: {e}"))?;
                add_scaled(g, &s.grad, inv);
                t.eta = s.eta_grad;
                t.baseline = s.baseline_grad;
                Ok::<_, String>(())
            })?;
            for (r, t) in self.terms[..b].iter().enumerate() {
                self.grad_phi[o] += inv * t.eta[0];
                self.grad_phi[o + 1] += inv * t.eta[1];
                self.dbase[r] += inv * t.baseline;
            }
        }
        Ok(())
    }

    /// DisARM for every layer: the antithetic path differs from the sampled one at layer
    /// `k` and redraws the layers above from the same noise.
    pub(super) fn disarm(&mut self, model: &Vae, theta: &[f32], b: usize) -> Result<()> {
        let inv = 1.0 / b as f32;
        for k in 0..model.layers {
            self.prep_soft(b, k, false);
            // Each row alone on the product threads: the same bits on any number of threads.
            let per = rows_per_thread(b);
            let (hard, draws) = (&self.hard, &self.draws[k]);
            self.soft.s[k][..b * N]
                .par_chunks_mut(N)
                .enumerate()
                .with_min_len(per)
                .for_each(|(r, s)| {
                    s.copy_from_slice(&disarm_antithetic(row(&hard.l[k], r), &draws[r].z))
                });
            model.forward(theta, &mut self.soft, b, k, Chain::Hard);
            let soft = &self.soft;
            let rows = self.g[k][..b * N]
                .par_chunks_mut(N)
                .enumerate()
                .with_min_len(per);
            first_error(rows, |(r, g)| {
                let d = disarm_combine(
                    row(&hard.l[k], r),
                    &draws[r].b,
                    row(&soft.s[k], r),
                    hard.f[r],
                    soft.f[r],
                )
                .map_err(|e| format!("DisARM layer {k}: {e}"))?;
                add_scaled(g, &d, inv);
                Ok::<_, String>(())
            })?;
        }
        Ok(())
    }

    /// Concrete: the reparameterisation gradient of the relaxed objective, every layer
    /// relaxed at the fixed temperature, through decoders, prior and encoders.
    pub(super) fn concrete(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        grad: &mut [f32],
    ) -> Result<()> {
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
    pub(super) fn baseline_forward(&mut self, b: usize) {
        let net = self.cv.baseline.as_ref().expect("baseline");
        let cache = self.b_cache.as_mut().expect("cache");
        net.forward(&self.cv.phi, &self.hard.xc, b, cache);
        self.fb[..b].copy_from_slice(&cache.out[..b]);
    }
}

/// NVIL's combination (`nvil_combine`, also RLOO's) of layer `k` of the sampled pass `hard`
/// for the first `b` rows, row `r` against the baseline `base[r]`: adds `inv` times each row's
/// estimate to its row of `g` (the layer's logit gradient) and sets `terms[r].baseline` to
/// the row's baseline gradient. Each row alone on the product threads (the same bits on any
/// number of threads); an error names `what` and the first failing row's error.
#[allow(clippy::too_many_arguments)]
pub(super) fn combine_rows<const N: usize>(
    hard: &Pass,
    draws: &[Draw<N>],
    g: &mut [f32],
    terms: &mut [RowTerms],
    k: usize,
    b: usize,
    inv: f32,
    what: &str,
    base: &[f32],
) -> Result<()> {
    let (l, f) = (&hard.l[k], &hard.f);
    let rows = g[..b * N]
        .par_chunks_mut(N)
        .zip(terms[..b].par_iter_mut())
        .enumerate()
        .with_min_len(rows_per_thread(b));
    first_error(rows, |(r, (g, t))| {
        let s = nvil_combine::<Bernoulli<N>, N>(row(l, r), &draws[r].b, f[r], base[r])
            .map_err(|e| format!("{what}: {e}"))?;
        add_scaled(g, &s.grad, inv);
        t.baseline = s.baseline_grad;
        Ok::<_, String>(())
    })?;
    Ok(())
}
