//! Batched matrix products on row-major `f32` slices: those of a few rows by
//! [`super::skinny`] (the same bits), the others through `matrixmultiply` (by way of
//! ndarray's safe `general_mat_mul`: no `unsafe` here; the host's only `unsafe` is the
//! CPU-checked dispatch in [`crate::simd`]; matrixmultiply picks its AVX-512 kernel itself,
//! the host enabling its `avx512` feature), split over
//! [`threads`] rayon tasks by blocks of rows or columns of the result: each element is still
//! the same sum in the same order, so the numbers do not depend on the number of threads.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

static THREADS: AtomicUsize = AtomicUsize::new(1);
static FLOPS: AtomicU64 = AtomicU64::new(0);
static PACKED: AtomicU64 = AtomicU64::new(0);
static RECORDING: AtomicBool = AtomicBool::new(false);
static SHAPES: Mutex<BTreeMap<Shape, u64>> = Mutex::new(BTreeMap::new());

/// A product's shape: `m, n, k, a_t, b_t` as [`gemm`] takes them.
pub type Shape = (usize, usize, usize, bool, bool);

thread_local! {
    static GEMM_SECONDS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Wall seconds this thread has spent in [`gemm`] calls so far (a split product counts once,
/// for the time its caller waits; the halves other threads run are inside it).
pub fn thread_gemm_seconds() -> f64 {
    GEMM_SECONDS.with(|c| c.get())
}

/// Floating-point operations (`2 m n k` per product) of every [`gemm`] so far, all threads.
pub fn flops() -> u64 {
    FLOPS.load(Ordering::Relaxed)
}

/// Products computed by `matrixmultiply` so far, all threads (each packs its factors into
/// a buffer it allocates: the only allocation of a training iteration, `tests/vae_alloc.rs`).
pub fn packed_products() -> u64 {
    PACKED.load(Ordering::Relaxed)
}

/// Starts or stops counting the products by shape ([`take_shapes`]).
pub fn record_shapes(on: bool) {
    RECORDING.store(on, Ordering::Relaxed);
}

/// Stops counting by shape; returns whether it was on (for [`record_shapes`] to restore).
pub fn pause_shapes() -> bool {
    RECORDING.swap(false, Ordering::Relaxed)
}

/// The products counted by shape since the last call, and resets the count.
pub fn take_shapes() -> BTreeMap<Shape, u64> {
    std::mem::take(&mut *SHAPES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Seconds per product of each shape, timed alone (hot caches, [`threads`] tasks, at least
/// `seconds` each): the ceiling the training's products could reach on this machine.
pub fn time_shapes(shapes: &BTreeMap<Shape, u64>, seconds: f64) -> BTreeMap<Shape, f64> {
    let mut out = BTreeMap::new();
    for &(m, n, k, a_t, b_t) in shapes.keys() {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i % 97) as f32 - 48.0) * 0.01)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i % 89) as f32 - 44.0) * 0.01)
            .collect();
        let mut c = vec![0.0f32; m * n];
        let t0 = std::time::Instant::now();
        let mut reps = 0u64;
        while reps < 3 || t0.elapsed().as_secs_f64() < seconds {
            gemm(m, n, k, 1.0, &a, a_t, &b, b_t, 0.0, &mut c);
            reps += 1;
        }
        out.insert(
            (m, n, k, a_t, b_t),
            t0.elapsed().as_secs_f64() / reps as f64,
        );
    }
    out
}

/// Products with fewer multiply-adds than this are not split (a rayon task costs a few
/// microseconds; this is about 50 of them).
const MIN_SPLIT: usize = 1 << 18;

/// Blocks are cut at multiples of this (half an AVX-512 vector, the kernels' narrowest
/// vector tile: no partial tiles added). At 16 a 200-wide layer was cut 112/88, and the first
/// thread's 56% was what its products waited for; at 8 it is cut 104/96 (52%).
const ALIGN: usize = 8;

