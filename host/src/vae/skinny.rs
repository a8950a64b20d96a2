//! Products with a few rows (the batch's: 24 x 784 x 200 and the like) and a row-major right
//! factor, without packing the right factor. `matrixmultiply` packs both factors for every
//! product: at 24 rows, copying a 784 x 200 weight matrix into its panels costs about as much
//! as the multiply-adds. Here only the left factor is packed (six rows at a time, a few
//! kilobytes) and the weights' rows are read in place, 64 columns at a time, into 24 vector
//! accumulators.
//!
//! The sums are `matrixmultiply`'s, bit for bit (for `alpha = 1`, `beta` 0 or 1): each element
//! is a chain of fused multiply-adds from zero over each block of 256 of the inner dimension
//! (its `KC`), in order, each block's chain added to the element (or stored, for the first
//! block when `beta = 0`). The unit tests compare every shape class with `matrixmultiply`.
//! Taken only on CPUs with AVX-512F, where `matrixmultiply` runs its fused AVX-512 kernel.

use ndarray::ArrayViewMut2;
use std::cell::RefCell;

/// `matrixmultiply`'s block of the inner dimension (`S_KC`).
const KC: usize = 256;
/// Rows of the left factor a tile holds.
const MR: usize = 6;
// Chunks of rows ([`product_view`]) cut only between whole panels.
const _: () = assert!(super::linalg::ROW_CHUNK.is_multiple_of(MR));
/// Most rows this path takes (beyond, `matrixmultiply`'s packing pays for itself).
pub const MAX_ROWS: usize = 32;

