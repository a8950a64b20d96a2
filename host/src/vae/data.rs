//! The VAE's data: MNIST and Fashion-MNIST (IDX files) and Omniglot (`chardata.mat`), split
//! into train / validation / test and binarized.
//!
//! - MNIST, Fashion-MNIST: the 60,000 training images are split into the first 50,000 for
//!   training and the last 10,000 for validation (a sixth of whatever the file holds); the
//!   10,000 test images are the test set.
//! - Omniglot: the training images are shuffled with seed 123 and the last 1,345 are held out
//!   for validation (the reference code's split; a sixth of a smaller file); `testdata` is
//!   the test set.
//! - Binarized MNIST (Larochelle & Murray's `.amat` files, the paper's data): the bits are
//!   given, 50,000 / 10,000 / 10,000 images; no binarization step, fixed only.
//! - Binarization: *fixed* draws each pixel once, `x = 1[u < intensity]`, from a recorded
//!   seed (the paper used Larochelle's fixed binarization of MNIST, `--data binarized-mnist`
//!   after `relax data fetch binarized-mnist`; ours is a different, equally valid draw, so
//!   numbers are comparable in kind, not to the decimal). *Dynamic* redraws the training pixels every time a batch is formed; validation
//!   and test keep the fixed draw so that evaluations are comparable across epochs.

use super::{amat, idx, omniglot};
use crate::Result;
use rand_core::Rng;
use relax_core::math::uniform_open;
use std::path::{Path, PathBuf};

/// Which data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DataSet {
    /// MNIST digits (IDX files).
    Mnist,
    /// Fashion-MNIST (IDX files; Debian's `dataset-fashion-mnist`).
    FashionMnist,
    /// Omniglot 28 x 28 (`chardata.mat`).
    Omniglot,
    /// Larochelle & Murray's fixed binarization of MNIST (`.amat` files).
    BinarizedMnist,
}

