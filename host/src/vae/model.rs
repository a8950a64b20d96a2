//! The sigmoid belief network VAEs of the paper (section 6.2, after Tucker et al.): 200
//! Bernoulli latents per stochastic layer, learned prior logits, encoder input `x - mean`,
//! every later mapping fed `2 s - 1`, decoder output bias starting at `logit(mean)`.
//!
//! | model | encoder | decoder |
//! |---|---|---|
//! | `linear1` | `q(b|x) = sigmoid(xW + c)` | `p(x|b) = sigmoid(bW + c)`, `p(b)` |
//! | `linear2` | `q(b1|x)`, `q(b2|b1)` | `p(b2)`, `p(b1|b2)`, `p(x|b1)` |
//! | `nonlinear` | two 200-unit tanh layers, then linear | the same in each mapping |
//!
//! The objective is the single-sample negative ELBO, `f = -log p(x, s) + log q(s | x)`, with
//! every Bernoulli log-likelihood written `l(s; a) = sum s a - softplus(a)` so that it also
//! takes relaxed `s` in `[0, 1]` (what REBAR's, RELAX's and MuProp's control variates and
//! Concrete evaluate).
//!
//! A [`Pass`] evaluates `f` for a batch with the layers below `f0` hard, layer `f0` given by
//! the caller, and the layers above it *chained*: `s_k = H(l_k + e_k)` (hard) or
//! `sigmoid((l_k + e_k) / lambda)` (soft), with `l_k` computed from `s_{k-1}` and the noise
//! `e_k` given. This is Tucker et al.'s construction for a control variate of layer `f0`
//! (continuous in `z_{f0}`, so the reparameterisation is valid) and, with `e = 0` and
//! `lambda = 1`, MuProp's mean-field network.

use super::layers::{Act, Net, NetCache, ParamLayout};
use crate::Result;
use rand_core::Rng;

/// Which architecture.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum ModelKind {
    /// One stochastic layer, linear mappings.
    Linear1,
    /// Two stochastic layers, linear mappings.
    Linear2,
    /// One stochastic layer, each mapping two 200-unit tanh layers then linear.
    Nonlinear,
}

impl ModelKind {
    /// Short name.
    pub fn label(self) -> &'static str {
        match self {
            ModelKind::Linear1 => "linear1",
            ModelKind::Linear2 => "linear2",
            ModelKind::Nonlinear => "nonlinear",
        }
    }
}

/// How the layers above the given one are formed in a [`Pass`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chain {
    /// `s_k = H(l_k + e_k)`.
    Hard,
    /// `s_k = sigmoid((l_k + e_k) / lambda)`.
    Soft(f32),
}

/// A VAE's architecture; its parameters live in one flat vector elsewhere.
#[derive(Debug, Clone)]
pub struct Vae {
    /// Architecture.
    pub kind: ModelKind,
    /// Pixels per image.
    pub pixels: usize,
    /// Latents per stochastic layer.
    pub latents: usize,
    /// Stochastic layers (1 or 2).
    pub layers: usize,
    /// `enc[k]`: logits of `q(s_k | .)` from `x - mean` (k = 0) or `2 s_{k-1} - 1`.
    pub enc: Vec<Net>,
    /// `dec[0]`: pixel logits from `2 s_0 - 1`; `dec[k]`, k >= 1: logits of `p(s_{k-1} | s_k)`.
    pub dec: Vec<Net>,
    /// Offset of the prior logits of the top layer.
    pub prior: usize,
    /// Number of parameters.
    pub n_params: usize,
    /// Training mean of the pixels.
    pub mean: Vec<f32>,
}

