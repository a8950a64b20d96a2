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

/// `f` on every item of `items` (split among the product threads as `items` says); the first
/// failing item's error in item order, as when the items run one after another. Nothing is
/// gathered (no allocation); after a failure, items past it may not run (their results are
/// dropped with the error).
pub fn first_error<I, E>(
    items: I,
    f: impl Fn(I::Item) -> Result<(), E> + Sync + Send,
) -> Result<(), E>
where
    I: IndexedParallelIterator,
    E: Send,
{
    match items.map(f).find_map_first(|r| r.err()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first failing row's error whatever the threads, and every row run when none fails.
    #[test]
    fn first_error_is_the_first_failing_rows() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut v = vec![0.0f32; 64];
                let rows = v.par_chunks_mut(4).enumerate().with_min_len(1);
                let got = first_error(rows, |(r, row)| {
                    row.fill(r as f32);
                    if r == 5 || r == 11 {
                        Err(format!("row {r}"))
                    } else {
                        Ok(())
                    }
                });
                assert_eq!(got, Err("row 5".to_string()), "{threads} threads");
                let rows = v.par_chunks_mut(4).enumerate().with_min_len(1);
                let ok = first_error(rows, |(r, row)| {
                    row.fill(r as f32 + 1.0);
                    Ok::<_, String>(())
                });
                assert_eq!(ok, Ok(()));
                for (i, x) in v.iter().enumerate() {
                    assert_eq!(*x, (i / 4) as f32 + 1.0, "element {i}");
                }
            });
        }
    }
}
