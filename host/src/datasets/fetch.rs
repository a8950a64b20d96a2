//! Downloading files whose SHA-256 and size are known in advance, from mirrors tried in
//! order, the way torchvision and tensorflow-datasets do it.
//!
//! Each file goes to a hidden temporary name in the target directory while it is hashed,
//! and is renamed into place only once its size and SHA-256 match; a failed, truncated or
//! mismatched transfer removes the temporary file and tries the next mirror, so nothing
//! half-written is ever left under the file's name. Every network operation has a timeout
//! (connect, response, each read, the whole body) and a transfer longer than the expected
//! size is cut off at one byte more and refused.

use crate::Result;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One file to fetch: its name in the target directory, its SHA-256 (lowercase hex), its
/// size in bytes, and the URLs to try in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// File name in the target directory.
    pub name: String,
    /// Expected SHA-256, lowercase hex.
    pub sha256: String,
    /// Expected size, bytes.
    pub size: u64,
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

/// The SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `path` exists with `spec`'s size and SHA-256: `Ok(None)` if it is missing,
/// `Ok(Some(true))` if it matches, `Ok(Some(false))` with a different size or hash.
pub fn verify(path: &Path, spec: &FileSpec) -> std::io::Result<Option<bool>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(m) if !m.is_file() || m.len() != spec.size => Ok(Some(false)),
        Ok(_) => Ok(Some(sha256_file(path)? == spec.sha256)),
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
    if let Some(len) = declared.filter(|&l| l != spec.size) {
        return Err(format!("the server declares {len} bytes, {} expected", spec.size).into());
    }
    let mut reader = resp.body_mut().with_config().limit(spec.size + 1).reader();
    let mut file = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut h = Sha256::new();
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
        if got > spec.size {
            return Err(format!("more than the expected {} bytes", spec.size).into());
        }
        h.update(&buf[..k]);
        file.write_all(&buf[..k])
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    if got != spec.size {
        return Err(format!("truncated: {got} of {} bytes", spec.size).into());
    }
    let sum = hex(&h.finalize());
    if sum != spec.sha256 {
        return Err(format!("SHA-256 {sum}, expected {}", spec.sha256).into());
    }
    file.sync_all()?;
    Ok(())
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
        "{}: no mirror gave the expected file ({} bytes, SHA-256 {}); nothing was written:\n{}",
        spec.name,
        spec.size,
        spec.sha256,
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
            Fetched::Present => format!("{}: present, SHA-256 verified", spec.name),
            Fetched::Downloaded(url) => format!("{}: downloaded from {url}, verified", spec.name),
        };
        log(&line);
        out.push(dir.join(&spec.name));
    }
    Ok(out)
}
