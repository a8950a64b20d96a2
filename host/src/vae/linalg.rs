//! Batched matrix products on row-major `f32` slices, through `matrixmultiply` (by way of
//! ndarray's safe `general_mat_mul`, so the harness keeps `forbid(unsafe_code)`).

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

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
    let av = op(a, m, k, a_t, "gemm: a");
    let bv = op(b, k, n, b_t, "gemm: b");
    let mut cv = ArrayViewMut2::from_shape((m, n), &mut c[..m * n]).expect("gemm: c");
    general_mat_mul(alpha, &av, &bv, beta, &mut cv);
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