/// Buffers of one evaluation of `f` on up to `cap` rows (allocated once).
#[derive(Debug, Clone)]
pub struct Pass {
    /// Capacity in rows.
    pub cap: usize,
    /// Pixels (0/1), `cap x pixels`.
    pub x: Vec<f32>,
    /// `x - mean`.
    pub xc: Vec<f32>,
    /// Per layer: logits `l_k`.
    pub l: Vec<Vec<f32>>,
    /// Per layer: values `s_k` (bits or relaxed).
    pub s: Vec<Vec<f32>>,
    /// Per layer: `2 s_k - 1`.
    pub inp: Vec<Vec<f32>>,
    /// Per layer: logistic noise `e_k` (`z_k = l_k + e_k`).
    pub eps: Vec<Vec<f32>>,
    /// Per row: `f`.
    pub f: Vec<f32>,
    /// Per layer: `df/ds_k` after a backward pass (only for `k >= f0`).
    pub ds: Vec<Vec<f32>>,
    scratch_n: Vec<f32>,
    scratch_n2: Vec<f32>,
    scratch_p: Vec<f32>,
    /// Encoder caches.
    pub enc_c: Vec<NetCache>,
    /// Decoder caches.
    pub dec_c: Vec<NetCache>,
}

use super::fastmath::{ll, pixel_grad};
pub use super::fastmath::{sigmoid, softplus};
use super::rows::{par_copy, par_rows, rows_per_thread};
use rayon::prelude::*;

impl Vae {
    /// Builds the architecture and initial parameters (Glorot-uniform weights, zero biases
    /// and prior, decoder output bias `logit(clip(mean, 0.001, 0.999))`), each weight matrix
    /// in as many column blocks as the products have threads ([`super::linalg::threads`];
    /// see [`Vae::new_in_parts`]).
    pub fn new<R: Rng + ?Sized>(
        kind: ModelKind,
        pixels: usize,
        latents: usize,
        mean: &[f32],
        hidden: usize,
        rng: &mut R,
    ) -> Result<(Self, Vec<f32>)> {
        let parts = super::linalg::threads();
        Self::new_in_parts(kind, pixels, latents, mean, hidden, parts, rng)
    }

    /// [`Vae::new`] with each weight matrix in `parts` column blocks ([`super::layers::Dense`]):
    /// the same weights, drawn in the same order, stored otherwise.
    pub fn new_in_parts<R: Rng + ?Sized>(
        kind: ModelKind,
        pixels: usize,
        latents: usize,
        mean: &[f32],
        hidden: usize,
        parts: usize,
        rng: &mut R,
    ) -> Result<(Self, Vec<f32>)> {
        if mean.len() != pixels {
            return Err("VAE: mean has the wrong length".into());
        }
        let mut lay = ParamLayout::with_parts(parts);
        let (n, p, h) = (latents, pixels, hidden);
        let (enc, dec, layers) = match kind {
            ModelKind::Linear1 => (
                vec![Net::new(&mut lay, &[p, n], Act::Tanh)],
                vec![Net::new(&mut lay, &[n, p], Act::Tanh)],
                1,
            ),
            ModelKind::Linear2 => (
                vec![
                    Net::new(&mut lay, &[p, n], Act::Tanh),
                    Net::new(&mut lay, &[n, n], Act::Tanh),
                ],
                vec![
                    Net::new(&mut lay, &[n, p], Act::Tanh),
                    Net::new(&mut lay, &[n, n], Act::Tanh),
                ],
                2,
            ),
            ModelKind::Nonlinear => (
                vec![Net::new(&mut lay, &[p, h, h, n], Act::Tanh)],
                vec![Net::new(&mut lay, &[n, h, h, p], Act::Tanh)],
                1,
            ),
        };
        let prior = lay.vector(n);
        let vae = Self {
            kind,
            pixels,
            latents,
            layers,
            enc,
            dec,
            prior,
            n_params: lay.len,
            mean: mean.to_vec(),
        };
        let mut params = vec![0.0f32; vae.n_params];
        for net in vae.enc.iter().chain(&vae.dec) {
            net.init(&mut params, 1.0, rng);
        }
        let out = vae.dec[0].layers.last().expect("layer").b;
        for (b, &m) in params[out..out + p].iter_mut().zip(mean) {
            let m = m.clamp(0.001, 0.999);
            *b = (m / (1.0 - m)).ln();
        }
        Ok((vae, params))
    }