thread_local! {
    /// The packed rows of the left factor (per thread: no allocation per product).
    static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Makes this thread's packed panel at its least size (see [`super::linalg::prepare_thread`]).
pub(crate) fn prepare_thread() {
    PACK.with(|p| {
        super::linalg::scratch(&mut p.borrow_mut(), super::linalg::SCRATCH_MIN);
    });
}

/// Whether [`product`] computes `c = alpha op(a) b + beta c` of `m x n x k` (with `b` not
/// transposed) on this CPU, with `matrixmultiply`'s bits: a product with the batch's few
/// rows (`m`), or a weight gradient `x^T dy` (`a` transposed, the batch's few rows the
/// inner dimension `k`; any `m`). `matrixmultiply` packs the whole of `x^T` for each
/// product, on each thread that computes a column block of it; here each thread reads
/// `x` six rows of `c` at a time.
#[allow(clippy::too_many_arguments)]
pub fn takes(m: usize, n: usize, k: usize, alpha: f32, a_t: bool, b_t: bool, beta: f32) -> bool {
    alpha == 1.0
        && (beta == 0.0 || beta == 1.0)
        && !b_t
        && m >= 1
        && (m <= MAX_ROWS || (a_t && k <= MAX_ROWS))
        && n >= 1
        && k >= 1
        && avx512()
}

pub(crate) fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `c = op(a) b + beta c` (`beta` 0 or 1; `c` `m x n`, `op(a)` `m x k` stored `m x k`, or
/// `k x m` when `a_t`; `b` `k x n`; all row-major), cut in `parts` rayon tasks by blocks of
/// columns (multiples of 16; the first block to the calling thread): each task reads only
/// its columns of `b` (the weights), and the same columns in every product of the same
/// weights, and keeps every row of the batch in its tiles (blocks of rows would halve the
/// multiply-adds per weight read). The bits do not depend on `parts`.
#[allow(clippy::too_many_arguments)]
pub fn product(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    parts: usize,
) {
    let (rsa, csa) = if a_t { (1, m) } else { (k, 1) };
    let parts = parts.clamp(1, (n / 16).max(1));
    // Each part's columns of every row of c, as a view.
    let cv = ArrayViewMut2::from_shape((m, n), &mut c[..m * n]).expect("skinny::product: c");
    let run = |_q: usize, j0: usize, block: ArrayViewMut2<'_, f32>| {
        product_view(k, a, rsa, csa, b, n, j0, beta, block)
    };
    super::linalg::by_column_blocks(cv, n, parts, parts > 1, &run);
}

/// `c = op(a) b[.., j0..j0 + w] + beta c` on this thread, `c` the `m x w` result (a column
/// block of a wider row-major matrix, or a whole one), `op(a)` `m x k` with element `(i, p)`
/// at `a[i rsa + p csa]` with `csa = 1` (row-major) or `rsa = 1` (transposed), `b` row-major
/// with `ldb` columns; for a shape [`takes`] (with `n = w`). The kernel takes
/// [`super::linalg::ROW_CHUNK`] rows a call: each element is the same sum either way, so the
/// same bits as [`product`]; nothing allocated.
#[allow(clippy::too_many_arguments)]
pub fn product_view(
    k: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    ldb: usize,
    j0: usize,
    beta: f32,
    c: ArrayViewMut2<'_, f32>,
) {
    assert!(
        csa == 1 || rsa == 1,
        "skinny::product_view: a row-major or transposed left factor"
    );
    PACK.with(|pack| {
        let mut pack = pack.borrow_mut();
        let pack = super::linalg::scratch(&mut pack, k * MR);
        super::linalg::row_chunks(c, |r0, rows| {
            let (m, a) = (rows.len(), &a[r0 * rsa..]);
            block(m, k, a, rsa, csa, b, ldb, j0, rows, beta == 0.0, pack);
        });
    })
}

crate::wide_fn! {
    /// The columns `j0..j0 + rows[0].len()` of the product into `rows` (one slice a row of
    /// `c`), compiled for the widest vectors this CPU has ([`crate::simd`]).
    #[allow(clippy::too_many_arguments)]
    fn block(
        m: usize,
        k: usize,
        a: &[f32],
        rsa: usize,
        csa: usize,
        b: &[f32],
        ldb: usize,
        j0: usize,
        rows: &mut [&mut [f32]],
        beta0: bool,
        pack: &mut [f32],
    ) {
        let mut i0 = 0;
        while i0 + MR <= m {
            panel::<MR>(i0, k, a, rsa, csa, b, ldb, j0, &mut rows[i0..i0 + MR], beta0, pack);
            i0 += MR;
        }
        while i0 + 2 <= m {
            panel::<2>(i0, k, a, rsa, csa, b, ldb, j0, &mut rows[i0..i0 + 2], beta0, pack);
            i0 += 2;
        }
        if i0 < m {
            panel::<1>(i0, k, a, rsa, csa, b, ldb, j0, &mut rows[i0..i0 + 1], beta0, pack);
        }
    }
}

/// Rows `i0..i0 + R` of the block: their left-factor rows packed (`pack[p R + r]`), then each
/// 256-long stretch of `k` over all the block's columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn panel<const R: usize>(
    i0: usize,
    k: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    ldb: usize,
    j0: usize,
    rows: &mut [&mut [f32]],
    beta0: bool,
    pack: &mut [f32],
) {
    // Without a bounds check an element (they made packing a 784-long panel cost about as
    // much as a 64-column tile's multiply-adds; issue 13's eighth round).
    let pack = &mut pack[..k * R];
    if csa == 1 {
        // Rows of `a` contiguous in `p`.
        let arows: [&[f32]; R] = core::array::from_fn(|r| &a[(i0 + r) * rsa..][..k]);
        for (p, dst) in pack.chunks_exact_mut(R).enumerate() {
            for r in 0..R {
                dst[r] = arows[r][p];
            }
        }
    } else {
        // Transposed (`rsa = 1`, see `product_view`): each `p`'s `R` values side by side.
        for (p, dst) in pack.chunks_exact_mut(R).enumerate() {
            dst.copy_from_slice(&a[p * csa + i0..][..R]);
        }
    }
    let width = rows[0].len();
    let mut p0 = 0;
    while p0 < k {
        let p1 = (p0 + KC).min(k);
        let store = p0 == 0 && beta0;
        let mut j = 0;
        while j + 64 <= width {
            tile::<R, 64, 0, 0>(p0, p1, pack, b, ldb, j0, j, rows, store);
            j += 64;
        }
        // A block's remainder in one tile where it can (a block of 104 or 96 of a 200-unit
        // layer: 64 + 40, 64 + 32; 112 or 88: 64 + 48, 64 + 24), not in narrower tiles that
        // reload the packed rows for every 16 columns; every element is the same sum either
        // way.
        for w in [48, 40, 32, 24] {
            if j + w <= width {
                match w {
                    48 => tile::<R, 16, 16, 16>(p0, p1, pack, b, ldb, j0, j, rows, store),
                    40 => tile::<R, 16, 16, 8>(p0, p1, pack, b, ldb, j0, j, rows, store),
                    32 => tile::<R, 16, 16, 0>(p0, p1, pack, b, ldb, j0, j, rows, store),
                    _ => tile::<R, 16, 8, 0>(p0, p1, pack, b, ldb, j0, j, rows, store),
                }
                j += w;
            }
        }
        while j + 16 <= width {
            tile::<R, 16, 0, 0>(p0, p1, pack, b, ldb, j0, j, rows, store);
            j += 16;
        }
        while j + 8 <= width {
            tile::<R, 8, 0, 0>(p0, p1, pack, b, ldb, j0, j, rows, store);
            j += 8;
        }
        while j < width {
            tile::<R, 1, 0, 0>(p0, p1, pack, b, ldb, j0, j, rows, store);
            j += 1;
        }
        p0 = p1;
    }
}

