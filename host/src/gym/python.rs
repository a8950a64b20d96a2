//! The Python that runs the gymnasium server: the repository's `.venv` (the one
//! `scripts/ensure-deps.sh` makes), created or extended here with
//! `gymnasium[box2d,mujoco]` when it lacks them, or the interpreter named by `RELAX_PYTHON`.

use super::{kill_group, printable, GymError, INSTALL_FACTOR};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The server program, shipped in the repository and embedded in the binary, so `relax`
/// runs it from any working directory.
pub const SERVER_SOURCE: &str = include_str!("../../python/gym_server.py");
/// The pinned requirements (`host/python/requirements.txt`).
pub const REQUIREMENTS: &str = include_str!("../../python/requirements.txt");
/// Environment variable naming a Python interpreter to use instead of `.venv` (it is then
/// checked, never modified).
pub const PYTHON_VAR: &str = "RELAX_PYTHON";

/// The server program as a file: `<tmp>/relax-gym-server-<hash>.py`, written (atomically)
/// when missing.
pub fn server_script() -> Result<PathBuf, GymError> {
    // FNV-1a: a different program gets a different file.
    let hash = SERVER_SOURCE
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
    let path = std::env::temp_dir().join(format!("relax-gym-server-{hash:016x}.py"));
    if fs::read_to_string(&path).ok().as_deref() == Some(SERVER_SOURCE) {
        return Ok(path);
    }
    // A name of its own per writer (threads of one process may race here), then a rename.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
    let written = fs::write(&tmp, SERVER_SOURCE).and_then(|()| fs::rename(&tmp, &path));
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(path),
        Err(_) if fs::read_to_string(&path).ok().as_deref() == Some(SERVER_SOURCE) => Ok(path),
        Err(e) => Err(GymError::Setup(format!(
            "cannot write {}: {e}",
            path.display()
        ))),
    }
}

/// Imports everything the servers need and prints gymnasium's version.
const CHECK: &str = "import gymnasium, numpy, Box2D, mujoco; print(gymnasium.__version__)";

/// The repository root (the parent of the `host` package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The requirement specifiers of [`REQUIREMENTS`].
pub fn requirements() -> Vec<&'static str> {
    REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn pinned_gymnasium() -> &'static str {
    requirements()
        .iter()
        .find_map(|r| r.split("==").nth(1).filter(|_| r.starts_with("gymnasium")))
        .unwrap_or("")
}

/// A path for a message: quoted, control characters escaped, at most 200 characters.
fn shown(p: &Path) -> String {
    format!("\"{}\"", printable(&p.to_string_lossy(), 200, false))
}

/// Most bytes of a check's output kept.
const OUTPUT_CAP: usize = 1 << 20;

/// Runs `cmd` (stdin empty, in a process group of its own) and collects its output, or
/// kills the group once `limit` has passed. Never waits longer than `limit` (plus the time
/// to kill): a grandchild holding the pipes is killed with the group.
pub(crate) fn run_with_deadline(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    let what = printable(&format!("{:?}", cmd.get_program()), 200, false);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    let end = Instant::now() + limit;
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    let pipes: [(bool, Option<Box<dyn Read + Send>>); 2] = [
        (true, child.stdout.take().map(|p| Box::new(p) as _)),
        (false, child.stderr.take().map(|p| Box::new(p) as _)),
    ];
    for (is_out, pipe) in pipes {
        let tx = tx.clone();
        if let Some(pipe) = pipe {
            thread::spawn(move || {
                let mut b = Vec::new();
                let _ = pipe.take(OUTPUT_CAP as u64).read_to_end(&mut b);
                let _ = tx.send((is_out, b));
            });
        }
    }
    drop(tx);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < end => thread::sleep(Duration::from_millis(10)),
            res => {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                return Err(match res {
                    Err(e) => format!("cannot wait for {what}: {e} (killed)"),
                    _ => format!(
                        "{what} gave no answer within {:.1} s (killed; the deadline is \
                         --timeout)",
                        limit.as_secs_f64()
                    ),
                });
            }
        }
    };
    // A grandchild left behind could hold the pipes open: the group goes too.
    kill_group(child.id());
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let left = end
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(200));
        match rx.recv_timeout(left) {
            Ok((true, b)) => stdout = b,
            Ok((false, b)) => stderr = b,
            Err(_) => break,
        }
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn tail(b: &[u8], lines: usize) -> String {
    let s = String::from_utf8_lossy(b);
    let v: Vec<&str> = s.lines().collect();
    printable(&v[v.len().saturating_sub(lines)..].join("\n"), 4000, true)
}

/// Ok(version) when `python` imports the servers' packages with the pinned gymnasium
/// within `limit`.
fn check(python: &Path, limit: Duration) -> Result<String, String> {
    let out = run_with_deadline(Command::new(python).args(["-c", CHECK]), limit)?;
    if !out.status.success() {
        return Err(tail(&out.stderr, 3));
    }
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if v != pinned_gymnasium() {
        return Err(format!(
            "gymnasium {} is installed, {} is pinned",
            printable(&v, 80, false),
            pinned_gymnasium()
        ));
    }
    Ok(v)
}

/// Serialises installs within this process (seeds start their servers in parallel).
static INSTALL: Mutex<()> = Mutex::new(());

