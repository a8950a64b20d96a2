//! Where downloaded data sets live, shared by `relax data` (which writes them) and the
//! experiments that read them (`relax vae`).
//!
//! The data root is, in order: an explicit directory (`relax data --dir`), else
//! `$RELAX_DATA`, else the platform's data directory (`$XDG_DATA_HOME/relax`, else
//! `~/.local/share/relax`). Each data set has its own subdirectory named by its label:
//! `<root>/mnist`, `<root>/binarized-mnist`, `<root>/fashion-mnist`, `<root>/omniglot`.

use std::path::{Path, PathBuf};

/// Environment variable naming the data root.
pub const ENV: &str = "RELAX_DATA";

/// The platform's data directory for relax: `$XDG_DATA_HOME/relax`, else
/// `$HOME/.local/share/relax`; `None` when neither variable is set.
pub fn xdg_root() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("relax"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/relax"))
}

/// The data root: `flag`, else `$RELAX_DATA`, else [`xdg_root`], else `./relax-data` (no
/// home directory at all).
pub fn root(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    xdg_root().unwrap_or_else(|| PathBuf::from("relax-data"))
}

/// The directory of data set `label` under the data root [`root`]`(flag)`.
pub fn set_dir(flag: Option<&Path>, label: &str) -> PathBuf {
    root(flag).join(label)
}

/// The first of `$RELAX_DATA/<label>` and `<xdg>/<label>` that holds every file of `files`
/// (names relative to that directory); `None` when neither does. Readers call this between
/// their own variables and their built-in defaults, so an empty or partial download is never
/// picked.
pub fn installed(label: &str, files: &[&str]) -> Option<PathBuf> {
    let roots = [
        std::env::var_os(ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        xdg_root(),
    ];
    roots
        .into_iter()
        .flatten()
        .map(|r| r.join(label))
        .find(|d| files.iter().all(|f| d.join(f).is_file()))
}
