//! Where results go and how they are written: `<out>/<experiment>/` holding CSV curves, a JSON
//! summary and PNG plots. CSV is written by hand (numbers and plain names only, no quoting
//! needed), so the harness needs no CSV crate.
//!
//! Every file is written atomically: to a temporary name in the same directory, then renamed
//! into place, so a reader (or an interrupted run) never sees half a file and an earlier
//! complete result stays whole until the new one replaces it. A run first claims its
//! directory ([`claim`]): it is created, checked for writability, and locked, so a second run
//! writing the same directory fails at once with a clear error instead of mixing rows.
//! Errors name the path at fault.

use serde::Serialize;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// `e` with `path` (and what was being done) in its message, of the same kind.
pub fn at(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Creates (if needed) and returns `<out>/<experiment>`.
pub fn results_dir(out: &Path, experiment: &str) -> io::Result<PathBuf> {
    let dir = out.join(experiment);
    fs::create_dir_all(&dir).map_err(|e| at(&dir, "--out: cannot create", e))?;
    Ok(dir)
}

/// A claimed results directory: created, writable, and locked against other runs until
/// dropped.
#[derive(Debug)]
pub struct Claim {
    dir: PathBuf,
    _lock: File,
}

impl Claim {
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Claims `<out>/<experiment>` before any work: checks the plot font ([`crate::plot::ensure_font`]),
/// creates the directory, checks that a file can be written there, and takes an exclusive lock on `<dir>/.lock` (released when the [`Claim`]
/// is dropped, or the process ends). A second run claiming the same directory gets an error
/// that names it.
pub fn claim(out: &Path, experiment: &str) -> crate::Result<Claim> {
    // The plots' font too is checked before the work, not after it.
    crate::plot::ensure_font()?;
    Ok(claim_dir(out, experiment, ".lock")?)
}

/// Claims `<out>/<experiment>/runs/` for run `index` of a sweep (`--run-index`): like
/// [`claim`], but the lock is `runs/.lock-<index>`, so the runs of a job array write side by
/// side while a second process with the same index is refused. No font check: a run writes
/// no plot (`relax report` does).
pub fn claim_run(out: &Path, experiment: &str, index: usize) -> crate::Result<Claim> {
    Ok(claim_dir(
        out,
        &format!("{experiment}/runs"),
        &format!(".lock-{index}"),
    )?)
}

fn claim_dir(out: &Path, experiment: &str, lock_name: &str) -> io::Result<Claim> {
    if out.exists() && !out.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("--out {}: not a directory", out.display()),
        ));
    }
    let dir = results_dir(out, experiment)?;
    let lock_path = dir.join(lock_name);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| at(&dir, "--out: cannot write in", e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "--out: another relax run is writing {} (it holds {}); wait for it to \
                     finish or give this run another --out",
                    dir.display(),
                    lock_path.display()
                ),
            ))
        }
        Err(fs::TryLockError::Error(e)) => return Err(at(&lock_path, "--out: cannot lock", e)),
    }
    // The lock file can exist and be locked in a directory that no longer takes new files
    // (a full disk, a read-only remount): probe with a real temporary file.
    // Named per process: the `--run-index` runs of a sweep probe one directory at once.
    let probe = dir.join(format!(".probe{}", std::process::id()));
    write_atomic(&probe, b"")?;
    fs::remove_file(&probe).map_err(|e| at(&dir, "--out: cannot remove in", e))?;
    Ok(Claim { dir, _lock: lock })
}

/// The temporary name `path` is written under before the rename: hidden, in the same
/// directory (so the rename is atomic), with the same extension (plot backends pick the
/// image format from it), unique to this process.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".to_string(), |n| n.to_string_lossy().into_owned());
    let tmp = match name.rsplit_once('.') {
        Some((stem, ext)) => format!(".{stem}.tmp{}.{ext}", std::process::id()),
        None => format!(".{name}.tmp{}", std::process::id()),
    };
    path.with_file_name(tmp)
}

/// Renames the finished temporary file `tmp` onto `path`.
///
/// Test hook: with `RELAX_TEST_WRITE_DELAY_MS=N` in the environment it waits N ms first, so
/// the interrupt tests can signal a run in the middle of its writing.
pub fn commit(tmp: &Path, path: &Path) -> io::Result<()> {
    if let Some(ms) = std::env::var("RELAX_TEST_WRITE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(10_000)));
    }
    fs::rename(tmp, path).map_err(|e| {
        let _ = fs::remove_file(tmp);
        at(path, "cannot write", e)
    })
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let r = fs::write(&tmp, bytes).map_err(|e| at(path, "cannot write", e));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r?;
    commit(&tmp, path)
}

/// A CSV file written row by row into a temporary file, renamed into place by
/// [`CsvWriter::finish`]; dropped unfinished, it leaves nothing behind.
#[derive(Debug)]
pub struct CsvWriter {
    w: Option<BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
    columns: usize,
}

