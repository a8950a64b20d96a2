//! A bridge to gymnasium: any gymnasium environment served by a small Python program
//! (`host/python/gym_server.py`, one process per environment) and driven by the core's
//! learners through [`GymEnv`], which implements the core's `Environment` (discrete actions)
//! and `ContinuousEnvironment` (box actions). The learners stay the core's code; the bridge
//! only supplies observations and rewards.
//!
//! - [`process`]: the child process, the wire protocol, a deadline on every read.
//! - [`python`]: the interpreter (the repository's `.venv`, created or extended with
//!   `gymnasium[box2d,mujoco]` when missing).
//! - [`env`]: [`GymEnv`], seeding (`reset` draws a `u32` seed from the learner's generator, so
//!   an episode is replayable) and the optional in-memory replay of the last episode.
//!
//! Deadlines: every wait on a child process has one. A run's `--timeout` T bounds the
//! interpreter's check (`python -c "import gymnasium, ..."`), a server's start (its
//! handshake) and every reply; only a first install (`python3 -m venv`, `pip install`)
//! gets [`INSTALL_FACTOR`] x T. A child whose deadline passes is killed with its whole
//! process group (each child leads a group of its own), so no grandchild keeps a pipe (and
//! the thread reading it) alive. A server's episode may not run past the step limit its
//! handshake announced (or [`env::DEFAULT_STEP_CAP`] when it announced none).

pub mod env;
pub mod process;
pub mod protocol;
pub mod python;

pub use env::GymEnv;
pub use process::{GymProcess, Timeouts};
pub use protocol::{ActionSpace, GymSpec, StepReply};
pub use python::ensure_python;

use std::fmt;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// A first install (`python3 -m venv`, `pip install`) may take this many times the
/// deadline of a check.
pub const INSTALL_FACTOR: u32 = 20;

/// Kills the process group `pid` leads (the child and anything it started), with SIGKILL.
/// Every child of this module is started as the leader of its own group.
pub(crate) fn kill_group(pid: u32) {
    use nix::sys::signal::{killpg, Signal};
    if let Ok(pid) = i32::try_from(pid) {
        if pid > 1 {
            let _ = killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// `s` for a message: control characters (escape sequences of a terminal included) escaped,
/// at most `cap` characters; newlines and tabs kept when `lines`.
pub fn printable(s: &str, cap: usize, lines: bool) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == cap {
            out.push_str(&format!("... ({} characters)", s.chars().count()));
            break;
        }
        if c.is_control() && !(lines && (c == '\n' || c == '\t')) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// What went wrong with a gymnasium server. Every message names the process and, where
/// there is one, ends with the last lines of its stderr (Python's traceback).
#[derive(Debug, Clone, PartialEq)]
pub enum GymError {
    /// The Python environment could not be prepared.
    Setup(String),
    /// The process could not be started.
    Spawn {
        /// The command.
        what: String,
        /// The operating system's reason.
        source: String,
    },
    /// No reply within the deadline.
    Timeout {
        /// The process.
        process: String,
        /// What the host was waiting for.
        waiting_for: String,
        /// The deadline.
        after: Duration,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The process ended (or closed its output) while the host was waiting.
    Exited {
        /// The process.
        process: String,
        /// What the host was waiting for.
        waiting_for: String,
        /// Its exit status, if it was collected.
        status: Option<String>,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The process sent something that is not the protocol.
    Protocol {
        /// The process.
        process: String,
        /// What was wrong.
        detail: String,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The server reported an error (it could not make the environment, or refused a
    /// request).
    Server {
        /// The process.
        process: String,
        /// The server's message.
        message: String,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The environment does not fit the learner (observation size, action space).
    Mismatch(String),
    /// The environment misbehaved: a non-finite observation or reward, an episode past its
    /// step limit.
    Misbehaved(String),
    /// The wait was abandoned because the run was asked to stop (another run failed,
    /// Ctrl-C); the process was killed.
    Cancelled {
        /// The process.
        process: String,
    },
}

fn with_stderr(f: &mut fmt::Formatter<'_>, stderr: &str) -> fmt::Result {
    if stderr.trim().is_empty() {
        Ok(())
    } else {
        write!(f, "\n--- its stderr (last lines) ---\n{stderr}")
    }
}

impl fmt::Display for GymError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GymError::Setup(m) => write!(f, "gymnasium setup: {m}"),
            GymError::Spawn { what, source } => {
                write!(f, "cannot start the gymnasium server {what}: {source}")
            }
            GymError::Timeout {
                process,
                waiting_for,
                after,
                stderr,
            } => {
                write!(
                    f,
                    "gymnasium server {process}: no reply to {waiting_for} within {:.1} s \
                     (killed)",
                    after.as_secs_f64()
                )?;
                with_stderr(f, stderr)
            }
            GymError::Exited {
                process,
                waiting_for,
                status,
                stderr,
            } => {
                write!(
                    f,
                    "gymnasium server {process} ended while the host waited for {waiting_for} \
                     ({})",
                    status.as_deref().unwrap_or("exit status unknown")
                )?;
                with_stderr(f, stderr)
            }
            GymError::Protocol {
                process,
                detail,
                stderr,
            } => {
                write!(
                    f,
                    "gymnasium server {process} broke the protocol: {detail} (killed)"
                )?;
                with_stderr(f, stderr)
            }
            GymError::Server {
                process,
                message,
                stderr,
            } => {
                write!(f, "gymnasium server {process}: {message}")?;
                with_stderr(f, stderr)
            }
            GymError::Mismatch(m) => write!(f, "gymnasium environment does not fit: {m}"),
            GymError::Misbehaved(m) => write!(f, "gymnasium environment {m}"),
            GymError::Cancelled { process } => {
                write!(f, "gymnasium server {process}: stopped (killed)")
            }
        }
    }
}

impl std::error::Error for GymError {}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The Python interpreter (from [`ensure_python`]).
    pub python: std::path::PathBuf,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// Overrides the environment's time limit.
    pub max_episode_steps: Option<u32>,
    /// When raised, every wait of the server gives up within 50 ms with
    /// [`GymError::Cancelled`] (the run pool's stop flag).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// The command that starts `host/python/gym_server.py` for `env_id`: the program embedded in
/// the binary, written once to the temporary directory under a name that carries its hash
/// (so `relax` runs from any directory, and `ps` shows a short command line).
pub fn server_command(opts: &ServerOptions, env_id: &str) -> Result<Command, GymError> {
    let mut cmd = Command::new(&opts.python);
    cmd.arg("-u").arg(python::server_script()?).arg(env_id);
    if let Some(n) = opts.max_episode_steps {
        cmd.arg("--max-episode-steps").arg(n.to_string());
    }
    // Python's warnings and tracebacks go to stderr, which the host keeps.
    cmd.env("PYTHONUNBUFFERED", "1");
    Ok(cmd)
}

/// Starts a server for `env_id`.
pub fn start(opts: &ServerOptions, env_id: &str) -> Result<GymProcess, GymError> {
    GymProcess::spawn_with(
        server_command(opts, env_id)?,
        env_id,
        opts.timeouts,
        opts.cancel.clone(),
    )
}