/// Sets how many rayon tasks a product (and Adam's step) is split into (at least 1); the
/// calling thread's rayon pool runs them.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// See [`set_threads`].
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// `c_q` of `0 = c_0 <= c_1 <= ... <= c_parts = cols`: how a product with `cols` columns of
/// its result is cut among `parts` threads (near-equal blocks cut at multiples of 8, the
/// kernels' narrowest vector tile), thread `q` taking columns `c_q..c_(q+1)`
/// ([`by_column_blocks`]); Adam's step cuts each weight matrix the same way. A layer of at
/// most 8 columns is all in the first block (rounded up, not down: with `cols < parts` the
/// floor had left a single column to the last block, behind empty ones).
pub fn column_cut(cols: usize, parts: usize, q: usize) -> usize {
    let parts = parts.max(1);
    ((cols * q).div_ceil(parts).div_ceil(ALIGN) * ALIGN).min(cols)
}

/// `run(q, block)` for the blocks `q0..q1` held by `whole`, halving them recursively:
/// `split(part, q0, qm)` cuts a part holding the blocks `q0..` into the part holding
/// `q0..qm` and the rest. On the product threads with `par` (rayon's join, the first half on
/// the calling thread, so block 0 stays on the thread that asked), else in order on this
/// thread. Nothing is allocated.
pub fn by_halves<T, S, F>(whole: T, q0: usize, q1: usize, par: bool, split: &S, run: &F)
where
    T: Send,
    S: Fn(T, usize, usize) -> (T, T) + Sync,
    F: Fn(usize, T) + Sync,
{
    if q1 - q0 <= 1 {
        run(q0, whole);
        return;
    }
    let qm = q0 + (q1 - q0) / 2;
    let (l, r) = split(whole, q0, qm);
    if par {
        rayon::join(
            || by_halves(l, q0, qm, par, split, run),
            || by_halves(r, qm, q1, par, split, run),
        );
    } else {
        by_halves(l, q0, qm, par, split, run);
        by_halves(r, qm, q1, par, split, run);
    }
}

/// `run(q, c_q, block)` for each column block `q` of `c` (`cols` columns cut among `parts` as
/// [`column_cut`] says; `block` the view of its columns), halving the blocks recursively
/// ([`by_halves`]): on the product threads with `par`, else in order on this thread. The
/// blocks are views of `c`: nothing is allocated.
pub fn by_column_blocks<'c, F>(
    c: ArrayViewMut2<'c, f32>,
    cols: usize,
    parts: usize,
    par: bool,
    run: &F,
) where
    F: Fn(usize, usize, ArrayViewMut2<'_, f32>) + Sync,
{
    type View<'c> = ArrayViewMut2<'c, f32>;
    let parts = parts.max(1);
    let cut = |q| column_cut(cols, parts, q);
    let split =
        |c: View<'c>, q0, qm| -> (View<'c>, View<'c>) { c.split_at(Axis(1), cut(qm) - cut(q0)) };
    by_halves(c, 0, parts, par, &split, &|q, c| run(q, cut(q), c));
}

/// Least length a per-thread scratch buffer is grown to ([`scratch`]; 128 KB): the
/// training's packed panels and partial sums fit (784 x 24 at most), so a thread that first
/// meets a small product and later a large one does not grow its buffer mid-run.
pub const SCRATCH_MIN: usize = 1 << 15;

/// The first `len` elements of a per-thread scratch buffer, grown (to at least
/// [`SCRATCH_MIN`]) only when shorter: after a thread's first products, no allocation.
pub fn scratch(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len.max(SCRATCH_MIN), 0.0);
    }
    &mut buf[..len]
}

/// Makes this thread's scratch buffers of the products ([`super::skinny`]'s and
/// [`super::skinny_t`]'s packed panels, [`super::dense::Dense::input_grad_cols`]'s partial
/// sums) at their least size ([`SCRATCH_MIN`]), so that the training's first products on
/// this thread do not allocate them mid-run: call it from the product pool's start handler
/// (`relax vae` does).
pub fn prepare_thread() {
    super::skinny::prepare_thread();
    super::skinny_t::prepare_thread();
    super::dense::prepare_thread();
}