impl DataSet {
    /// Short name.
    pub fn label(self) -> &'static str {
        match self {
            DataSet::Mnist => "mnist",
            DataSet::FashionMnist => "fashion-mnist",
            DataSet::Omniglot => "omniglot",
            DataSet::BinarizedMnist => "binarized-mnist",
        }
    }

    /// Environment variable that names the data directory.
    pub fn env_var(self) -> &'static str {
        match self {
            DataSet::Mnist => "RELAX_MNIST_DIR",
            DataSet::FashionMnist => "RELAX_FASHION_MNIST_DIR",
            DataSet::Omniglot => "RELAX_OMNIGLOT_DIR",
            DataSet::BinarizedMnist => "RELAX_BINARIZED_MNIST_DIR",
        }
    }

    /// The files whose presence marks a directory as holding this data set (what
    /// `relax data fetch` writes).
    pub fn marker_files(self) -> &'static [&'static str] {
        match self {
            DataSet::Mnist | DataSet::FashionMnist => {
                &["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"]
            }
            DataSet::Omniglot => &["chardata.mat"],
            DataSet::BinarizedMnist => &amat::FILES,
        }
    }

    /// The directory to read: `flag`, else `$<env_var>`, else `<data root>/<label>` where
    /// `relax data fetch` puts it (`$RELAX_DATA`, then the XDG data directory; only a
    /// directory holding the files), else the default (MNIST: `../shared/data/mnist` beside
    /// the checkout; Fashion-MNIST: Debian's `/usr/share/datasets/fashion-mnist`; Omniglot
    /// and binarized MNIST have none).
    pub fn resolve_dir(self, flag: Option<&Path>) -> Result<PathBuf> {
        if let Some(p) = flag {
            return Ok(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os(self.env_var()) {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = crate::datadir::installed(self.label(), self.marker_files()) {
            return Ok(p);
        }
        match self {
            DataSet::Mnist => Ok(PathBuf::from("../shared/data/mnist")),
            DataSet::FashionMnist => Ok(PathBuf::from("/usr/share/datasets/fashion-mnist")),
            DataSet::Omniglot => Err(format!(
                "Omniglot: pass --data-dir (a directory holding chardata.mat) or set {}",
                self.env_var()
            )
            .into()),
            DataSet::BinarizedMnist => Err(format!(
                "binarized MNIST: run `relax data fetch binarized-mnist`, or pass --data-dir (a \
                 directory holding {}) or set {}",
                amat::FILES.join(", "),
                self.env_var()
            )
            .into()),
        }
    }
}

/// How pixels become bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Binarization {
    /// One draw per pixel, from a recorded seed, for the whole run.
    Fixed,
    /// Training pixels redrawn for every batch.
    Dynamic,
}

/// One split: grey levels in [0, 1] and their fixed binarization, `n x pixels` row-major.
#[derive(Debug, Clone)]
pub struct Split {
    /// Number of images.
    pub n: usize,
    /// Intensities in [0, 1].
    pub gray: Vec<f32>,
    /// The fixed binarization (0/1).
    pub bits: Vec<f32>,
}

impl Split {
    fn new(gray: Vec<f32>, pixels: usize, rng: &mut impl Rng) -> Self {
        let bits = gray
            .iter()
            .map(|&p| if uniform_open(rng) < p { 1.0 } else { 0.0 })
            .collect();
        Self {
            n: gray.len() / pixels,
            gray,
            bits,
        }
    }

    /// Row `i` of the fixed binarization.
    pub fn row(&self, i: usize, pixels: usize) -> &[f32] {
        &self.bits[i * pixels..(i + 1) * pixels]
    }
}

/// A data set ready for the VAE.
#[derive(Debug, Clone)]
pub struct Data {
    /// Which one.
    pub set: DataSet,
    /// Pixels per image (784).
    pub pixels: usize,
    /// Training split.
    pub train: Split,
    /// Validation split.
    pub valid: Split,
    /// Test split.
    pub test: Split,
    /// Fixed or dynamic.
    pub binarization: Binarization,
    /// The seed of the fixed binarization.
    pub binarization_seed: u64,
    /// Mean of the training pixels (of the bits for fixed binarization, of the intensities
    /// for dynamic): the encoder centres its input on it, the decoder's output bias starts
    /// at its logit.
    pub train_mean: Vec<f32>,
}

impl Data {
    /// Builds the splits from grey levels: `train_all` is split into train and validation
    /// (the last `n_valid` rows), `test` is kept.
    pub fn from_gray(
        set: DataSet,
        pixels: usize,
        train_all: Vec<f32>,
        n_valid: usize,
        test: Vec<f32>,
        binarization: Binarization,
        binarization_seed: u64,
    ) -> Result<Self> {
        let n_all = train_all.len() / pixels;
        if n_all <= n_valid
            || !train_all.len().is_multiple_of(pixels)
            || !test.len().is_multiple_of(pixels)
        {
            return Err(format!("{}: bad sizes ({n_all} training images)", set.label()).into());
        }
        let mut rng = crate::seed::rng(binarization_seed, 0xb1a5);
        let cut = (n_all - n_valid) * pixels;
        let valid = train_all[cut..].to_vec();
        let mut train_gray = train_all;
        train_gray.truncate(cut);
        let train = Split::new(train_gray, pixels, &mut rng);
        let valid = Split::new(valid, pixels, &mut rng);
        let test = Split::new(test, pixels, &mut rng);
        let src = match binarization {
            Binarization::Fixed => &train.bits,
            Binarization::Dynamic => &train.gray,
        };
        let train_mean = column_mean(src, pixels);
        Ok(Self {
            set,
            pixels,
            train,
            valid,
            test,
            binarization,
            binarization_seed,
            train_mean,
        })
    }

    /// Builds the splits from bits given as they are (binarized MNIST): no binarization step,
    /// fixed; `binarization_seed` is only recorded.
    pub fn from_bits(
        set: DataSet,
        pixels: usize,
        train: Vec<f32>,
        valid: Vec<f32>,
        test: Vec<f32>,
        binarization_seed: u64,
    ) -> Result<Self> {
        let split = |bits: Vec<f32>| -> Result<Split> {
            if bits.is_empty() || !bits.len().is_multiple_of(pixels) {
                return Err(format!("{}: bad sizes ({} values)", set.label(), bits.len()).into());
            }
            Ok(Split {
                n: bits.len() / pixels,
                gray: bits.clone(),
                bits,
            })
        };
        let (train, valid, test) = (split(train)?, split(valid)?, split(test)?);
        let train_mean = column_mean(&train.bits, pixels);
        Ok(Self {
            set,
            pixels,
            train,
            valid,
            test,
            binarization: Binarization::Fixed,
            binarization_seed,
            train_mean,
        })
    }

    /// Loads `set` from `dir`.
    pub fn load(
        set: DataSet,
        dir: &Path,
        binarization: Binarization,
        binarization_seed: u64,
    ) -> Result<Self> {
        match set {
            DataSet::BinarizedMnist => {
                if binarization == Binarization::Dynamic {
                    return Err(DYNAMIC_REFUSED.into());
                }
                let [tr, va, te] = amat::FILES.map(|f| amat::read(&dir.join(f)));
                Self::from_bits(set, amat::PIXELS, tr?, va?, te?, binarization_seed)
            }
            DataSet::Mnist | DataSet::FashionMnist => {
                let tr = idx::read(&idx::find(dir, "train-images-idx3-ubyte")?)?;
                let te = idx::read(&idx::find(dir, "t10k-images-idx3-ubyte")?)?;
                let pixels: usize = tr.dims[1..].iter().product();
                let te_pixels: usize = te.dims[1..].iter().product();
                if tr.dims.len() != 3 || pixels != te_pixels {
                    return Err(format!(
                        "{}: image dims {:?} vs {:?}",
                        dir.display(),
                        tr.dims,
                        te.dims
                    )
                    .into());
                }
                let n = tr.dims[0];
                let n_valid = if n == 60_000 { 10_000 } else { n / 6 };
                let to_f = |d: &[u8]| d.iter().map(|&v| v as f32 / 255.0).collect::<Vec<f32>>();
                Self::from_gray(
                    set,
                    pixels,
                    to_f(&tr.data),
                    n_valid,
                    to_f(&te.data),
                    binarization,
                    binarization_seed,
                )
            }
            DataSet::Omniglot => {
                let (mut train, test) = omniglot::load_chardata(&dir.join("chardata.mat"))?;
                let pixels = 784;
                let n = train.len() / pixels;
                // Shuffle with seed 123 (the reference code's; a different generator).
                let mut rng = crate::seed::rng(123, 0);
                let mut order: Vec<usize> = (0..n).collect();
                shuffle(&mut order, &mut rng);
                let mut shuffled = vec![0.0f32; train.len()];
                for (dst, &src) in order.iter().enumerate() {
                    shuffled[dst * pixels..(dst + 1) * pixels]
                        .copy_from_slice(&train[src * pixels..(src + 1) * pixels]);
                }
                train = shuffled;
                let n_valid = 1345.min(n / 6);
                Self::from_gray(
                    set,
                    pixels,
                    train,
                    n_valid,
                    test,
                    binarization,
                    binarization_seed,
                )
            }
        }
    }

    /// Copies training rows `idx` into `out` (`idx.len() x pixels`), fixed or freshly drawn.
    pub fn train_batch<R: Rng + ?Sized>(&self, idx: &[usize], rng: &mut R, out: &mut [f32]) {
        let p = self.pixels;
        if self.binarization == Binarization::Fixed {
            // By rows on the product threads (each row's first reader is the thread that
            // takes that row in `Vae::set_input`).
            super::rows::par_rows(out, idx.len(), p, |r, dst| {
                dst.copy_from_slice(self.train.row(idx[r], p))
            });
            return;
        }
        // Dynamic: each pixel drawn from the one generator, in order.
        for (r, &i) in idx.iter().enumerate() {
            let dst = &mut out[r * p..(r + 1) * p];
            for (d, &g) in dst.iter_mut().zip(&self.train.gray[i * p..(i + 1) * p]) {
                *d = if uniform_open(rng) < g { 1.0 } else { 0.0 };
            }
        }
    }
}

/// The error for `--binarization dynamic` on binarized MNIST.
pub const DYNAMIC_REFUSED: &str = "--binarization dynamic: binarized-mnist is already binary \
    (Larochelle & Murray's fixed binarization, no grey levels to redraw); use --binarization \
    fixed, or --data mnist for dynamic binarization";

/// Mean of each column of `rows` (`n x pixels`).
fn column_mean(rows: &[f32], pixels: usize) -> Vec<f32> {
    let mut mean = vec![0.0f64; pixels];
    for row in rows.chunks_exact(pixels) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    let n = (rows.len() / pixels).max(1) as f64;
    mean.iter().map(|m| (m / n) as f32).collect()
}

/// Fisher-Yates.
pub fn shuffle<R: Rng + ?Sized>(v: &mut [usize], rng: &mut R) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}