    /// The column blocks of every weight matrix ([`super::layers::Dense`]).
    pub fn parts(&self) -> usize {
        self.enc[0].layers[0].parts
    }

    /// Every weight matrix and bias vector, and the prior, as `(offset, rows, columns)` in
    /// the flat parameter vector (for [`super::adam::AdamVec::set_matrices`]).
    pub fn matrices(&self) -> Vec<(usize, usize, usize)> {
        let mut m: Vec<_> = self
            .enc
            .iter()
            .chain(&self.dec)
            .flat_map(Net::matrices)
            .collect();
        m.push((self.prior, 1, self.latents));
        m
    }

    /// Buffers for up to `cap` rows.
    pub fn pass(&self, cap: usize) -> Pass {
        let (n, p, k) = (self.latents, self.pixels, self.layers);
        let lat = || vec![vec![0.0f32; cap * n]; k];
        Pass {
            cap,
            x: vec![0.0; cap * p],
            xc: vec![0.0; cap * p],
            l: lat(),
            s: lat(),
            inp: lat(),
            eps: lat(),
            f: vec![0.0; cap],
            ds: lat(),
            scratch_n: vec![0.0; cap * n],
            scratch_n2: vec![0.0; cap * n],
            scratch_p: vec![0.0; cap * p],
            enc_c: self.enc.iter().map(|e| e.cache(cap)).collect(),
            dec_c: self.dec.iter().map(|d| d.cache(cap)).collect(),
        }
    }

    /// Sets `pass.x` to `x` (`rows x pixels`) and `pass.xc = x - mean`.
    pub fn set_input(&self, pass: &mut Pass, x: &[f32], rows: usize) {
        let p = self.pixels;
        let per = rows_per_thread(rows) * p;
        pass.x[..rows * p]
            .par_chunks_mut(per)
            .zip(pass.xc[..rows * p].par_chunks_mut(per))
            .zip(x[..rows * p].par_chunks(per))
            .with_max_len(1)
            .for_each(|((dst, xc), x)| {
                dst.copy_from_slice(x);
                for (row, xrow) in xc.chunks_mut(p).zip(x.chunks(p)) {
                    for ((c, &v), &m) in row.iter_mut().zip(xrow).zip(&self.mean) {
                        *c = v - m;
                    }
                }
            });
    }

    /// `l_0 = enc_0(x - mean)` into `pass.l[0]`.
    pub fn encode_first(&self, theta: &[f32], pass: &mut Pass, rows: usize) {
        self.enc[0].forward(theta, &pass.xc, rows, &mut pass.enc_c[0]);
        par_copy(&mut pass.l[0], &pass.enc_c[0].out, rows, self.latents);
    }

    /// `l_k = enc_k(2 s_{k-1} - 1)` into `pass.l[k]` (k >= 1).
    pub fn encode_next(&self, theta: &[f32], pass: &mut Pass, rows: usize, k: usize) {
        let m = rows * self.latents;
        for i in 0..m {
            pass.inp[k - 1][i] = 2.0 * pass.s[k - 1][i] - 1.0;
        }
        self.enc[k].forward(theta, &pass.inp[k - 1], rows, &mut pass.enc_c[k]);
        pass.l[k][..m].copy_from_slice(&pass.enc_c[k].out[..m]);
    }

