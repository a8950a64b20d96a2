//! The row-by-row work of an iteration split among the product threads: each row computed
//! alone, as on one thread, so the same bits on any number of threads. Small pieces (a
//! batch's latents or pixels) run on the calling thread: split, the two threads' meeting
//! cost more than the piece.

use rayon::prelude::*;

/// Copies of fewer numbers than this run on the calling thread (a batch's pixels, 24 x 784,
/// and latents, 24 x 200). With these and [`SMALL_ROWS`] unsplit, two-thread linear1 RELAX
/// ran faster in 34 of 50 interleaved pairs (four series, median ratios 0.997-1.065), REBAR
/// in 28 of 50 (0.966-1.033): docs/results.md, thirteenth round.
const SMALL_COPY: usize = 1 << 15;

/// Row functions over fewer numbers than this run on the calling thread (a batch's
/// latents, 24 x 200; see [`SMALL_COPY`]).
const SMALL_ROWS: usize = 1 << 13;

/// `dst[..len] = src[..len]`, split by rows of `width` among the product threads (on the
/// calling thread below `SMALL_COPY` numbers).
pub fn par_copy(dst: &mut [f32], src: &[f32], rows: usize, width: usize) {
    let len = rows * width;
    if len < SMALL_COPY {
        dst[..len].copy_from_slice(&src[..len]);
        return;
    }
    let per = rows_per_thread(rows) * width;
    dst[..len]
        .par_chunks_mut(per)
        .zip(src[..len].par_chunks(per))
        .with_max_len(1)
        .for_each(|(d, s)| d.copy_from_slice(s));
}

/// Rows each product thread takes in the row-by-row work of `rows` rows (all of them with one
/// thread; at least one).
pub fn rows_per_thread(rows: usize) -> usize {
    rows.div_ceil(super::linalg::threads()).max(1)
}

/// `v[r] = f(r)` for every `r`, split by rows among the product threads.
pub fn par_fill(v: &mut [f32], f: impl Fn(usize) -> f32 + Sync) {
    let per = rows_per_thread(v.len());
    v.par_iter_mut()
        .enumerate()
        .with_min_len(per)
        .for_each(|(r, x)| *x = f(r));
}

/// `f(r, row)` for each of the first `rows` rows of `width` of `dst`, split by rows among the
/// product threads (each row alone: the same bits on any number of threads; a row that
/// another thread wrote stays on that thread's core where the row split is the same), or in
/// order on the calling thread below `SMALL_ROWS` numbers.
pub fn par_rows(
    dst: &mut [f32],
    rows: usize,
    width: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    if rows * width < SMALL_ROWS {
        for (r, row) in dst[..rows * width].chunks_mut(width.max(1)).enumerate() {
            f(r, row);
        }
        return;
    }
    let per = rows_per_thread(rows);
    dst[..rows * width]
        .par_chunks_mut(per * width)
        .enumerate()
        .with_max_len(1)
        .for_each(|(c, block)| {
            for (i, row) in block.chunks_mut(width).enumerate() {
                f(c * per + i, row);
            }
        });
}
