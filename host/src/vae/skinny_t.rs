//! Products with a few rows and a transposed right factor, `c = a b^T`: a layer's input
//! gradient `dy W^T`. `matrixmultiply` packs `W^T` for every such product (a strided gather
//! of the whole weight block), and took three times as long as the forward product of the
//! same shape (issue 13's eighth round: 101-130 against 36-40 microseconds for the
//! decoder's 24 x 200 x 784 on one thread). Here six of the weights' rows at a time are
//! interleaved (six contiguous reads) and broadcast against vectors whose lanes run over the
//! batch's rows (`a` transposed once, a few kilobytes); each tile is stored transposed.
//!
//! The sums are `matrixmultiply`'s, bit for bit (for `beta` 0 or 1): each element is a chain
//! of fused multiply-adds from zero over each block of 256 of the inner dimension, in order,
//! each block's chain added to the element (or stored, for the first block when `beta = 0`);
//! a fused multiply-add rounds `x y + z` once, so which factor is broadcast does not matter.
//! The unit test compares with `matrixmultiply`. Taken only on CPUs with AVX-512F.

use std::cell::RefCell;

/// `matrixmultiply`'s block of the inner dimension (`S_KC`).
const KC: usize = 256;
/// Rows of `b` (columns of `c`) a tile holds.
const NR: usize = 6;

thread_local! {
    /// `a` transposed (`k x m`), and a panel of `b`'s rows interleaved (`pack[p NR + r]`);
    /// per thread: no allocation per product.
    static AT: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Makes this thread's buffers at their least size (see [`super::linalg::prepare_thread`]).
pub(crate) fn prepare_thread() {
    AT.with(|b| {
        let (at, pack) = &mut *b.borrow_mut();
        super::linalg::scratch(at, super::linalg::SCRATCH_MIN);
        super::linalg::scratch(pack, super::linalg::SCRATCH_MIN);
    });
}

/// Whether [`product`] computes `c = a b^T + beta c` of `m x n x k` on this CPU with
/// `matrixmultiply`'s bits: the batch's few rows (`m`), `beta` 0 or 1.
pub fn takes(m: usize, n: usize, k: usize, beta: f32) -> bool {
    (beta == 0.0 || beta == 1.0)
        && (1..=super::skinny::MAX_ROWS).contains(&m)
        && n >= 1
        && k >= 1
        && super::skinny::avx512()
}

/// `c = a b^T + beta c` on this thread (`beta` 0 or 1) for a shape [`takes`]: `a` `m x k`
/// (row `i` at `a[i lda..]`), `b` `n x k` (row `j` at `b[j ldb..]`), `c` `m x n` (row `i`
/// at `c[i ldc..]`).
#[allow(clippy::too_many_arguments)]
pub fn product(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    AT.with(|bufs| {
        let (at, pack) = &mut *bufs.borrow_mut();
        let (at, pack) = (
            super::linalg::scratch(at, k * m),
            super::linalg::scratch(pack, k * NR),
        );
        for i in 0..m {
            for (p, &v) in a[i * lda..][..k].iter().enumerate() {
                at[p * m + i] = v;
            }
        }
        kernel(m, n, k, at, b, ldb, c, ldc, beta == 0.0, pack);
    })
}

crate::wide_fn! {
    /// [`product`] after `a` is transposed into `at`, compiled for the widest vectors this
    /// CPU has ([`crate::simd`]).
    #[allow(clippy::too_many_arguments)]
    fn kernel(
        m: usize,
        n: usize,
        k: usize,
        at: &[f32],
        b: &[f32],
        ldb: usize,
        c: &mut [f32],
        ldc: usize,
        beta0: bool,
        pack: &mut [f32],
    ) {
        let mut j0 = 0;
        while j0 + NR <= n {
            panel::<NR>(m, k, at, b, ldb, j0, c, ldc, beta0, pack);
            j0 += NR;
        }
        while j0 + 2 <= n {
            panel::<2>(m, k, at, b, ldb, j0, c, ldc, beta0, pack);
            j0 += 2;
        }
        if j0 < n {
            panel::<1>(m, k, at, b, ldb, j0, c, ldc, beta0, pack);
        }
    }
}

/// Columns `j0..j0 + R` of `c` (rows `j0..` of `b`, interleaved into `pack`), each 256-long
/// stretch of `k` over all the rows of `c`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn panel<const R: usize>(
    m: usize,
    k: usize,
    at: &[f32],
    b: &[f32],
    ldb: usize,
    j0: usize,
    c: &mut [f32],
    ldc: usize,
    beta0: bool,
    pack: &mut [f32],
) {
    let brows: [&[f32]; R] = core::array::from_fn(|r| &b[(j0 + r) * ldb..][..k]);
    let pack = &mut pack[..k * R];
    for (p, dst) in pack.chunks_exact_mut(R).enumerate() {
        for r in 0..R {
            dst[r] = brows[r][p];
        }
    }
    let pack = &*pack;
    let mut p0 = 0;
    while p0 < k {
        let p1 = (p0 + KC).min(k);
        let store = p0 == 0 && beta0;
        let mut i = 0;
        while i + 24 <= m {
            tile::<R, 16, 8>(p0, p1, pack, at, m, i, c, ldc, j0, store);
            i += 24;
        }
        while i + 16 <= m {
            tile::<R, 16, 0>(p0, p1, pack, at, m, i, c, ldc, j0, store);
            i += 16;
        }
        while i + 8 <= m {
            tile::<R, 8, 0>(p0, p1, pack, at, m, i, c, ldc, j0, store);
            i += 8;
        }
        while i < m {
            tile::<R, 1, 0>(p0, p1, pack, at, m, i, c, ldc, j0, store);
            i += 1;
        }
        p0 = p1;
    }
}