/// The interpreter to start servers with, ready to import gymnasium, Box2D and MuJoCo.
///
/// With `RELAX_PYTHON` set, that interpreter is only checked. Otherwise `<repo>/.venv` is
/// used, and made when needed: `python3 -m venv .venv` if it has no working Python, then
/// `pip install` of `host/python/requirements.txt` (wheels for Python 3.9-3.13 on x86-64 and
/// aarch64 Linux: no compiler needed). Progress goes to stderr. A file lock in `.venv`
/// keeps concurrent `relax` processes and tests from installing at the same time. Errors
/// say what failed and what to install.
///
/// Every check runs under the deadline `limit` (a run's `--timeout`) and is killed when it
/// passes; creating the environment and installing get [`INSTALL_FACTOR`] x `limit`.
pub fn ensure_python(limit: Duration) -> Result<PathBuf, GymError> {
    if let Some(p) = std::env::var_os(PYTHON_VAR) {
        let p = PathBuf::from(p);
        return match check(&p, limit) {
            Ok(_) => Ok(p),
            Err(why) => Err(GymError::Setup(format!(
                "{PYTHON_VAR}={} cannot run the gymnasium server: {why}\n\
                 install the packages with: {} -m pip install {}",
                shown(&p),
                shown(&p),
                requirements().join(" ")
            ))),
        };
    }
    let root = repo_root();
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    let first = match check(&python, limit) {
        Ok(_) => return Ok(python),
        Err(why) => why,
    };
    if first.contains("gave no answer within") {
        // An interpreter that hangs is not repaired by an install: say so at once.
        return Err(GymError::Setup(format!(
            "{}: {first}\n(remove {} to have it made again)",
            shown(&python),
            shown(&venv)
        )));
    }
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    install(&root, &venv, &python, limit)?;
    check(&python, limit)
        .map(|_| python.clone())
        .map_err(|why| {
            GymError::Setup(format!(
                "{} still cannot import gymnasium, Box2D and mujoco after the install: {why}",
                shown(&python)
            ))
        })
}

fn install(root: &Path, venv: &Path, python: &Path, limit: Duration) -> Result<(), GymError> {
    let setup = |m: String| GymError::Setup(m);
    let long = limit * INSTALL_FACTOR;
    let run = |cmd: &mut Command| run_with_deadline(cmd, long);
    let has_pip = |py: &Path| {
        run_with_deadline(Command::new(py).args(["-m", "pip", "--version"]), limit)
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !has_pip(python) {
        eprintln!(
            "relax: creating the Python virtual environment {}",
            venv.display()
        );
        let base = std::env::var_os("PYTHON3").unwrap_or_else(|| "python3".into());
        if venv.exists() {
            // A .venv without a working pip (a failed attempt) is made again.
            fs::remove_dir_all(venv)
                .map_err(|e| setup(format!("cannot remove the broken {}: {e}", shown(venv))))?;
        }
        let out = run(Command::new(&base).args(["-m", "venv"]).arg(venv)).map_err(|e| {
            setup(format!(
                "{e}\nPython 3.9 or newer is needed (Debian: apt-get install python3 python3-venv)"
            ))
        })?;
        if !out.status.success() || !has_pip(python) {
            return Err(setup(format!(
                "`{} -m venv {}` failed:\n{}\n(Debian: apt-get install python3-venv)",
                base.to_string_lossy(),
                venv.display(),
                tail(&out.stderr, 5)
            )));
        }
    }
    fs::create_dir_all(venv).map_err(|e| setup(format!("{}: {e}", venv.display())))?;
    let lock_path = venv.join(".relax-install.lock");
    let lock =
        File::create(&lock_path).map_err(|e| setup(format!("{}: {e}", lock_path.display())))?;
    // Another process may be installing: wait for its lock, but not beyond the deadline.
    let end = Instant::now() + long;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < end => {
                thread::sleep(Duration::from_millis(100))
            }
            Err(e) => {
                return Err(setup(format!(
                    "lock {} (another install holds it?): {e}",
                    lock_path.display()
                )))
            }
        }
    }
    if check(python, limit).is_ok() {
        return Ok(()); // another process installed while this one waited
    }
    let reqs = requirements();
    eprintln!(
        "relax: installing {} into {} (once; about 15 s)",
        reqs.join(" "),
        venv.display()
    );
    let out = run(Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(&reqs)
        .current_dir(root))
    .map_err(setup)?;
    if !out.status.success() {
        let err = tail(&out.stderr, 15);
        let mut hint =
            String::from("pip needs network access to PyPI (or a local index via PIP_INDEX_URL)");
        if err.contains("swig") || err.contains("Box2D") || err.contains("box2d") {
            hint.push_str(
                "; Box2D has no wheel for this Python and must be compiled: \
                 install swig and a C++ compiler (Debian: apt-get install swig build-essential \
                 python3-dev), or use Python 3.9-3.13",
            );
        }
        if err.contains("mujoco") {
            hint.push_str("; MuJoCo ships wheels for x86-64 and aarch64 Linux, Python >= 3.9");
        }
        return Err(setup(format!(
            "`{} -m pip install {}` failed:\n{err}\n({hint})",
            python.display(),
            reqs.join(" ")
        )));
    }
    Ok(())
}