/// Rows of a view that [`row_chunks`] hands over at a time (their slices held on the stack):
/// a multiple of the few-row kernel's 6-row panels, so that a weight gradient's 784 rows cut
/// in chunks make the same panels as uncut (64 left 4-row remainders, two 2-row panels a
/// chunk, in each of 12 chunks).
pub const ROW_CHUNK: usize = 96;

/// `f(r0, rows)` over the rows of `c` (row-major rows: a whole matrix or a column block of
/// one), [`ROW_CHUNK`] rows at a time, `rows` their slices and `r0` the first one's index.
/// The slices are held in an array on the stack: nothing is allocated.
pub fn row_chunks(mut c: ArrayViewMut2<'_, f32>, mut f: impl FnMut(usize, &mut [&mut [f32]])) {
    let m = c.nrows();
    let mut it = c.rows_mut().into_iter();
    let mut r0 = 0;
    while r0 < m {
        let mut slots: [&mut [f32]; ROW_CHUNK] = std::array::from_fn(|_| <&mut [f32]>::default());
        let mut n = 0;
        for (slot, row) in slots.iter_mut().zip(it.by_ref()) {
            *slot = row.into_slice().expect("row_chunks: a row-major row");
            n += 1;
        }
        f(r0, &mut slots[..n]);
        r0 += n;
    }
}

/// Counts a product of the shape (`m, n, k`; `a` and `b` transposed or not) in [`flops`]
/// and, when on, [`take_shapes`], for products that [`gemm_view`] computes in blocks.
pub fn account(m: usize, n: usize, k: usize, a_t: bool, b_t: bool) {
    FLOPS.fetch_add(2 * (m * n * k) as u64, Ordering::Relaxed);
    if RECORDING.load(Ordering::Relaxed) {
        let mut s = SHAPES.lock().unwrap_or_else(|e| e.into_inner());
        *s.entry((m, n, k, a_t, b_t)).or_insert(0) += 1;
    }
}

/// Runs `f` (matrix products, on any threads) and adds its wall time to this thread's
/// [`thread_gemm_seconds`].
pub fn timed<T>(f: impl FnOnce() -> T) -> T {
    let t0 = std::time::Instant::now();
    let out = f();
    let dt = t0.elapsed().as_secs_f64();
    GEMM_SECONDS.with(|c| c.set(c.get() + dt));
    out
}

/// Whether a product of `work` multiply-adds is worth splitting among threads.
pub fn worth_splitting(work: usize) -> bool {
    threads() > 1 && work >= MIN_SPLIT
}

/// `c = op(a) op(b) + beta c` on this thread by `matrixmultiply`, for views (column blocks
/// of wider matrices, transposes). Not counted in [`flops`] (see [`account`]) nor timed.
pub fn gemm_view(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    PACKED.fetch_add(1, Ordering::Relaxed);
    general_mat_mul(1.0, &a, &b, beta, &mut c);
}

/// `c = alpha op(a) op(b) + beta c` with `c` an `m x n` row-major matrix, `op(a)` `m x k` and
/// `op(b)` `k x n`. `a` is stored `m x k` (or `k x m` when `a_t`), `b` `k x n` (or `n x k`
/// when `b_t`), all row-major; only the leading elements of each slice are used.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    beta: f32,
    c: &mut [f32],
) {
    FLOPS.fetch_add(2 * (m * n * k) as u64, Ordering::Relaxed);
    if RECORDING.load(Ordering::Relaxed) {
        let mut s = SHAPES.lock().unwrap_or_else(|e| e.into_inner());
        *s.entry((m, n, k, a_t, b_t)).or_insert(0) += 1;
    }
    let t0 = std::time::Instant::now();
    if super::skinny::takes(m, n, k, alpha, a_t, b_t, beta) {
        // The batch's few-row products and weight gradients: not packed.
        let parts = if m * n * k < MIN_SPLIT { 1 } else { threads() };
        super::skinny::product(m, n, k, a, a_t, &b[..k * n], beta, c, parts);
    } else if alpha == 1.0
        && b_t
        && !a_t
        && super::skinny_t::takes(m, n, k, beta)
        && (threads() == 1 || m * n * k < MIN_SPLIT)
    {
        // The batch's input gradients `dy W^T` on one thread: the weights not packed by
        // matrixmultiply (with more threads, a layer's column blocks split them: `Dense`).
        super::skinny_t::product(m, n, k, a, k, b, k, beta, c, n);
    } else {
        let av = op(a, m, k, a_t, "gemm: a");
        let bv = op(b, k, n, b_t, "gemm: b");
        let cv = ArrayViewMut2::from_shape((m, n), &mut c[..m * n]).expect("gemm: c");
        split(alpha, av, bv, beta, cv, threads());
    }
    let dt = t0.elapsed().as_secs_f64();
    GEMM_SECONDS.with(|c| c.set(c.get() + dt));
}