/// Rows `i..i + A + B` of `c` at its columns `j0..j0 + R`, over `p0..p1`: the accumulators
/// (two arrays of `A` and `B` lanes a column, `B` may be 0) start at zero, take one fused
/// multiply-add per `p` in order, and are then stored or added to `c`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const R: usize, const A: usize, const B: usize>(
    p0: usize,
    p1: usize,
    pack: &[f32],
    at: &[f32],
    m: usize,
    i: usize,
    c: &mut [f32],
    ldc: usize,
    j0: usize,
    store: bool,
) {
    let mut acc0 = [[0.0f32; A]; R];
    let mut acc1 = [[0.0f32; B]; R];
    for p in p0..p1 {
        let a0: &[f32; A] = at[p * m + i..][..A].try_into().expect("tile: a");
        let a1: &[f32; B] = at[p * m + i + A..][..B].try_into().expect("tile: a");
        let bp: &[f32; R] = pack[p * R..][..R].try_into().expect("tile: b");
        for r in 0..R {
            let bv = bp[r];
            for q in 0..A {
                acc0[r][q] = bv.mul_add(a0[q], acc0[r][q]);
            }
            for q in 0..B {
                acc1[r][q] = bv.mul_add(a1[q], acc1[r][q]);
            }
        }
    }
    let mut put = |q: usize, r: usize, v: f32| {
        let d = &mut c[(i + q) * ldc + j0 + r];
        *d = if store { v } else { *d + v };
    };
    for r in 0..R {
        for q in 0..A {
            put(q, r, acc0[r][q]);
        }
        for q in 0..B {
            put(A + q, r, acc1[r][q]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::skinny::tests::{left_factor, right_factor};
    use super::*;
    use ndarray::linalg::general_mat_mul;
    use ndarray::{ArrayView2, ArrayViewMut2};

    #[test]
    fn the_products_have_the_bits_of_matrixmultiply() {
        let exact = super::super::skinny::avx512();
        let mut checked = 0;
        // Input gradients of 200- and 784-unit layers, in one block or a column block of
        // one (k < lda), with the remainders of every tile and panel.
        for &(m, n, k, lda) in &[
            (24, 784, 200, 200),
            (24, 200, 784, 784),
            (24, 200, 400, 784),
            (24, 200, 88, 200),
            (24, 984, 112, 200),
            (13, 50, 300, 300),
            (32, 9, 513, 520),
            (1, 1, 1, 1),
            (8, 7, 20, 33),
        ] {
            let a = left_factor(m * lda);
            let b = right_factor(n * k);
            for beta in [0.0f32, 1.0] {
                let c0: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.01).sin()).collect();
                let mut want = c0.clone();
                let av = ArrayView2::from_shape((m, lda), &a[..]).unwrap();
                let av = av.slice(ndarray::s![.., ..k]);
                let bv = ArrayView2::from_shape((n, k), &b[..])
                    .unwrap()
                    .reversed_axes();
                let mut cv = ArrayViewMut2::from_shape((m, n), &mut want[..]).unwrap();
                general_mat_mul(1.0, &av, &bv, beta, &mut cv);
                assert_eq!(takes(m, n, k, beta), exact);
                let mut got = c0.clone();
                product(m, n, k, &a, lda, &b, k, beta, &mut got, n);
                for (i, (x, y)) in got.iter().zip(&want).enumerate() {
                    let what = format!("{m}x{n}x{k} beta {beta} [{i}]");
                    if exact {
                        assert_eq!(x.to_bits(), y.to_bits(), "{what}: {x} != {y}");
                    } else {
                        assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()) * k as f32, "{what}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
        assert!(!takes(33, 10, 10, 0.0), "too many rows");
        assert!(!takes(24, 10, 10, 0.5), "beta not 0 or 1");
    }
}
