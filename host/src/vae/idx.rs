//! The IDX format of MNIST and Fashion-MNIST (LeCun's `train-images-idx3-ubyte` and
//! friends), gzip-compressed or raw, unsigned-byte data only.

use crate::Result;
use flate2::read::GzDecoder;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// An IDX array of unsigned bytes: its dimensions and data (row-major).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The bytes, `product(dims)` of them.
    pub data: Vec<u8>,
}

/// Largest IDX array read, bytes (MNIST's training images are 47 MB).
pub const MAX_BYTES: usize = 1 << 30;

/// The dimensions an IDX header declares and the header's length, checked: 1 to 4
/// dimensions, none zero, at most [`MAX_BYTES`] of data.
fn header(bytes: &[u8]) -> Result<(Vec<usize>, usize)> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an IDX file (bad magic)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!("IDX data type 0x{:02x} is not unsigned byte", bytes[2]).into());
    }
    let nd = bytes[3] as usize;
    if !(1..=4).contains(&nd) {
        return Err(format!("IDX with {nd} dimensions (1 to 4 expected)").into());
    }
    let len = 4 + 4 * nd;
    if bytes.len() < len {
        return Err("IDX header truncated".into());
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_BYTES);
    match n {
        _ if dims.contains(&0) => Err(format!("IDX dimensions {dims:?} include a zero").into()),
        None => Err(format!("IDX dimensions {dims:?} exceed {MAX_BYTES} bytes").into()),
        Some(_) => Ok((dims, len)),
    }
}

/// Parses IDX bytes (already decompressed).
pub fn parse(bytes: &[u8]) -> Result<Idx> {
    let (dims, header) = header(bytes)?;
    let n: usize = dims.iter().product();
    if bytes.len() < header + n {
        return Err(format!(
            "IDX data truncated: {} bytes for dims {dims:?}",
            bytes.len() - header
        )
        .into());
    }
    Ok(Idx {
        dims,
        data: bytes[header..header + n].to_vec(),
    })
}

/// Reads an IDX file, gunzipping it when it starts with the gzip magic. A compressed file
/// is decompressed only as far as its header declares (a stream that would expand beyond
/// that is refused after reading one byte more), so a gzip bomb costs no more memory than
/// the array it claims to hold, at most [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<Idx> {
    let at =
        |e: &dyn std::fmt::Display| -> crate::Error { format!("{}: {e}", path.display()).into() };
    let raw = std::fs::read(path).map_err(|e| at(&e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut gz = GzDecoder::new(&raw[..]);
        let mut head = [0u8; 4];
        gz.read_exact(&mut head).map_err(|e| at(&e))?;
        let nd = head[3] as usize;
        let mut out = head.to_vec();
        out.resize(4 + 4 * nd.min(4), 0);
        gz.read_exact(&mut out[4..]).map_err(|e| at(&e))?;
        let (dims, len) = header(&out).map_err(|e| at(&e))?;
        let expected = len + dims.iter().product::<usize>();
        (&mut gz)
            .take((expected - out.len()) as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| at(&e))?;
        if out.len() > expected {
            return Err(at(&format!(
                "decompresses to more than the {expected} bytes its header declares"
            )));
        }
        out
    } else {
        raw
    };
    parse(&bytes).map_err(|e| at(&e))
}

/// Finds `stem` (e.g. `train-images-idx3-ubyte`) in `dir` as `stem.gz`, `stem`, or with the
/// dot spelling `train-images.idx3-ubyte[.gz]` some mirrors use.
pub fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    for name in [
        format!("{stem}.gz"),
        stem.to_string(),
        format!("{dotted}.gz"),
        dotted,
    ] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format!("{stem}[.gz] not found in {}", dir.display()).into())
}

/// Writes an IDX file of unsigned bytes (gzip-compressed when `gz`): for tests and for
/// users who want to make a small data set.
pub fn write(path: &Path, dims: &[usize], data: &[u8], gz: bool) -> Result<()> {
    assert_eq!(
        dims.iter().product::<usize>(),
        data.len(),
        "IDX dims vs data"
    );
    let mut bytes = vec![0u8, 0, 0x08, dims.len() as u8];
    for &d in dims {
        bytes.extend_from_slice(&(d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes)?;
        bytes = e.finish()?;
    }
    std::fs::write(path, bytes)?;
    Ok(())
}
