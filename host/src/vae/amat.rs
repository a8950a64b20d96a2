//! Larochelle & Murray's binarized MNIST (`binarized_mnist_{train,valid,test}.amat`, the
//! fixed binarization the paper used): text, one image per line, 784 space-separated `0`/`1`.

use crate::Result;
use std::path::Path;

/// Pixels per image.
pub const PIXELS: usize = 784;

/// The three file names, train / valid / test.
pub const FILES: [&str; 3] = [
    "binarized_mnist_train.amat",
    "binarized_mnist_valid.amat",
    "binarized_mnist_test.amat",
];

/// Largest file read, bytes (the training file is 78,400,000).
pub const MAX_BYTES: u64 = 1 << 28;

/// Parses `.amat` text: every non-empty line must hold exactly [`PIXELS`] values, each `0`
/// or `1` (`0.0`, `1.0` and the like accepted). Returns the bits, row-major, as `f32`.
pub fn parse(text: &str) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let before = out.len();
        for tok in line.split_ascii_whitespace() {
            let v: f32 = tok
                .parse()
                .map_err(|_| format!("line {}: {tok:?} is not a number", i + 1))?;
            if v != 0.0 && v != 1.0 {
                return Err(format!("line {}: {tok} is not 0 or 1", i + 1).into());
            }
            out.push(v);
        }
        if out.len() - before != PIXELS {
            return Err(format!(
                "line {}: {} values, {PIXELS} expected",
                i + 1,
                out.len() - before
            )
            .into());
        }
    }
    if out.is_empty() {
        return Err("no images".into());
    }
    Ok(out)
}

/// Reads an `.amat` file (at most [`MAX_BYTES`]); errors name the file.
pub fn read(path: &Path) -> Result<Vec<f32>> {
    let at =
        |e: &dyn std::fmt::Display| -> crate::Error { format!("{}: {e}", path.display()).into() };
    let len = std::fs::metadata(path).map_err(|e| at(&e))?.len();
    if len > MAX_BYTES {
        return Err(at(&format!("{len} bytes, more than {MAX_BYTES}")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
    parse(&text).map_err(|e| at(&e))
}

/// Writes bits (`n x 784`, row-major, 0 or 1) as an `.amat` file: for tests and for users
/// who make a small data set.
pub fn write(path: &Path, bits: &[u8]) -> Result<()> {
    assert!(bits.len().is_multiple_of(PIXELS), "amat rows of 784");
    let mut s = String::with_capacity(bits.len() * 2);
    for row in bits.chunks_exact(PIXELS) {
        let line: Vec<&str> = row
            .iter()
            .map(|&b| if b != 0 { "1" } else { "0" })
            .collect();
        s.push_str(&line.join(" "));
        s.push('\n');
    }
    std::fs::write(path, s)?;
    Ok(())
}
