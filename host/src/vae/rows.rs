//! The row-by-row work of an iteration split among the product threads: each row computed
//! alone, as on one thread, so the same bits on any number of threads.

use rayon::prelude::*;

/// `dst[..len] = src[..len]`, split by rows of `width` among the product threads.
pub fn par_copy(dst: &mut [f32], src: &[f32], rows: usize, width: usize) {
    let per = rows_per_thread(rows) * width;
    dst[..rows * width]
        .par_chunks_mut(per)
        .zip(src[..rows * width].par_chunks(per))
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
/// another thread wrote stays on that thread's core where the row split is the same).
pub fn par_rows(
    dst: &mut [f32],
    rows: usize,
    width: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
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
