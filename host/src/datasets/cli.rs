//! The `relax data` subcommand: `relax data fetch <set> [--dir DIR]` and `relax data list`.

use super::catalog::{self, SetSpec};
use super::fetch::{fetch_all, verify, Net};
use crate::Result;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

/// Downloads and lists the VAE's data sets (MNIST, Larochelle's binarized MNIST,
/// Fashion-MNIST, Omniglot).
///
/// Files go to <root>/<data set>/, where the root is --dir, else $RELAX_DATA, else
/// $XDG_DATA_HOME/relax, else ~/.local/share/relax; `relax vae` looks there by itself.
/// Every file is checked against a SHA-256 kept in the source (tensorflow-datasets' values;
/// for Omniglot's chardata.mat, which has none, its git blob id in the IWAE repository) and
/// written atomically: a failed or mismatched download leaves nothing behind.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// What to do.
#[derive(Debug, Clone, Subcommand)]
pub enum DataCommand {
    /// Download a data set (mirrors tried in order; files already present and verified are
    /// kept).
    Fetch(FetchArgs),
    /// Show, per data set, where its files are expected and which are present and verified.
    List(ListArgs),
}

/// A data set that can be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SetArg {
    /// MNIST IDX files (ossci S3 mirror, Google's cvdf mirror, yann.lecun.com).
    Mnist,
    /// Larochelle & Murray's fixed binarization of MNIST (the paper's data), .amat files.
    BinarizedMnist,
    /// Fashion-MNIST IDX files.
    FashionMnist,
    /// Omniglot 28x28 chardata.mat of the IWAE repository (verified by its git blob id).
    Omniglot,
}

impl SetArg {
    fn label(self) -> &'static str {
        match self {
            SetArg::Mnist => "mnist",
            SetArg::BinarizedMnist => "binarized-mnist",
            SetArg::FashionMnist => "fashion-mnist",
            SetArg::Omniglot => "omniglot",
        }
    }
}

/// `relax data fetch`.
#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    /// The data set.
    #[arg(value_enum)]
    pub set: SetArg,
    /// Data root (the files go to DIR/<data set>/). Default: $RELAX_DATA, else
    /// $XDG_DATA_HOME/relax, else ~/.local/share/relax.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `relax data list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Data root. Default: $RELAX_DATA, else $XDG_DATA_HOME/relax, else ~/.local/share/relax.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `relax data` with the global flags (unused: nothing goes under --out).
pub fn run(a: DataArgs, _ctx: &crate::Ctx) -> Result<()> {
    match a.command {
        DataCommand::Fetch(f) => {
            let spec = catalog::get(f.set.label()).expect("every SetArg is in the catalog");
            fetch_set(&spec, f.dir.as_deref(), &Net::default())
        }
        DataCommand::List(l) => list(&crate::datadir::root(l.dir.as_deref())),
    }
}

/// Fetches `spec` into `<root>/<label>` and says where the files are.
pub fn fetch_set(spec: &SetSpec, root: Option<&Path>, net: &Net) -> Result<()> {
    let dir = crate::datadir::set_dir(root, spec.label);
    eprintln!("fetching {} into {}", spec.label, dir.display());
    fetch_all(&dir, &spec.files, net, &mut |line| eprintln!("  {line}"))?;
    println!(
        "{}: {} files in {}",
        spec.label,
        spec.files.len(),
        dir.display()
    );
    println!(
        "use: relax vae --data {} --data-dir {}{}",
        spec.label,
        dir.display(),
        if root.is_none() {
            " (or without --data-dir: relax vae looks there itself)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Prints, per data set, its directory under `root` and each file's state.
pub fn list(root: &Path) -> Result<()> {
    println!("data root: {}", root.display());
    for spec in catalog::all() {
        let dir = root.join(spec.label);
        let mut present = 0;
        let mut lines = Vec::new();
        for f in &spec.files {
            let path = dir.join(&f.name);
            let state = match verify(&path, f)? {
                None => "missing",
                Some(true) => {
                    present += 1;
                    "present, verified"
                }
                Some(false) => "present but WRONG size or hash (fetch again)",
            };
            lines.push(format!("    {:<28} {state}", f.name));
        }
        println!(
            "{:<16} {present}/{} files in {}",
            spec.label,
            spec.files.len(),
            dir.display()
        );
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}
