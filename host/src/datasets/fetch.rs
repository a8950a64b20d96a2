//! Downloading files whose SHA-256 and size are known in advance, from mirrors tried in
//! order, the way torchvision and tensorflow-datasets do it (or, for a file only a git
//! repository publishes, whose git blob id is known: [`Expect::GitBlob`]).
//!
//! Each file goes to a hidden temporary name in the target directory, and is renamed into
//! place only once its size and hash match; a failed, truncated or
//! mismatched transfer removes the temporary file and tries the next mirror, so nothing
//! half-written is ever left under the file's name. Every network operation has a timeout
//! (connect, response, each read, the whole body) and a transfer longer than the expected
//! size is cut off at one byte more and refused.

use crate::Result;
use sha2::Digest;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a file must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exactly `size` bytes with this SHA-256 (lowercase hex).
    Sha256 {
        /// Size, bytes.
        size: u64,
        /// SHA-256, lowercase hex.
        sha256: String,
    },
    /// The git blob id the file has in a published repository's tree: the SHA-1
    /// (lowercase hex) of `blob <size>\0` followed by the bytes, what `git hash-object`
    /// prints. The tree does not give the size, so only a bound is enforced.
    GitBlob {
        /// The largest size accepted, bytes.
        max_size: u64,
        /// The blob id, lowercase hex.
        sha1: String,
    },
}

impl Expect {
    /// The largest size accepted.
    pub fn max_size(&self) -> u64 {
        match self {
            Expect::Sha256 { size, .. } => *size,
            Expect::GitBlob { max_size, .. } => *max_size,
        }
    }

    /// `"<n> bytes, SHA-256 <hex>"` or `"git blob <hex>"`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Expect::Sha256 { size, sha256 } => format!("{size} bytes, SHA-256 {sha256}"),
            Expect::GitBlob { max_size, sha1 } => {
                format!("git blob {sha1}, at most {max_size} bytes")
            }
        }
    }
}

/// One file to fetch: its name in the target directory, what it must be, and the URLs to
/// try in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// File name in the target directory.
    pub name: String,
    /// Its size and hash.
    pub expect: Expect,
    /// Full URLs, tried in order.
    pub mirrors: Vec<String>,
}

/// Network timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    /// TCP (and TLS) connection.
    pub connect: Duration,
    /// From the request sent to the response's headers.
    pub response: Duration,
    /// Each read of the body (a stalled transfer).
    pub per_read: Duration,
    /// The whole body.
    pub body: Duration,
}

impl Default for Net {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            response: Duration::from_secs(60),
            per_read: Duration::from_secs(60),
            body: Duration::from_secs(3600),
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Already there with the right size and SHA-256.
    Present,
    /// Downloaded and verified, from this URL.
    Downloaded(String),
}

fn hash_file<H: Digest>(path: &Path, mut h: H) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    Ok(hex(&h.finalize()))
}

/// The SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    hash_file(path, sha2::Sha256::new())
}

/// The git blob id of a file (what `git hash-object` prints), lowercase hex.
pub fn git_blob_file(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {len}\0").as_bytes());
    hash_file(path, h)
}

