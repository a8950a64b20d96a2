//! Data the integration tests generate, shared by several test files (each includes this
//! module and uses part of it).
#![allow(dead_code)]

use host::vae::data::{Binarization, Data, DataSet};
use std::path::Path;

/// Pixels of the tiny synthetic images of [`bars`].
pub const P: usize = 16;

/// Two kinds of 4 x 4 image (horizontal and vertical bars) with noise in the intensities:
/// 72 training (60 train, 12 validation) and 12 test images, binarized by `binarization`.
pub fn bars(binarization: Binarization) -> Data {
    let mut rng = host::seed::rng(5, 0);
    let mut img = |n: usize| -> Vec<f32> {
        (0..n * P)
            .map(|i| {
                let (k, p) = (i / P, i % P);
                let on = if k % 2 == 0 {
                    p / 4 == k % 4
                } else {
                    p % 4 == k % 4
                };
                let u = relax_core::math::uniform_open(&mut rng);
                if on {
                    0.9 - 0.2 * u
                } else {
                    0.1 * u
                }
            })
            .collect()
    };
    let train = img(72);
    let test = img(12);
    Data::from_gray(DataSet::Mnist, P, train, 12, test, binarization, 1).unwrap()
}

/// Writes `counts` (train, valid, test) random binary images in the `.amat` layout under
/// `dir`, about a third of the pixels on, drawn from an LCG started at `state`.
pub fn write_amat(dir: &Path, counts: [usize; 3], mut state: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, n) in host::vae::amat::FILES.iter().zip(counts) {
        let bits: Vec<u8> = (0..n * 784)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33).is_multiple_of(3) as u8
            })
            .collect();
        host::vae::amat::write(&dir.join(name), &bits).unwrap();
    }
}
