//! The relaxed passes of REBAR and RELAX (and MuProp's mean-field pass): the soft copies of
//! the hard pass for a layer's control variate, and each layer's RELAX/REBAR gradient with its
//! variance-loss gradient.

use super::*;

impl<const N: usize> VaeEstimator<N> {
    /// Copies the hard pass into the soft pass for a control variate of layer `k`: `x`,
    /// the layers below `k`, the logits of `k`, and the noise above (or zero noise).
    pub(super) fn prep_soft(&mut self, b: usize, k: usize, zero_noise: bool) {
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
    pub(super) fn soft_eval(&mut self, model: &Vae, theta: &[f32], b: usize, k: usize, lam: f32) {
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

    /// [`Self::soft_eval`] of the first `fr` rows at two temperatures in one pass, for the
    /// top layer `k` only: rows `i fr + r` hold row `r` at `lams[i]` (values in `soft.f`,
    /// `z_k`-gradients in `gc`).
    fn soft_eval_pair(&mut self, model: &Vae, theta: &[f32], fr: usize, k: usize, lams: [f32; 2]) {
        debug_assert!(k + 1 == model.layers && 2 * fr <= self.soft.cap);
        let rows = 2 * fr;
        self.prep_soft(fr, k, false);
        let (p, m) = (model.pixels, fr * N);
        self.soft.x.copy_within(..fr * p, fr * p);
        self.soft.xc.copy_within(..fr * p, fr * p);
        for j in 0..=k {
            self.soft.l[j].copy_within(..m, m);
            if j < k {
                self.soft.s[j].copy_within(..m, m);
            }
        }
        for (i, &lam) in lams.iter().enumerate() {
            for r in 0..fr {
                let x = Bernoulli::<N>::relax(&self.draws[k][r].z, lam);
                let o = i * fr + r;
                self.soft.s[k][o * N..(o + 1) * N].copy_from_slice(&x);
            }
        }
        // The temperature of the chain is unused: no layer above k.
        model.forward(theta, &mut self.soft, rows, k, Chain::Soft(lams[0]));
        model.backward(
            theta,
            &mut self.soft,
            rows,
            k,
            Chain::Soft(lams[0]),
            &self.ones[..rows],
            None,
        );
        for (i, &lam) in lams.iter().enumerate() {
            for r in 0..fr {
                let o = i * fr + r;
                let gz = Bernoulli::<N>::relax_jvp(
                    row(&self.soft.s[k], o),
                    lam,
                    row(&self.soft.ds[k], o),
                );
                let gz = Bernoulli::<N>::z_vjp(row(&self.hard.l[k], r), &gz);
                self.gc[o * N..(o + 1) * N].copy_from_slice(&gz);
            }
        }
        flush(&mut self.gc[..rows * N]);
    }

    /// REBAR or RELAX for layer `k`: adds the estimate to `self.g[k]` and, in training, the
    /// variance gradient to `grad_phi`; returns the variance loss.
    pub(super) fn relax_layer(
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
                None,
            );
            // dr/dz only: the z columns of the input gradient.
            net.input_grad_cols(&self.cv.phi, b, &self.r_cache[k], p..p + N, &mut self.rdx);
            flush(&mut self.rdx[..b * N]);
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
                let gr = if is_relax { self.rdx[r * N + j] } else { 0.0 };
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
            for r in 0..b {
                self.alpha[r] = s * self.a[r];
                for j in 0..N {
                    self.ru[r * N + j] = s * self.u[r * N + j];
                }
            }
            flush(&mut self.ru[..b * N]);
            flush(&mut self.alpha[..b]);
            let net = &self.cv.r[k];
            net.mixed_backward(
                &self.cv.phi,
                &self.rin,
                &self.ru,
                p..p + N,
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
        let lams = [(t + h).exp(), (t - h).exp()];
        // Both temperatures in one pass where the layer is the top one (nothing above it is
        // chained at a temperature): each row's products are the same sums, so the same
        // bits, and the weights are packed once instead of twice.
        let paired = k + 1 == model.layers && 2 * fr <= self.soft.cap;
        if paired {
            self.soft_eval_pair(model, theta, fr, k, lams);
        }
        let mut q = [0.0f64; 2];
        for (i, qi) in q.iter_mut().enumerate() {
            let o = if paired {
                i * fr
            } else {
                self.soft_eval(model, theta, fr, k, lams[i]);
                0
            };
            let mut acc = 0.0f64;
            for r in 0..fr {
                let mut ug = 0.0f32;
                for j in 0..N {
                    ug += self.u[r * N + j] * self.gc[(o + r) * N + j];
                }
                acc += (kappa * eta * (self.a[r] * self.soft.f[o + r] + ug)) as f64;
            }
            *qi = acc * b as f64 / fr as f64;
        }
        self.grad_phi[self.cv.log_temp[k]] += ((q[0] - q[1]) / (2.0 * h as f64)) as f32;
        Ok(var_loss)
    }
}
