//! The row-by-row work of an iteration split among the product threads: each row computed
//! alone, as on one thread, so the same bits on any number of threads.

use super::fork::each;

/// Fewer elements than this are copied on the calling thread: a copy of 24 rows of 784 pixels
/// takes about a microsecond, less than handing half of it to the other thread (measured in
/// training, linear1 REBAR: the split copies took 1.4-2x the time of whole ones).
const SPLIT_COPY: usize = 32 * 1024;
/// [`par_rows`] of fewer elements runs on the calling thread (a cheap function of 24 rows of
/// 200 latents: 0.3-0.7 microseconds whole, 1-1.5 split).
const SPLIT_ROWS: usize = 8 * 1024;

/// `dst[..rows * width] = src[..rows * width]`, split by rows of `width` among the product
/// threads (fewer than `SPLIT_COPY` elements on the calling thread).
pub fn par_copy(dst: &mut [f32], src: &[f32], rows: usize, width: usize) {
    if rows * width < SPLIT_COPY {
        dst[..rows * width].copy_from_slice(&src[..rows * width]);
        return;
    }
    let per = rows_per_thread(rows) * width;
    each(
        dst[..rows * width]
            .chunks_mut(per)
            .zip(src[..rows * width].chunks(per)),
        |(d, s)| d.copy_from_slice(s),
    );
}

/// Rows each product thread takes in the row-by-row work of `rows` rows (all of them with one
/// thread; at least one).
pub fn rows_per_thread(rows: usize) -> usize {
    rows.div_ceil(super::linalg::threads()).max(1)
}

/// `v[r] = f(r)` for every `r`, split by rows among the product threads.
pub fn par_fill(v: &mut [f32], f: impl Fn(usize) -> f32 + Sync) {
    let per = rows_per_thread(v.len());
    each(v.chunks_mut(per).enumerate(), |(c, block)| {
        for (i, x) in block.iter_mut().enumerate() {
            *x = f(c * per + i);
        }
    });
}

/// `f(r, row)` for each of the first `rows` rows of `width` of `dst`, split by rows among the
/// product threads (each row alone: the same bits on any number of threads; a row that
/// another thread wrote stays on that thread's core where the row split is the same); fewer
/// than `SPLIT_ROWS` elements on the calling thread.
pub fn par_rows(
    dst: &mut [f32],
    rows: usize,
    width: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let per = if rows * width < SPLIT_ROWS {
        rows.max(1)
    } else {
        rows_per_thread(rows)
    };
    each(
        dst[..rows * width].chunks_mut(per * width).enumerate(),
        |(c, block)| {
            for (i, row) in block.chunks_mut(width).enumerate() {
                f(c * per + i, row);
            }
        },
    );
}