/// The product in `parts` blocks of the larger dimension of `c`, halving recursively.
fn split(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
    parts: usize,
) {
    let (m, n) = c.dim();
    let work = m * n * a.ncols();
    // A weight gradient (`a` transposed: `c` is a weight matrix) is cut by its columns, as
    // the products that read those weights are (`skinny`), so that each thread works on
    // the same columns of a weight matrix in every product and in Adam's step.
    let rows = m >= n && a.is_standard_layout();
    let len = if rows { m } else { n };
    if parts <= 1 || work < MIN_SPLIT || len < 2 * ALIGN {
        PACKED.fetch_add(1, Ordering::Relaxed);
        general_mat_mul(alpha, &a, &b, beta, &mut c);
        return;
    }
    let left = parts / 2;
    let cut = (len * left / parts).div_ceil(ALIGN) * ALIGN;
    let cut = cut.clamp(ALIGN, len - ALIGN);
    if rows {
        let (a0, a1) = a.split_at(Axis(0), cut);
        let (c0, c1) = c.split_at(Axis(0), cut);
        rayon::join(
            || split(alpha, a0, b, beta, c0, left),
            || split(alpha, a1, b, beta, c1, parts - left),
        );
    } else {
        let (b0, b1) = b.split_at(Axis(1), cut);
        let (c0, c1) = c.split_at(Axis(1), cut);
        rayon::join(
            || split(alpha, a, b0, beta, c0, left),
            || split(alpha, a, b1, beta, c1, parts - left),
        );
    }
}

/// The `rows x cols` matrix `op(x)`: `x` stored row-major as `rows x cols`, or as
/// `cols x rows` and transposed when `transposed`.
fn op<'a>(
    x: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
    what: &str,
) -> ArrayView2<'a, f32> {
    if transposed {
        ArrayView2::from_shape((cols, rows), &x[..rows * cols])
            .expect(what)
            .reversed_axes()
    } else {
        ArrayView2::from_shape((rows, cols), &x[..rows * cols]).expect(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_product_has_the_bits_of_the_whole() {
        let (m, n, k) = (97, 130, 40);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut want = vec![0.5f32; m * n];
            let (av, bv) = (op(&a, m, k, a_t, "a"), op(&b, k, n, b_t, "b"));
            let cv = ArrayViewMut2::from_shape((m, n), &mut want[..]).unwrap();
            split(1.0, av.view(), bv.view(), 0.5, cv, 1);
            for parts in [2, 3, 5] {
                let mut got = vec![0.5f32; m * n];
                let cv = ArrayViewMut2::from_shape((m, n), &mut got[..]).unwrap();
                pool.install(|| split(1.0, av.view(), bv.view(), 0.5, cv, parts));
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{a_t} {b_t} {parts}");
            }
        }
    }

    #[test]
    fn all_four_transpositions_match_the_naive_product() {
        let (m, n, k) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let at: Vec<f32> = (0..m * k).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..k * n).map(|i| b[(i % k) * n + i / k]).collect();
        let mut want = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>() + 1.0;
            }
        }
        for (aa, a_t) in [(&a, false), (&at, true)] {
            for (bb, b_t) in [(&b, false), (&bt, true)] {
                let mut c = vec![1.0f32; m * n];
                gemm(m, n, k, 1.0, aa, a_t, bb, b_t, 1.0, &mut c);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-5, "{a_t} {b_t}");
                }
            }
        }
    }
}
