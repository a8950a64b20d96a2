//! Drawing every layer's sample for a batch (the estimators but ARMS, which draws its
//! samples together in `multi`), and `f` at the samples.

use super::*;
use crate::vae::rows::{first_error, rows_per_thread};
use rayon::prelude::*;

impl<const N: usize> VaeEstimator<N> {
    /// Samples every layer (the core's `Draw`, tied coupling) and evaluates `f(b)`.
    pub(super) fn sample<R: Rng + Send + ?Sized>(
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

    /// Samples every layer (the core's `Draw`, tied coupling), without evaluating `f`. The
    /// generator's words of a layer are drawn first, in order (a tied draw takes exactly `N`
    /// words a row), then each row's draw is made from its own words on the product threads:
    /// the same samples as drawing row after row from the generator.
    pub(super) fn draw<R: Rng + Send + ?Sized>(
        &mut self,
        model: &Vae,
        theta: &[f32],
        b: usize,
        rng: &mut R,
    ) -> Result<()> {
        let fill = |words: &mut [u32], rng: &mut R| {
            for w in words.iter_mut() {
                *w = rng.next_u32();
            }
        };
        for k in 0..model.layers {
            let words = &mut self.words[..b * N];
            if k > 0 {
                model.encode_next(theta, &mut self.hard, b, k);
                fill(words, rng);
            } else if crate::vae::linalg::threads() > 1 {
                // The first encoder's product here, the generator's words (one thread, in
                // order) beside it (a join: no task to allocate, as a scope's spawn would).
                // The product on this thread keeps its first column block here, where the
                // weights' first columns are read and stepped; the other worker, done with
                // the words, takes the second block.
                let hard = &mut self.hard;
                rayon::join(|| model.encode_first(theta, hard, b), || fill(words, rng));
            } else {
                model.encode_first(theta, &mut self.hard, b);
                fill(words, rng);
            }
            let per = rows_per_thread(b);
            let hard = &mut self.hard;
            let (l, s, eps) = (
                &hard.l[k][..b * N],
                &mut hard.s[k][..b * N],
                &mut hard.eps[k][..b * N],
            );
            let chunks = self.draws[k][..b]
                .par_chunks_mut(per)
                .zip(s.par_chunks_mut(per * N))
                .zip(eps.par_chunks_mut(per * N))
                .zip(l.par_chunks(per * N))
                .zip(self.words[..b * N].par_chunks(per * N))
                .with_max_len(1);
            // The first failing row's error, as when drawing row after row.
            first_error(chunks, |((((draws, s), eps), l), words)| {
                for (r, d) in draws.iter_mut().enumerate() {
                    let rs = r * N..(r + 1) * N;
                    let lr: &[f32; N] = l[rs.clone()].try_into().expect("row of N");
                    let mut words = Replay(words[rs.clone()].iter());
                    let draw = match Draw::with_coupling::<Bernoulli<N>, _>(
                        lr,
                        Coupling::Tied,
                        &mut words,
                    ) {
                        Ok(d) => d,
                        Err(e) => return Err(format!("sampling layer {k}: {e}")),
                    };
                    s[rs.clone()].copy_from_slice(&draw.b);
                    for ((e, z), l) in eps[rs].iter_mut().zip(&draw.z).zip(lr) {
                        *e = z - l;
                    }
                    *d = draw;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// Sets every layer's `g` to the direct term of the first `b` rows, `d log q(b|x)/dl / b`
/// (the score of each row's sample over the batch size), each row alone on the product
/// threads.
pub(super) fn scores<const N: usize>(
    hard: &Pass,
    draws: &[Vec<Draw<N>>],
    g: &mut [Vec<f32>],
    b: usize,
    layers: usize,
) {
    let inv = 1.0 / b as f32;
    let per = rows_per_thread(b);
    for k in 0..layers {
        let (l, draws) = (&hard.l[k][..b * N], &draws[k][..b]);
        g[k][..b * N]
            .par_chunks_mut(N)
            .zip(l.par_chunks(N))
            .zip(draws.par_iter())
            .with_min_len(per)
            .for_each(|((g, l), d)| {
                let sc = Bernoulli::<N>::score(l.try_into().expect("row of N"), &d.b);
                for (g, s) in g.iter_mut().zip(&sc) {
                    *g = inv * s;
                }
            });
    }
}

/// A generator that replays given words (each a `next_u32`), for a draw made away from the
/// generator that drew them. Asked for more words than it was given, it panics: a tied draw
/// takes exactly its `N`.
struct Replay<'a>(std::slice::Iter<'a, u32>);

impl rand_core::TryRng for Replay<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        Ok(*self
            .0
            .next()
            .expect("Replay: a draw took more words than it was given"))
    }
    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        let lo = self.try_next_u32()? as u64;
        Ok(lo | (self.try_next_u32()? as u64) << 32)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        for chunk in dst.chunks_mut(4) {
            let w = self.try_next_u32()?.to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}
