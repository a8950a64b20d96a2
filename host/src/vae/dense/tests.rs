use super::*;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Xoshiro128PlusPlus::seed_from_u64(seed);
    (0..n).map(|_| 2.0 * uniform_open(&mut r) - 1.0).collect()
}

/// `by_blocks` hands each element of the first rows to exactly one block, at its
/// column and row, for any number of blocks and rows (more than a chunk of rows too).
#[test]
fn by_blocks_covers_each_element_once() {
    use crate::vae::linalg::ROW_CHUNK;
    // 16 and 1 columns in 2 or 3 blocks leave blocks of no columns: not called.
    for (outputs, parts, rows) in [
        (200, 1, 5),
        (200, 2, 5),
        (200, 3, 5),
        (16, 2, 5),
        (1, 2, 5),
        (16, 3, 5),
        (201, 2, 5),
        (200, 2, 2 * ROW_CHUNK + 3),
        (17, 3, ROW_CHUNK),
    ] {
        let mut lay = ParamLayout::with_parts(parts);
        let d = lay.dense(7, outputs);
        let mut y = vec![0.0f32; (rows + 1) * outputs];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        pool.install(|| {
            d.by_blocks(&mut y, rows, |c0, r0, segs| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                assert_eq!(
                    r0 % ROW_CHUNK,
                    0,
                    "a chunk starts at a multiple of ROW_CHUNK"
                );
                assert_eq!(segs.len(), (rows - r0).min(ROW_CHUNK));
                assert!(!segs[0].is_empty(), "a block of no columns was called");
                for (i, seg) in segs.iter_mut().enumerate() {
                    for (j, v) in seg.iter_mut().enumerate() {
                        *v += ((r0 + i) * 1000 + c0 + j) as f32;
                    }
                }
            })
        });
        let blocks = (0..parts)
            .filter(|&q| column_cut(outputs, parts, q + 1) > column_cut(outputs, parts, q))
            .count();
        assert_eq!(
            calls.into_inner(),
            blocks * rows.div_ceil(ROW_CHUNK),
            "{outputs} columns in {parts} parts, {rows} rows"
        );
        for r in 0..rows {
            for j in 0..outputs {
                assert_eq!(y[r * outputs + j], (r * 1000 + j) as f32, "{parts} parts");
            }
        }
        assert!(
            y[rows * outputs..].iter().all(|&v| v == 0.0),
            "beyond the rows"
        );
    }
}

/// A layer in 2 and 3 column blocks holds the weights of the one-block layer (the same
/// draws), and its products give the same bits but for the input gradient, a sum over
/// the blocks (within float rounding).
#[test]
fn blocks_give_the_products_of_the_whole_matrix() {
    // A 200-unit layer in 2 or 3 blocks; 16 units in blocks of 8 (cut at multiples of 8,
    // the third of 3 empty); 1 unit (a network's single output) all in the first block,
    // not split.
    for outputs in [200, 16, 1] {
        blocks_match_the_whole(outputs);
    }
    // 1 unit is not split, on any number of blocks.
    for parts in [2, 3, 4] {
        assert!(!ParamLayout::with_parts(parts).dense(37, 1).split());
    }
}

