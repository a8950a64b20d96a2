//! The data sets `relax data` knows: files, sizes, SHA-256 and mirrors.
//!
//! Sources of the hashes (sizes and SHA-256 as tensorflow-datasets records them in
//! `tensorflow_datasets/url_checksums/<name>.txt` of github.com/tensorflow/datasets):
//! - MNIST: `mnist.txt` (recorded from Google's cvdf mirror; the ossci mirror torchvision
//!   uses and LeCun's site serve the same original files, and a mirror serving other bytes,
//!   e.g. a recompressed copy, fails verification and the next one is tried);
//! - Fashion-MNIST: `fashion_mnist.txt`;
//! - binarized MNIST (Larochelle & Murray): `binarized_mnist.txt`.
//!
//! Omniglot's 28 x 28 `chardata.mat` (the IWAE repository's, which the IWAE, REBAR, RELAX,
//! DisARM and RODEO papers use) has no published SHA-256 (tensorflow-datasets records only
//! the original 105 x 105 Omniglot zips, which the VAE does not read). Its one published
//! hash is its git blob id in github.com/yburda/iwae's tree at commit 78a6075 (the
//! repository's last): `016a3536ffe5e1d38e42563a18d7a78bfaf643ec`, read from that tree with
//! `git ls-tree`; the file is verified against it ([`Expect::GitBlob`]: SHA-1 of `blob
//! <size>\0` and the bytes, what `git hash-object` prints). The tree does not give the size:
//! at most 100 MiB is accepted (GitHub refuses larger files in a repository). The mirrors
//! name that commit first, then the default branch.

use super::fetch::{Expect, FileSpec};

/// One data set: its label (also its directory under the data root) and its files.
#[derive(Debug, Clone)]
pub struct SetSpec {
    /// Label and directory name (`mnist`, `binarized-mnist`, ...).
    pub label: &'static str,
    /// The files, with their hashes and mirrors.
    pub files: Vec<FileSpec>,
}

const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];
const FASHION_MIRRORS: [&str; 1] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];
const BINARIZED_MIRRORS: [&str; 1] =
    ["http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"];
const OMNIGLOT_MIRRORS: [&str; 3] = [
    "https://raw.githubusercontent.com/yburda/iwae/78a6075484bd7dd6f47a4bb9880d2295bc7a5220/datasets/OMNIGLOT/",
    "https://github.com/yburda/iwae/raw/78a6075484bd7dd6f47a4bb9880d2295bc7a5220/datasets/OMNIGLOT/",
    "https://raw.githubusercontent.com/yburda/iwae/master/datasets/OMNIGLOT/",
];
/// The git blob id of `datasets/OMNIGLOT/chardata.mat` in yburda/iwae at 78a6075.
const CHARDATA_BLOB: &str = "016a3536ffe5e1d38e42563a18d7a78bfaf643ec";

fn files(mirrors: &[&str], table: &[(&str, u64, &str)]) -> Vec<FileSpec> {
    table
        .iter()
        .map(|&(name, size, sha256)| FileSpec {
            name: name.to_string(),
            expect: Expect::Sha256 {
                size,
                sha256: sha256.to_string(),
            },
            mirrors: mirrors.iter().map(|m| format!("{m}{name}")).collect(),
        })
        .collect()
}

/// Every data set, in the order `relax data list` shows them.
pub fn all() -> Vec<SetSpec> {
    vec![
        SetSpec {
            label: "mnist",
            files: files(
                &MNIST_MIRRORS,
                &[
                    (
                        "train-images-idx3-ubyte.gz",
                        9_912_422,
                        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    ),
                    (
                        "train-labels-idx1-ubyte.gz",
                        28_881,
                        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    ),
                    (
                        "t10k-images-idx3-ubyte.gz",
                        1_648_877,
                        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    ),
                    (
                        "t10k-labels-idx1-ubyte.gz",
                        4_542,
                        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    ),
                ],
            ),
        },
        SetSpec {
            label: "binarized-mnist",
            files: files(
                &BINARIZED_MIRRORS,
                &[
                    (
                        "binarized_mnist_train.amat",
                        78_400_000,
                        "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
                    ),
                    (
                        "binarized_mnist_valid.amat",
                        15_680_000,
                        "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
                    ),
                    (
                        "binarized_mnist_test.amat",
                        15_680_000,
                        "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
                    ),
                ],
            ),
        },
        SetSpec {
            label: "fashion-mnist",
            files: files(
                &FASHION_MIRRORS,
                &[
                    (
                        "train-images-idx3-ubyte.gz",
                        26_421_880,
                        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                    ),
                    (
                        "train-labels-idx1-ubyte.gz",
                        29_515,
                        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                    ),
                    (
                        "t10k-images-idx3-ubyte.gz",
                        4_422_102,
                        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                    ),
                    (
                        "t10k-labels-idx1-ubyte.gz",
                        5_148,
                        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                    ),
                ],
            ),
        },
        SetSpec {
            label: "omniglot",
            files: vec![FileSpec {
                name: "chardata.mat".to_string(),
                expect: Expect::GitBlob {
                    max_size: 100 << 20,
                    sha1: CHARDATA_BLOB.to_string(),
                },
                mirrors: OMNIGLOT_MIRRORS
                    .iter()
                    .map(|m| format!("{m}chardata.mat"))
                    .collect(),
            }],
        },
    ]
}

/// The data set labelled `label`.
pub fn get(label: &str) -> Option<SetSpec> {
    all().into_iter().find(|s| s.label == label)
}