impl CsvWriter {
    /// Starts `path` (under a temporary name) and writes the header.
    pub fn create(path: &Path, header: &[&str]) -> io::Result<Self> {
        let tmp = temp_path(path);
        let file = File::create(&tmp).map_err(|e| at(path, "cannot write", e))?;
        let mut csv = Self {
            w: Some(BufWriter::new(file)),
            tmp,
            path: path.to_path_buf(),
            columns: header.len(),
        };
        csv.line(|w| writeln!(w, "{}", header.join(",")))?;
        Ok(csv)
    }

    fn line(&mut self, f: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> io::Result<()> {
        match self.w.as_mut() {
            Some(w) => f(w).map_err(|e| at(&self.path, "cannot write", e)),
            None => Err(io::Error::other("CSV writer already finished")),
        }
    }

    /// Writes one row; its length must match the header (a programming error otherwise).
    pub fn row(&mut self, fields: &[&dyn Display]) -> io::Result<()> {
        assert_eq!(
            fields.len(),
            self.columns,
            "CSV row length != header length"
        );
        self.line(|w| {
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write!(w, "{f}")?;
            }
            w.write_all(b"\n")
        })
    }

    /// Flushes the file and renames it into place.
    pub fn finish(mut self) -> io::Result<()> {
        let mut w = self
            .w
            .take()
            .ok_or_else(|| io::Error::other("CSV writer already finished"))?;
        w.flush().map_err(|e| at(&self.path, "cannot write", e))?;
        drop(w);
        commit(&self.tmp, &self.path)
    }
}

impl Drop for CsvWriter {
    fn drop(&mut self) {
        if self.w.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `value` as pretty-printed JSON to `path`, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// `value` as a stored configuration reads back: serialized to JSON text and parsed again (an
/// `f32` as JSON text is its shortest decimal, so comparing through text compares numbers as
/// they were written).
pub fn as_stored<T: Serialize + ?Sized>(value: &T) -> crate::Result<serde_json::Value> {
    Ok(serde_json::from_str(&serde_json::to_string(value)?)?)
}

/// The top-level fields, other than `ignore`, where a stored configuration `have` differs
/// from `want` (both as [`as_stored`] gives them), as `name: file X, now Y`: what `--replot`
/// and `--report-only` print when they refuse results made with other settings.
pub fn config_diff(
    have: &serde_json::Value,
    want: &serde_json::Value,
    ignore: &[&str],
) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (h, w) = (
        have.as_object().unwrap_or(&empty),
        want.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = h.keys().chain(w.keys()).collect();
    keys.sort();
    keys.dedup();
    let shown =
        |v: Option<&serde_json::Value>| v.map_or_else(|| "absent".into(), |v| v.to_string());
    keys.into_iter()
        .filter(|k| !ignore.contains(&k.as_str()) && h.get(*k) != w.get(*k))
        .map(|k| format!("{k}: file {}, now {}", shown(h.get(k)), shown(w.get(k))))
        .collect()
}

/// Prints `wrote <path>` for each file.
pub fn print_written(files: &[PathBuf]) {
    for f in files {
        println!("wrote {}", f.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_atomic_and_a_second_claim_is_refused() {
        let out = std::env::temp_dir().join(format!("relax-output-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&out);
        let c = claim(&out, "exp").expect("first claim");
        let again = claim(&out, "exp").expect_err("second claim");
        assert!(again.to_string().contains("another relax run"), "{again}");
        let p = c.dir().join("a.csv");
        let mut w = CsvWriter::create(&p, &["x"]).unwrap();
        w.row(&[&1]).unwrap();
        assert!(!p.exists(), "nothing at the final name before finish");
        w.finish().unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "x\n1\n");
        let mut w = CsvWriter::create(&p, &["x"]).unwrap();
        w.row(&[&2]).unwrap();
        drop(w);
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "x\n1\n",
            "an unfinished writer changes nothing"
        );
        write_json(&c.dir().join("s.json"), &[1, 2]).unwrap();
        drop(c);
        claim(&out, "exp").expect("the lock is released with the claim");
        let names: Vec<String> = fs::read_dir(out.join("exp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
        let r0 = claim_run(&out, "exp", 0).expect("run 0 beside the experiment's claim");
        claim_run(&out, "exp", 1).expect("run 1 beside run 0");
        let again = claim_run(&out, "exp", 0).expect_err("run 0 twice");
        assert!(again.to_string().contains("another relax run"), "{again}");
        drop(r0);
        fs::remove_dir_all(out.join("exp").join("runs")).unwrap();
        let file = out.join("exp").join("a.csv");
        let err = claim(&file, "x").expect_err("--out is a file");
        assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
        fs::remove_dir_all(&out).unwrap();
    }
}
