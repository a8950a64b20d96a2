//! RELAX's control-variate network `r_rho` in the VAE's estimator: its passes at each
//! layer's `z` (value and `dr/dz`), the mixed second derivative of the variance loss, and
//! its Adam step.

use super::*;

/// RELAX's network `r(z)` of one layer: its input and `dr/dz` (its value is in its cache).
#[derive(Debug, Clone)]
pub(super) struct REvals {
    /// `[x - mean, z_k, 2 b_j - 1 for j < k]` per row.
    pub(super) rin: Vec<f32>,
    /// `dr/dz_k`, `rows x N`.
    pub(super) rdx: Vec<f32>,
    /// The variance loss's `A` per row times `kappa eta` (the value's weight in
    /// [`Net::mixed_backward`]).
    pub(super) alpha: Vec<f32>,
    /// Its `U` per row times `kappa eta` (the tangent in `z`), `rows x N`.
    pub(super) ru: Vec<f32>,
}

impl REvals {
    /// Buffers for up to `cap` rows of `n` latents and `r_in` inputs.
    pub(super) fn new(cap: usize, n: usize, r_in: usize) -> Self {
        Self {
            rin: vec![0.0; cap * r_in],
            rdx: vec![0.0; cap * n],
            alpha: vec![0.0; cap],
            ru: vec![0.0; cap * n],
        }
    }
}

/// RELAX's training of its network, after every layer's [`VaeEstimator::relax_layer`]: adds
/// the mixed second derivative of each layer's network to `grad_phi` (then [`r_step`]).
pub(super) fn r_mixed(
    model: &Vae,
    cv: &CvParams,
    evals: &[REvals],
    r_cache: &mut [NetCache],
    grad_phi: &mut [f32],
    b: usize,
) {
    let n = model.latents;
    let p = model.pixels;
    for ((net, ev), cache) in cv.r.iter().zip(evals).zip(r_cache.iter_mut()) {
        net.mixed_backward(
            &cv.phi,
            &ev.rin,
            &ev.ru,
            p..p + n,
            &ev.alpha,
            b,
            cache,
            grad_phi,
        );
    }
}

/// RELAX's step for its network after [`r_mixed`]: adds the weight decay `wd` to `grad_phi`,
/// then takes the Adam step on `cv.phi`.
pub(super) fn r_step(
    cv: &mut CvParams,
    adam: &mut AdamVec,
    grad_phi: &mut [f32],
    wd: f32,
) -> std::result::Result<(), String> {
    // wd / kappa: see `relax_layer` (the variance gradient is taken times 1/kappa).
    for net in &cv.r {
        let (lo, hi) = (net.layers[0].w, net.layers.last().expect("layer").b + 1);
        adam.add_decay(grad_phi, &cv.phi, lo..hi, wd);
    }
    if adam.step(&mut cv.phi, grad_phi) {
        Ok(())
    } else {
        Err("non-finite control-variate gradient".into())
    }
}

/// RELAX's network at every layer's `z` (value in `r_cache[k]`, `dr/dz` and its input in
/// `evals[k]`), reading `x - mean` and `2 b_j - 1` from `from`.
pub(super) fn r_passes<const N: usize>(
    from: &Pass,
    draws: &[Vec<Draw<N>>],
    ones: &[f32],
    cv: &CvParams,
    evals: &mut [REvals],
    r_cache: &mut [NetCache],
    b: usize,
) {
    let p = from.x.len() / from.cap;
    for (k, (ev, cache)) in evals.iter_mut().zip(r_cache.iter_mut()).enumerate() {
        let net = &cv.r[k];
        let r_in = net.inputs();
        // By rows, on the threads that drew them.
        crate::vae::rows::par_rows(&mut ev.rin, b, r_in, |r, dst| {
            dst[..p].copy_from_slice(&from.xc[r * p..(r + 1) * p]);
            dst[p..p + N].copy_from_slice(&draws[k][r].z);
            for j in 0..k {
                dst[p + N + j * N..p + N + (j + 1) * N]
                    .copy_from_slice(&from.inp[j][r * N..(r + 1) * N]);
            }
        });
        net.forward(&cv.phi, &ev.rin, b, cache);
        net.backward(&cv.phi, &ev.rin, b, cache, &ones[..b], None, None);
        // dr/dz only: the z columns of the input gradient.
        net.input_grad_cols(&cv.phi, b, cache, &ones[..b], p..p + N, &mut ev.rdx);
        flush(&mut ev.rdx[..b * N]);
    }
}