fn blocks_match_the_whole(outputs: usize) {
    let (inputs, rows) = (37, 24);
    let mut one = ParamLayout::with_parts(1);
    let d1 = one.dense(inputs, outputs);
    let mut p1 = vec![0.0f32; one.len];
    d1.init(&mut p1, 1.0, &mut Xoshiro128PlusPlus::seed_from_u64(3));
    p1[d1.b..d1.b + outputs].copy_from_slice(&values(outputs, 9));
    let x = values(rows * inputs, 4);
    let dy = values(rows * outputs, 5);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for parts in [2, 3] {
        let mut lay = ParamLayout::with_parts(parts);
        let d = lay.dense(inputs, outputs);
        let mut p = vec![0.0f32; lay.len];
        d.init(&mut p, 1.0, &mut Xoshiro128PlusPlus::seed_from_u64(3));
        p[d.b..d.b + outputs].copy_from_slice(&values(outputs, 9));
        for i in 0..inputs {
            for j in 0..outputs {
                assert_eq!(p[d.index(i, j)].to_bits(), p1[d1.index(i, j)].to_bits());
            }
        }
        let (mut y1, mut y) = (vec![0.0f32; rows * outputs], vec![0.0f32; rows * outputs]);
        d1.forward(&p1, &x, rows, &mut y1);
        d.forward(&p, &x, rows, &mut y);
        assert_eq!(bits(&y), bits(&y1), "forward, {parts} parts");
        // Rows 5..17 of the weights only (RELAX's tangent in z).
        let u = &x[..rows * 12];
        d1.mul_rows(&p1, u, rows, 5..17, &mut y1, 0.0);
        d.mul_rows(&p, u, rows, 5..17, &mut y, 0.0);
        assert_eq!(bits(&y), bits(&y1), "some rows, {parts} parts");
        let (mut g1, mut g) = (vec![0.25f32; p1.len()], vec![0.25f32; p.len()]);
        d1.param_grad(&x, &dy, rows, &mut g1);
        d.param_grad(&x, &dy, rows, &mut g);
        d1.weight_grad_rows(u, 5..17, &dy, rows, &mut g1);
        d.weight_grad_rows(u, 5..17, &dy, rows, &mut g);
        for i in 0..inputs {
            for j in 0..outputs {
                let (a, b) = (g[d.index(i, j)], g1[d1.index(i, j)]);
                assert_eq!(a.to_bits(), b.to_bits(), "weight gradient {i} {j}");
            }
        }
        assert_eq!(bits(&g[d.b..]), bits(&g1[d1.b..]), "bias gradient");
        let (mut dx1, mut dx) = (vec![0.0f32; rows * inputs], vec![0.0f32; rows * inputs]);
        d1.input_grad(&p1, &dy, rows, &mut dx1);
        d.input_grad(&p, &dy, rows, &mut dx);
        if !d.split() {
            // One block with columns: the one-part product itself.
            assert_eq!(bits(&dx), bits(&dx1), "input gradient, {outputs} units");
        }
        for (a, b) in dx.iter().zip(&dx1) {
            // A sum of 200 products of size <= 0.17: a few units of 1e-7 apart.
            assert!(
                (a - b).abs() <= 2e-6,
                "input gradient {a} vs {b}, {parts} parts"
            );
        }
        let mut cols = vec![0.0f32; rows * 10];
        d.input_grad_cols(&p, &dy, rows, 20..30, &mut cols);
        for r in 0..rows {
            assert_eq!(
                bits(&cols[r * 10..(r + 1) * 10]),
                bits(&dx[r * inputs + 20..r * inputs + 30])
            );
        }
    }
}

/// A one-output layer's input gradient (a control variate's last layer) is each product
/// `dy_r W_i` alone: the bits of the one-part product through `linalg::gemm` (its path
/// before the direct loop), negative zeros included, on 1 to 3 blocks.
#[test]
fn one_output_input_gradient_is_the_products_bits() {
    let (inputs, rows) = (200, 24);
    let mut dy = values(rows, 6);
    // Zeros of both signs, so that some products are negative zeros.
    dy[3] = 0.0;
    dy[4] = -0.0;
    for parts in [1, 2, 3] {
        let mut lay = ParamLayout::with_parts(parts);
        let d = lay.dense(inputs, 1);
        let mut p = vec![0.0f32; lay.len];
        d.init(&mut p, 1.0, &mut Xoshiro128PlusPlus::seed_from_u64(8));
        p[d.index(7, 0)] = 0.0;
        p[d.index(8, 0)] = -0.0;
        let w: Vec<f32> = (0..inputs).map(|i| p[d.index(i, 0)]).collect();
        let mut want = vec![1.0f32; rows * inputs];
        crate::vae::linalg::gemm(rows, inputs, 1, 1.0, &dy, false, &w, true, 0.0, &mut want);
        let mut dx = vec![1.0f32; rows * inputs];
        d.input_grad(&p, &dy, rows, &mut dx);
        for (i, (a, b)) in dx.iter().zip(&want).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "element {i}, {parts} parts: {a} vs {b}"
            );
        }
        let mut cols = vec![0.0f32; rows * 10];
        d.input_grad_cols(&p, &dy, rows, 5..15, &mut cols);
        for r in 0..rows {
            for c in 0..10 {
                assert_eq!(cols[r * 10 + c].to_bits(), dx[r * inputs + 5 + c].to_bits());
            }
        }
    }
}
