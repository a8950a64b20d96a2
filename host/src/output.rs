//! Where results go and how they are written: `<out>/<experiment>/` holding CSV curves, a JSON
//! summary and PNG plots. CSV is written by hand (numbers and plain names only, no quoting
//! needed), so the harness needs no CSV crate.

use serde::Serialize;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Creates (if needed) and returns `<out>/<experiment>`.
pub fn results_dir(out: &Path, experiment: &str) -> io::Result<PathBuf> {
    let dir = out.join(experiment);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A CSV file written row by row.
#[derive(Debug)]
pub struct CsvWriter {
    w: BufWriter<File>,
    columns: usize,
}

impl CsvWriter {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, header: &[&str]) -> io::Result<Self> {
        let mut w = BufWriter::new(File::create(path)?);
        writeln!(w, "{}", header.join(","))?;
        Ok(Self {
            w,
            columns: header.len(),
        })
    }

    /// Writes one row; its length must match the header (a programming error otherwise).
    pub fn row(&mut self, fields: &[&dyn Display]) -> io::Result<()> {
        assert_eq!(
            fields.len(),
            self.columns,
            "CSV row length != header length"
        );
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.w.write_all(b",")?;
            }
            write!(self.w, "{f}")?;
        }
        self.w.write_all(b"\n")
    }

    /// Flushes the file.
    pub fn finish(mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Writes `value` as pretty-printed JSON to `path`.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    serde_json::to_writer_pretty(&mut w, value).map_err(io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Prints `wrote <path>` for each file.
pub fn print_written(files: &[PathBuf]) {
    for f in files {
        println!("wrote {}", f.display());
    }
}
