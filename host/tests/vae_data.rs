//! The VAE's data loaders on small files the tests write: IDX (gzip and raw, both file-name
//! spellings), the 50k/10k-style split and both binarizations, and Omniglot's `chardata.mat`
//! layout (plain and compressed MAT elements).

use host::vae::data::{Binarization, Data, DataSet};
use host::vae::{idx, omniglot};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relax-vae-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n` images of 4 x 4 pixels with intensities that identify them.
fn images(n: usize, offset: usize) -> Vec<u8> {
    (0..n * 16)
        .map(|i| ((i / 16 + offset) * 7 + (i % 16) * 13) as u8)
        .collect()
}

#[test]
fn idx_round_trips_gzip_and_raw_and_refuses_garbage() {
    let dir = tmp("idx");
    let data = images(5, 0);
    for gz in [true, false] {
        let p = dir.join(if gz { "a.gz" } else { "a" });
        idx::write(&p, &[5, 4, 4], &data, gz).unwrap();
        let r = idx::read(&p).unwrap();
        assert_eq!(r.dims, vec![5, 4, 4]);
        assert_eq!(r.data, data);
    }
    assert!(idx::parse(&[1, 2, 3, 4]).is_err());
    assert!(
        idx::parse(&[0, 0, 0x08, 1, 0, 0, 0, 9, 1, 2]).is_err(),
        "truncated"
    );
    assert!(
        idx::parse(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).is_err(),
        "float data"
    );
}

#[test]
fn mnist_layout_loads_splits_and_binarizes() {
    let dir = tmp("mnist");
    let train = images(12, 0);
    let test = images(3, 100);
    idx::write(
        &dir.join("train-images-idx3-ubyte.gz"),
        &[12, 4, 4],
        &train,
        true,
    )
    .unwrap();
    // The dot spelling, uncompressed.
    idx::write(
        &dir.join("t10k-images.idx3-ubyte"),
        &[3, 4, 4],
        &test,
        false,
    )
    .unwrap();
    let d = Data::load(DataSet::Mnist, &dir, Binarization::Fixed, 7).unwrap();
    assert_eq!((d.pixels, d.train.n, d.valid.n, d.test.n), (16, 10, 2, 3));
    // The validation split is the last sixth of the training file, in order.
    let g = d.valid.gray[0];
    assert!((g - train[10 * 16] as f32 / 255.0).abs() < 1e-6);
    assert!(d.train.bits.iter().all(|&b| b == 0.0 || b == 1.0));
    // Fixed binarization is reproducible from its seed and changes with it.
    let again = Data::load(DataSet::Mnist, &dir, Binarization::Fixed, 7).unwrap();
    assert_eq!(d.train.bits, again.train.bits);
    let other = Data::load(DataSet::Mnist, &dir, Binarization::Fixed, 8).unwrap();
    assert_ne!(d.train.bits, other.train.bits);
    // Its bits follow the intensities: the mean of the bits tracks the mean intensity.
    let mg: f32 = d.train.gray.iter().sum::<f32>() / d.train.gray.len() as f32;
    let mb: f32 = d.train.bits.iter().sum::<f32>() / d.train.bits.len() as f32;
    assert!((mg - mb).abs() < 0.15, "{mg} vs {mb}");
    assert_eq!(d.train_mean.len(), 16);
    // Dynamic binarization redraws training batches.
    let dy = Data::load(DataSet::FashionMnist, &dir, Binarization::Dynamic, 7).unwrap();
    let mut rng = host::seed::rng(1, 2);
    let (mut a, mut b) = (vec![0.0; 3 * 16], vec![0.0; 3 * 16]);
    dy.train_batch(&[0, 1, 2], &mut rng, &mut a);
    dy.train_batch(&[0, 1, 2], &mut rng, &mut b);
    assert_ne!(a, b);
    assert!(a.iter().all(|&v| v == 0.0 || v == 1.0));
    // A missing directory is an error that names the file.
    let e = Data::load(DataSet::Mnist, &dir.join("nope"), Binarization::Fixed, 0).unwrap_err();
    assert!(e.to_string().contains("train-images-idx3-ubyte"), "{e}");
}

#[test]
fn omniglot_chardata_layout_loads_transposed_and_split() {
    let dir = tmp("omniglot");
    let (n_train, n_test) = (12, 2);
    // Column j of `data` is image j; pixel (r, c) of image j in MATLAB's column order is
    // value (j + r * 28 + c) mod 251 / 251.
    let col = |j: usize, k: usize| ((j * 31 + k) % 251) as f32 / 251.0;
    let data: Vec<f32> = (0..n_train)
        .flat_map(|j| (0..784).map(move |k| col(j, k)))
        .collect();
    let testdata: Vec<f32> = (0..n_test)
        .flat_map(|j| (0..784).map(move |k| col(100 + j, k)))
        .collect();
    for compress in [false, true] {
        omniglot::write_mat(
            &dir.join("chardata.mat"),
            &[
                ("data", 784, n_train, &data),
                ("testdata", 784, n_test, &testdata),
            ],
            compress,
        )
        .unwrap();
        let (train, test) = omniglot::load_chardata(&dir.join("chardata.mat")).unwrap();
        assert_eq!((train.len(), test.len()), (n_train * 784, n_test * 784));
        // Transposed per image: row-major pixel r + 28 c holds MATLAB's 28 r + c.
        for (r, c) in [(0, 1), (3, 17), (27, 0)] {
            assert!((train[5 * 784 + r + 28 * c] - col(5, 28 * r + c)).abs() < 1e-6);
            assert!((test[784 + r + 28 * c] - col(101, 28 * r + c)).abs() < 1e-6);
        }
        let d = Data::load(DataSet::Omniglot, &dir, Binarization::Fixed, 3).unwrap();
        assert_eq!((d.train.n, d.valid.n, d.test.n), (10, 2, 2));
    }
    assert!(omniglot::read_mat(b"not a mat file").is_err());
}

#[test]
fn idx_refuses_zero_dimensions_and_bounds_a_gzip_bomb() {
    let dir = tmp("idx-hostile");
    // No dimensions at all, and a zero-sized one: errors, not a panic or a division by zero.
    assert!(idx::parse(&[0, 0, 0x08, 0]).is_err());
    let zero = idx::parse(&[0, 0, 0x08, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 4]);
    assert!(zero.unwrap_err().to_string().contains("zero"));
    // A header claiming 2^32 x 2^32 bytes.
    assert!(idx::parse(&[0, 0, 0x08, 2, 255, 255, 255, 255, 255, 255, 255, 255]).is_err());
    // A gzip bomb: a header declaring 16 bytes, then 64 MiB of zeros (64 KiB compressed).
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&[0, 0, 0x08, 1, 0, 0, 0, 16]).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let p = dir.join("bomb.gz");
    std::fs::write(&p, e.finish().unwrap()).unwrap();
    let err = idx::read(&p).unwrap_err().to_string();
    assert!(err.contains("more than the 24 bytes"), "{err}");
    assert!(err.contains("bomb.gz"), "the message names the file: {err}");
}