    /// Evaluates `f` per row into `pass.f`. The caller has set `x`, and `l_k`, `s_k` for
    /// `k <= f0`; layers above `f0` are chained from `pass.eps` as `chain` says (`f0 =
    /// layers` means every layer was given).
    pub fn forward(&self, theta: &[f32], pass: &mut Pass, rows: usize, f0: usize, chain: Chain) {
        let (n, p, kk) = (self.latents, self.pixels, self.layers);
        let m = rows * n;
        for k in f0 + 1..kk {
            self.encode_next(theta, pass, rows, k);
            for i in 0..m {
                let z = pass.l[k][i] + pass.eps[k][i];
                pass.s[k][i] = match chain {
                    Chain::Hard => {
                        if z > 0.0 {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Chain::Soft(t) => sigmoid(z / t),
                };
            }
        }
        for k in 0..kk {
            let s = &pass.s[k];
            par_rows(&mut pass.inp[k], rows, n, |r, inp| {
                for (d, &s) in inp.iter_mut().zip(&s[r * n..(r + 1) * n]) {
                    *d = 2.0 * s - 1.0;
                }
            });
        }
        for (k, d) in self.dec.iter().enumerate() {
            d.forward(theta, &pass.inp[k], rows, &mut pass.dec_c[k]);
        }
        let prior = &theta[self.prior..self.prior + n];
        let Pass {
            f, x, s, l, dec_c, ..
        } = pass;
        let row_f = |r: usize| {
            let rn = r * n..(r + 1) * n;
            let mut f = -ll(&x[r * p..(r + 1) * p], &dec_c[0].out[r * p..(r + 1) * p]);
            for k in 0..kk {
                f += ll(&s[k][rn.clone()], &l[k][rn.clone()]);
                if k + 1 < kk {
                    f -= ll(&s[k][rn.clone()], &dec_c[k + 1].out[rn.clone()]);
                } else {
                    f -= ll(&s[k][rn.clone()], prior);
                }
            }
            f
        };
        // Each row alone, so the same bits on any number of threads.
        super::rows::par_fill(&mut f[..rows], row_f);
    }

    /// Backward pass of `sum_r w_r f_r` after [`Vae::forward`] with the same `f0` and
    /// `chain`: adds the parameter gradient of the decoders, the prior and the chained
    /// encoders (`enc_k`, `k > f0`) into `grad` when given, and, when `f0 < layers`, leaves
    /// `df/ds_{f0}` in `pass.ds[f0]`. The logits `l_{f0}` and below are constants here.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        theta: &[f32],
        pass: &mut Pass,
        rows: usize,
        f0: usize,
        chain: Chain,
        w: &[f32],
        mut grad: Option<&mut [f32]>,
    ) {
        let (n, p, kk) = (self.latents, self.pixels, self.layers);
        let m = rows * n;
        let need = |k: usize| k >= f0;
        for k in f0..kk {
            let l = &pass.l[k];
            par_rows(&mut pass.ds[k], rows, n, |r, ds| {
                for (d, &l) in ds.iter_mut().zip(&l[r * n..(r + 1) * n]) {
                    *d = w[r] * l;
                }
            });
        }
        // Pixels: d(-l(x; a0))/da0 = sigmoid(a0) - x.
        // By rows on the product threads (each element alone: the same bits).
        // By the decoder's column blocks, on the threads that computed those pixels' logits
        // and will multiply their gradients (each element alone: the same bits).
        let (out, x) = (&pass.dec_c[0].out, &pass.x);
        let last = self.dec[0].layers.last().expect("a layer");
        last.by_blocks(&mut pass.scratch_p, rows, |c0, r0, segs| {
            for (i, seg) in segs.iter_mut().enumerate() {
                let r = r0 + i;
                let at = r * p + c0..r * p + c0 + seg.len();
                pixel_grad(seg, &out[at.clone()], &x[at], &w[r..r + 1], seg.len());
            }
        });
        let dx = if need(0) {
            Some(&mut pass.scratch_n[..])
        } else {
            None
        };
        let has_dx = dx.is_some();
        self.dec[0].backward(
            theta,
            &pass.inp[0],
            rows,
            &mut pass.dec_c[0],
            &pass.scratch_p,
            grad.as_deref_mut(),
            dx,
        );
        if has_dx {
            let dx = &pass.scratch_n;
            par_rows(&mut pass.ds[0], rows, n, |r, ds| {
                for (d, &v) in ds.iter_mut().zip(&dx[r * n..(r + 1) * n]) {
                    *d += 2.0 * v;
                }
            });
        }
        // p(s_{k} | s_{k+1}) through dec[k + 1].
        for k in 0..kk.saturating_sub(1) {
            for r in 0..rows {
                for i in r * n..(r + 1) * n {
                    let a = pass.dec_c[k + 1].out[i];
                    let v = w[r] * (sigmoid(a) - pass.s[k][i]);
                    pass.scratch_n2[i] = if v.abs() < 1e-30 { 0.0 } else { v };
                    if need(k) {
                        pass.ds[k][i] -= w[r] * a;
                    }
                }
            }
            let dx = if need(k + 1) {
                Some(&mut pass.scratch_n[..])
            } else {
                None
            };
            let has_dx = dx.is_some();
            self.dec[k + 1].backward(
                theta,
                &pass.inp[k + 1],
                rows,
                &mut pass.dec_c[k + 1],
                &pass.scratch_n2,
                grad.as_deref_mut(),
                dx,
            );
            if has_dx {
                for i in 0..m {
                    pass.ds[k + 1][i] += 2.0 * pass.scratch_n[i];
                }
            }
        }
        // Prior of the top layer.
        let top = kk - 1;
        let prior = &theta[self.prior..self.prior + n];
        if let Some(g) = grad.as_deref_mut() {
            // sigmoid of each prior logit once, not once a row (the same values); each
            // gradient element still adds the rows in order.
            let sig = &mut pass.scratch_n[..n];
            for (sg, &a) in sig.iter_mut().zip(prior) {
                *sg = sigmoid(a);
            }
            let g = &mut g[self.prior..self.prior + n];
            for r in 0..rows {
                let s = &pass.s[top][r * n..(r + 1) * n];
                for ((g, &sg), &s) in g.iter_mut().zip(sig.iter()).zip(s) {
                    *g += w[r] * (sg - s);
                }
            }
        }
        if need(top) {
            for r in 0..rows {
                let ds = &mut pass.ds[top][r * n..(r + 1) * n];
                for (d, &a) in ds.iter_mut().zip(prior) {
                    *d -= w[r] * a;
                }
            }
        }
        // The chain, top down: s_k = chain(l_k(s_{k-1}) + e_k).
        for k in (f0 + 1..kk).rev() {
            let t = match chain {
                Chain::Soft(t) => t,
                Chain::Hard => panic!("Vae::backward: a hard chain has no derivative"),
            };
            for r in 0..rows {
                for i in r * n..(r + 1) * n {
                    let s = pass.s[k][i];
                    let dz = pass.ds[k][i] * s * (1.0 - s) / t;
                    let v = dz + w[r] * (s - sigmoid(pass.l[k][i]));
                    // No subnormals into the matrix product (they are slow; see estimators).
                    pass.scratch_n2[i] = if v.abs() < 1e-30 { 0.0 } else { v };
                }
            }
            self.enc[k].backward(
                theta,
                &pass.inp[k - 1],
                rows,
                &mut pass.enc_c[k],
                &pass.scratch_n2,
                grad.as_deref_mut(),
                Some(&mut pass.scratch_n),
            );
            for i in 0..m {
                pass.ds[k - 1][i] += 2.0 * pass.scratch_n[i];
            }
        }
    }

    /// Adds to `grad` the parameter gradient of `sum dl . l_k` through `enc_k` (after the
    /// forward pass of `pass` that computed `l_k`).
    pub fn encoder_backward(
        &self,
        theta: &[f32],
        pass: &mut Pass,
        rows: usize,
        k: usize,
        dl: &[f32],
        grad: &mut [f32],
    ) {
        let (enc_c, input) = if k == 0 {
            (&mut pass.enc_c[0], &pass.xc)
        } else {
            (&mut pass.enc_c[k], &pass.inp[k - 1])
        };
        self.enc[k].backward(theta, input, rows, enc_c, dl, Some(grad), None);
    }
}

#[cfg(test)]
mod tests;