/// An `R x (A + B + C)` tile at column `j` of the block over `p0..p1`: the accumulators
/// start at zero, take one fused multiply-add per `p` in order, and are then stored or added
/// to `c`. They are held in three arrays of `A`, `B` and `C` lanes a row (`B` and `C` may be
/// 0): the 48-, 32- and 24-wide tiles written as one array of that width had the compiler
/// keep the accumulators on the stack and store each one at every `p` (issue 13's eighth
/// round: a block of 112 columns took as long as the whole 200), as it does not for 64, 16
/// and 8; the 40-wide tile is written the same way.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const R: usize, const A: usize, const B: usize, const C: usize>(
    p0: usize,
    p1: usize,
    pack: &[f32],
    b: &[f32],
    ldb: usize,
    j0: usize,
    j: usize,
    rows: &mut [&mut [f32]],
    store: bool,
) {
    let mut acc0 = [[0.0f32; A]; R];
    let mut acc1 = [[0.0f32; B]; R];
    let mut acc2 = [[0.0f32; C]; R];
    for p in p0..p1 {
        let at = p * ldb + j0 + j;
        let b0: &[f32; A] = b[at..at + A].try_into().expect("tile: b row");
        let b1: &[f32; B] = b[at + A..at + A + B].try_into().expect("tile: b row");
        let b2: &[f32; C] = b[at + A + B..at + A + B + C]
            .try_into()
            .expect("tile: b row");
        let arow: &[f32; R] = pack[p * R..p * R + R].try_into().expect("tile: a");
        for r in 0..R {
            let av = arow[r];
            for q in 0..A {
                acc0[r][q] = av.mul_add(b0[q], acc0[r][q]);
            }
            for q in 0..B {
                acc1[r][q] = av.mul_add(b1[q], acc1[r][q]);
            }
            for q in 0..C {
                acc2[r][q] = av.mul_add(b2[q], acc2[r][q]);
            }
        }
    }
    for r in 0..R {
        let row = &mut rows[r][j..j + A + B + C];
        let (d0, rest) = row.split_at_mut(A);
        let (d1, d2) = rest.split_at_mut(B);
        for (d, a) in [(d0, &acc0[r][..]), (d1, &acc1[r][..]), (d2, &acc2[r][..])] {
            if store {
                d.copy_from_slice(a);
            } else {
                for (d, a) in d.iter_mut().zip(a) {
                    *d += a;
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::linalg::general_mat_mul;
    use ndarray::{ArrayView2, ArrayViewMut2};

    /// A left factor of `len` elements for the bit-for-bit tests: zeros, negative zeros,
    /// tiny and large values, so that every rounding of the sums shows.
    pub(crate) fn left_factor(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| match i % 11 {
                0 => 0.0,
                1 => -0.0,
                2 => 1e-39,
                _ => (i as f32 * 0.37).sin() * 3.0,
            })
            .collect()
    }

    /// A right factor of `len` elements for the bit-for-bit tests.
    pub(crate) fn right_factor(len: usize) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * 0.11).cos() * 1e3).collect()
    }

    fn reference(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        a_t: bool,
        b: &[f32],
        beta: f32,
        c: &mut [f32],
    ) {
        let av = if a_t {
            ArrayView2::from_shape((k, m), a).unwrap().reversed_axes()
        } else {
            ArrayView2::from_shape((m, k), a).unwrap()
        };
        let bv = ArrayView2::from_shape((k, n), b).unwrap();
        let mut cv = ArrayViewMut2::from_shape((m, n), c).unwrap();
        general_mat_mul(1.0, &av, &bv, beta, &mut cv);
    }

    #[test]
    fn the_products_have_the_bits_of_matrixmultiply() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let exact = avx512();
        let mut checked = 0;
        for &(m, n, k) in &[
            (24, 200, 784),
            (24, 784, 200),
            (8, 784, 200),
            (24, 200, 984),
            (1, 16, 1),
            (5, 24, 7),
            (13, 72, 300),
            (32, 136, 513),
            // Remainders of 48, 40, 32 and 24 columns after the 64-wide tiles.
            (24, 112, 784),
            (24, 104, 784),
            (24, 88, 784),
            (5, 40, 33),
            (7, 120, 50),
            (5, 56, 33),
            (9, 96, 300),
            // Weight gradients x^T dy (transposed only: many rows, the batch inner).
            (784, 200, 24),
            (200, 784, 24),
            (784, 88, 24),
            (784, 104, 24),
            (59, 40, 7),
            // One column (a network's single output: its forward product and weight
            // gradient) and widths that are not whole 8-lane vectors.
            (24, 1, 200),
            (200, 1, 24),
            (24, 9, 200),
            (3, 13, 270),
            (40, 3, 24),
        ] {
            let a = left_factor(m * k);
            let b = right_factor(k * n);
            let layouts: &[bool] = if m > MAX_ROWS {
                &[true]
            } else {
                &[false, true]
            };
            for &a_t in layouts {
                assert!(takes(m, n, k, 1.0, a_t, false, 1.0) || !exact);
                for beta in [0.0f32, 1.0] {
                    let c0: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.01).sin()).collect();
                    let mut want = c0.clone();
                    reference(m, n, k, &a, a_t, &b, beta, &mut want);
                    for parts in [1, 2, 3] {
                        let mut got = c0.clone();
                        pool.install(|| product(m, n, k, &a, a_t, &b, beta, &mut got, parts));
                        for (i, (x, y)) in got.iter().zip(&want).enumerate() {
                            let what =
                                format!("{m}x{n}x{k} a_t {a_t} beta {beta} parts {parts} [{i}]");
                            if exact {
                                assert_eq!(x.to_bits(), y.to_bits(), "{what}: {x} != {y}");
                            } else {
                                // Without AVX-512 matrixmultiply may not fuse: rounding only.
                                assert!(
                                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()) * k as f32,
                                    "{what}"
                                );
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 2_000_000, "{checked}");
    }

    #[test]
    fn it_takes_only_what_it_computes_like_matrixmultiply() {
        let on = avx512();
        assert_eq!(takes(24, 200, 784, 1.0, false, false, 1.0), on);
        assert_eq!(takes(24, 200, 784, 1.0, false, false, 0.0), on);
        assert!(!takes(24, 200, 784, 2.0, false, false, 1.0), "alpha != 1");
        assert!(
            !takes(24, 200, 784, 1.0, false, false, 0.5),
            "beta not 0 or 1"
        );
        assert!(!takes(24, 200, 784, 1.0, false, true, 1.0), "b transposed");
        assert!(
            !takes(33, 200, 784, 1.0, false, false, 1.0),
            "too many rows"
        );
        // A weight gradient: many rows, the batch's few as the inner dimension.
        assert_eq!(takes(784, 200, 24, 1.0, true, false, 1.0), on);
        assert!(
            !takes(784, 200, 24, 1.0, false, false, 1.0),
            "a not transposed"
        );
        assert!(
            !takes(784, 200, 33, 1.0, true, false, 1.0),
            "inner dimension > 32"
        );
        // Any width: one column (a network's single output) and widths that are not whole
        // vectors take the narrow tiles.
        assert_eq!(takes(24, 1, 200, 1.0, false, false, 1.0), on);
        assert_eq!(takes(24, 70, 200, 1.0, false, false, 1.0), on);
        assert!(!takes(24, 0, 200, 1.0, false, false, 1.0), "no columns");
    }
}
