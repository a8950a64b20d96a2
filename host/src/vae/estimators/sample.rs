//! Drawing every layer's sample for a batch (the estimators but ARMS, which draws its
//! samples together in `multi`), and `f` at the samples.

use super::*;

impl<const N: usize> VaeEstimator<N> {
    /// Samples every layer (the core's `Draw`, tied coupling) and evaluates `f(b)`.
    pub(super) fn sample<R: Rng + ?Sized>(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        rng: &mut R,
    ) -> Result<()> {
        self.draw(model, theta, b, rng)?;
        model.forward(theta, &mut self.hard, b, model.layers, Chain::Hard);
        Ok(finite_elbo(&self.hard.f[..b])?)
    }

    /// Samples every layer (the core's `Draw`, tied coupling), without evaluating `f`.
    pub(super) fn draw<R: Rng + ?Sized>(
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
        Ok(())
    }
}
