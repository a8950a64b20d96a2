//! Omniglot as the IWAE paper's `chardata.mat` (28x28): a minimal MATLAB level-5 MAT-file
//! reader (numeric matrices, optionally zlib-compressed), and a writer of the same layout for
//! tests and for users who convert their own data.
//!
//! The file holds `data` (784 x 24,345) and `testdata` (784 x 8,070), one image per column,
//! values in [0, 1]. Like the reference code (`reshape(-1, 28, 28)` then flattening in Fortran
//! order) each 784-vector is transposed as a 28 x 28 image, so digits come out upright in the
//! row-major layout MNIST uses.

use crate::Result;
use flate2::read::ZlibDecoder;
use std::io::{Read, Write};
use std::path::Path;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// A numeric matrix of a MAT file: its name, dimensions and values (column-major, as MATLAB
/// stores them), converted to `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    /// Variable name.
    pub name: String,
    /// Dimensions (rows, columns, ...).
    pub dims: Vec<usize>,
    /// Values, column-major.
    pub data: Vec<f32>,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u32(&mut self) -> Result<u32> {
        let s = self
            .b
            .get(self.pos..self.pos + 4)
            .ok_or("MAT file truncated")?;
        self.pos += 4;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// One data element: (type, payload). Handles the small-element form and the 8-byte
    /// padding of the normal form.
    fn element(&mut self) -> Result<(u32, &'a [u8])> {
        let t = self.u32()?;
        if t >> 16 != 0 {
            let (ty, n) = (t & 0xffff, (t >> 16) as usize);
            let s = self
                .b
                .get(self.pos..self.pos + 4)
                .ok_or("MAT file truncated")?;
            self.pos += 4;
            return Ok((ty, &s[..n.min(4)]));
        }
        let n = self.u32()? as usize;
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or("MAT file truncated")?;
        self.pos += n;
        // Compressed elements are not padded; everything else is to 8 bytes.
        if t != MI_COMPRESSED {
            self.pos += (8 - n % 8) % 8;
        }
        Ok((t, s))
    }
}

fn numbers(ty: u32, s: &[u8]) -> Result<Vec<f32>> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            s.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk")) as f32)
                .collect()
        };
    }
    Ok(match ty {
        MI_INT8 => s.iter().map(|&v| v as i8 as f32).collect(),
        MI_UINT8 => s.iter().map(|&v| v as f32).collect(),
        MI_INT16 => conv!(i16, 2),
        MI_UINT16 => conv!(u16, 2),
        MI_INT32 => conv!(i32, 4),
        MI_UINT32 => conv!(u32, 4),
        MI_SINGLE => conv!(f32, 4),
        MI_DOUBLE => conv!(f64, 8),
        MI_INT64 => conv!(i64, 8),
        MI_UINT64 => conv!(u64, 8),
        _ => return Err(format!("MAT numeric type {ty} not supported").into()),
    })
}

fn matrix(s: &[u8]) -> Result<Option<MatArray>> {
    let mut c = Cursor { b: s, pos: 0 };
    let (_, flags) = c.element()?;
    let class = flags.first().copied().unwrap_or(0);
    // Classes 6..=15 are double, single and the integer types; skip cells, structs, chars.
    if !(6..=15).contains(&class) {
        return Ok(None);
    }
    let complex = flags.get(1).is_some_and(|f| f & 0x08 != 0);
    let (_, d) = c.element()?;
    let dims: Vec<usize> = d
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as usize)
        .collect();
    let (_, name) = c.element()?;
    let name = String::from_utf8_lossy(name).into_owned();
    let (ty, re) = c.element()?;
    let data = numbers(ty, re)?;
    if complex {
        return Err(format!("MAT variable {name} is complex").into());
    }
    if data.len() != dims.iter().product::<usize>() {
        return Err(format!("MAT variable {name}: {} values for {dims:?}", data.len()).into());
    }
    Ok(Some(MatArray { name, dims, data }))
}

/// All numeric matrices of a level-5 MAT file (little-endian).
pub fn read_mat(bytes: &[u8]) -> Result<Vec<MatArray>> {
    if bytes.len() < 128 || &bytes[126..128] != b"IM" {
        return Err("not a little-endian level-5 MAT file".into());
    }
    let mut out = Vec::new();
    let mut c = Cursor { b: bytes, pos: 128 };
    while c.pos + 8 <= bytes.len() {
        let (ty, s) = c.element()?;
        match ty {
            MI_MATRIX => out.extend(matrix(s)?),
            MI_COMPRESSED => {
                let mut inner = Vec::new();
                ZlibDecoder::new(s).read_to_end(&mut inner)?;
                let mut ic = Cursor { b: &inner, pos: 0 };
                let (ity, is) = ic.element()?;
                if ity == MI_MATRIX {
                    out.extend(matrix(is)?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn element_bytes(ty: u32, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (8 - payload.len() % 8) % 8, 0);
}

/// Writes `(name, rows, cols, column-major values)` as double matrices in a level-5 MAT
/// file, each zlib-compressed when `compress`.
pub fn write_mat(path: &Path, vars: &[(&str, usize, usize, &[f32])], compress: bool) -> Result<()> {
    let mut bytes = Vec::with_capacity(128);
    let mut text = b"MATLAB 5.0 MAT-file, written by relax (host::vae::omniglot)".to_vec();
    text.resize(116, b' ');
    bytes.extend_from_slice(&text);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&0x0100u16.to_le_bytes());
    bytes.extend_from_slice(b"IM");
    for &(name, rows, cols, data) in vars {
        assert_eq!(rows * cols, data.len(), "MAT variable {name}: size");
        let mut m = Vec::new();
        element_bytes(MI_UINT32, &[6, 0, 0, 0, 0, 0, 0, 0], &mut m); // class double
        let mut dims = Vec::new();
        dims.extend_from_slice(&(rows as i32).to_le_bytes());
        dims.extend_from_slice(&(cols as i32).to_le_bytes());
        element_bytes(MI_INT32, &dims, &mut m);
        element_bytes(MI_INT8, name.as_bytes(), &mut m);
        let vals: Vec<u8> = data
            .iter()
            .flat_map(|&v| (v as f64).to_le_bytes())
            .collect();
        element_bytes(MI_DOUBLE, &vals, &mut m);
        let mut el = Vec::new();
        element_bytes(MI_MATRIX, &m, &mut el);
        if compress {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&el)?;
            let zb = z.finish()?;
            bytes.extend_from_slice(&MI_COMPRESSED.to_le_bytes());
            bytes.extend_from_slice(&(zb.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&zb);
        } else {
            bytes.extend_from_slice(&el);
        }
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Omniglot's 28 x 28 images from `chardata.mat`: `(train, test)`, each row-major
/// `n x 784` in [0, 1], transposed per image as the reference code does.
pub fn load_chardata(path: &Path) -> Result<(Vec<f32>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let vars = read_mat(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let get = |name: &str| -> Result<Vec<f32>> {
        let v = vars
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| format!("{}: no variable {name}", path.display()))?;
        if v.dims.len() != 2 || v.dims[0] != 784 {
            return Err(format!("{}: {name} is {:?}, not 784 x n", path.display(), v.dims).into());
        }
        let n = v.dims[1];
        let mut out = vec![0.0f32; n * 784];
        for j in 0..n {
            let col = &v.data[j * 784..(j + 1) * 784];
            for r in 0..28 {
                for c in 0..28 {
                    out[j * 784 + r + 28 * c] = col[28 * r + c];
                }
            }
        }
        Ok(out)
    };
    Ok((get("data")?, get("testdata")?))
}