/// Why the whole file at `path` is not what `expect` says (`None`: it is).
fn mismatch(path: &Path, expect: &Expect) -> std::io::Result<Option<String>> {
    let len = std::fs::metadata(path)?.len();
    Ok(match expect {
        Expect::Sha256 { size, .. } if len != *size => {
            Some(format!("truncated: {len} of {size} bytes"))
        }
        Expect::Sha256 { sha256, .. } => {
            let sum = sha256_file(path)?;
            (sum != *sha256).then(|| format!("SHA-256 {sum}, expected {sha256}"))
        }
        Expect::GitBlob { max_size, .. } if len > *max_size => {
            Some(format!("{len} bytes, more than {max_size}"))
        }
        Expect::GitBlob { sha1, .. } => {
            let id = git_blob_file(path)?;
            (id != *sha1).then(|| format!("git blob {id}, expected {sha1}"))
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `path` exists with `spec`'s size and hash: `Ok(None)` if it is missing,
/// `Ok(Some(true))` if it matches, `Ok(Some(false))` with a different size or hash.
pub fn verify(path: &Path, spec: &FileSpec) -> std::io::Result<Option<bool>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(m) if !m.is_file() || m.len() > spec.expect.max_size() => Ok(Some(false)),
        Ok(_) => Ok(Some(mismatch(path, &spec.expect)?.is_none())),
    }
}

/// A temporary file removed when dropped unless it was renamed into place.
struct Temp {
    path: PathBuf,
    keep: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn agent(net: &Net) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(net.connect))
        .timeout_recv_response(Some(net.response))
        .timeout_per_read(Some(net.per_read))
        .timeout_recv_body(Some(net.body))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Downloads `url` into `tmp`, checking size and hash against `spec`.
fn download(agent: &ureq::Agent, url: &str, spec: &FileSpec, tmp: &Path) -> Result<()> {
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}").into());
    }
    let declared = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let max = spec.expect.max_size();
    match (&spec.expect, declared) {
        (Expect::Sha256 { size, .. }, Some(len)) if len != *size => {
            return Err(format!("the server declares {len} bytes, {size} expected").into());
        }
        (Expect::GitBlob { .. }, Some(len)) if len > max => {
            return Err(format!("the server declares {len} bytes, at most {max} accepted").into());
        }
        _ => {}
    }
    let mut reader = resp.body_mut().with_config().limit(max + 1).reader();
    let mut file = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        crate::interrupt::check()?;
        let k = match reader.read(&mut buf) {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!("transfer failed after {got} bytes: {e}").into());
            }
        };
        if k == 0 {
            break;
        }
        got += k as u64;
        if got > max {
            return Err(format!("more than the expected {max} bytes").into());
        }
        file.write_all(&buf[..k])
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    file.sync_all()?;
    match mismatch(tmp, &spec.expect)? {
        Some(why) => Err(why.into()),
        None => Ok(()),
    }
}

/// Fetches one file into `dir`: kept if already verified, else downloaded from the first
/// mirror that gives the right bytes. The error names the file and every mirror's failure.
pub fn fetch_one(dir: &Path, spec: &FileSpec, net: &Net) -> Result<Fetched> {
    let dest = dir.join(&spec.name);
    if verify(&dest, spec)? == Some(true) {
        return Ok(Fetched::Present);
    }
    let agent = agent(net);
    let mut failures = Vec::new();
    for url in &spec.mirrors {
        let tmp = Temp {
            path: crate::output::temp_path(&dest),
            keep: false,
        };
        match download(&agent, url, spec, &tmp.path) {
            Ok(()) => {
                crate::output::commit(&tmp.path, &dest)?;
                let mut tmp = tmp;
                tmp.keep = true;
                return Ok(Fetched::Downloaded(url.clone()));
            }
            Err(e) if crate::interrupt::requested() => return Err(e),
            Err(e) => failures.push(format!("  {url}: {e}")),
        }
    }
    Err(format!(
        "{}: no mirror gave the expected file ({}); nothing was written:\n{}",
        spec.name,
        spec.expect.describe(),
        failures.join("\n")
    )
    .into())
}

/// Fetches every file of `files` into `dir` (created if needed), one after another, calling
/// `log` with one line per file. Stops at the first file no mirror could give; files
/// fetched before it stay (each is whole and verified).
pub fn fetch_all(
    dir: &Path,
    files: &[FileSpec],
    net: &Net,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for spec in files {
        let line = match fetch_one(dir, spec, net)? {
            Fetched::Present => format!("{}: present, verified", spec.name),
            Fetched::Downloaded(url) => format!("{}: downloaded from {url}, verified", spec.name),
        };
        log(&line);
        out.push(dir.join(&spec.name));
    }
    Ok(out)
}
