//! One gymnasium server process (`host/python/gym_server.py`) and its wire protocol.
//!
//! Every read has a deadline: a reader thread moves the child's stdout into a channel and
//! the caller waits on it with `recv_timeout`, so a server that hangs, dies or sends garbage
//! gives a [`GymError`] within the timeout instead of blocking the learner forever. A second
//! thread keeps the last lines of the child's stderr (Python's tracebacks) for the error
//! message. Dropping a [`GymProcess`] asks the server to quit, then kills and reaps it.
//! The child leads a process group of its own, and every kill is of the whole group: a
//! grandchild (a wrapper script's `sleep`, say) cannot keep the pipes, and so the reader
//! threads, alive. With a cancel flag, every wait gives up within [`CANCEL_POLL`] once the
//! flag is raised.

use super::protocol::{ActionSpace, GymSpec, StepReply};
use super::{kill_group, GymError};
use serde::Deserialize;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use super::protocol::PROTOCOL;
/// Longest handshake line accepted, bytes.
const MAX_HANDSHAKE: usize = 1 << 16;
/// Longest error message accepted from the server, bytes.
const MAX_MESSAGE: usize = 1 << 16;
/// Lines of the child's stderr kept for error messages.
const STDERR_LINES: usize = 30;
/// How often a wait looks at the cancel flag.
pub const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Deadlines of a [`GymProcess`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// For the handshake (Python starts, imports gymnasium, makes the environment).
    pub startup: Duration,
    /// For every reply after that.
    pub reply: Duration,
}

impl Default for Timeouts {
    /// 120 s to start (a cold import of MuJoCo can take seconds on a loaded machine), 30 s
    /// per reply.
    fn default() -> Self {
        Self {
            startup: Duration::from_secs(120),
            reply: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default)]
struct StderrTail {
    lines: VecDeque<String>,
}

/// A running gymnasium server.
#[derive(Debug)]
pub struct GymProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
    stderr: Arc<Mutex<StderrTail>>,
    stderr_done: Arc<AtomicBool>,
    timeouts: Timeouts,
    spec: GymSpec,
    label: String,
    failed: Option<GymError>,
    cancel: Option<Arc<AtomicBool>>,
}

impl GymProcess {
    /// Starts `cmd` (a gymnasium server: the handshake line on stdout, then binary frames)
    /// and reads its handshake. `label` names the process in error messages.
    pub fn spawn(cmd: Command, label: &str, timeouts: Timeouts) -> Result<Self, GymError> {
        Self::spawn_with(cmd, label, timeouts, None)
    }

    /// [`GymProcess::spawn`] with a cancel flag: once it is raised, the handshake and every
    /// later wait end within [`CANCEL_POLL`] with [`GymError::Cancelled`] (the process is
    /// killed).
    pub fn spawn_with(
        mut cmd: Command,
        label: &str,
        timeouts: Timeouts,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<Self, GymError> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| GymError::Spawn {
            what: format!("{cmd:?}"),
            source: e.to_string(),
        })?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        thread::Builder::new()
            .name(format!("gym-stdout {label}"))
            .spawn(move || {
                let mut chunk = vec![0u8; 1 << 14];
                loop {
                    match stdout.read(&mut chunk) {
                        // End of output (or a broken pipe): dropping `tx` tells the reader.
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if tx.send(chunk[..n].to_vec()).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
            .map_err(|e| GymError::Spawn {
                what: "reader thread".into(),
                source: e.to_string(),
            })?;
        let stderr = Arc::new(Mutex::new(StderrTail::default()));
        let stderr_done = Arc::new(AtomicBool::new(false));
        {
            let (tail, done) = (stderr.clone(), stderr_done.clone());
            thread::Builder::new()
                .name(format!("gym-stderr {label}"))
                .spawn(move || {
                    let mut r = BufReader::new(stderr_pipe);
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match r.read_until(b'\n', &mut line) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {
                                let s = String::from_utf8_lossy(&line).trim_end().to_string();
                                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                                if t.lines.len() == STDERR_LINES {
                                    t.lines.pop_front();
                                }
                                t.lines.push_back(s);
                            }
                        }
                    }
                    done.store(true, Ordering::Release);
                })
                .map_err(|e| GymError::Spawn {
                    what: "stderr thread".into(),
                    source: e.to_string(),
                })?;
        }
        let mut p = Self {
            child,
            stdin,
            rx,
            buf: Vec::new(),
            pos: 0,
            stderr,
            stderr_done,
            timeouts,
            spec: GymSpec {
                protocol: PROTOCOL,
                env: label.to_string(),
                gymnasium: String::new(),
                obs_dim: 0,
                action: ActionSpace::Discrete { n: 0 },
                max_episode_steps: None,
            },
            label: label.to_string(),
            failed: None,
            cancel,
        };
        let spec = p.handshake()?;
        p.spec = spec;
        Ok(p)
    }

    /// The environment's description from the handshake.
    pub fn spec(&self) -> &GymSpec {
        &self.spec
    }

    /// The operating-system id of the child.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the child wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let t = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        t.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn handshake(&mut self) -> Result<GymSpec, GymError> {
        let deadline = Instant::now() + self.timeouts.startup;
        let line = loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let line = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 1;
                break line;
            }
            if self.buf.len() - self.pos > MAX_HANDSHAKE {
                return Err(self.protocol_error(format!(
                    "no handshake line in the first {MAX_HANDSHAKE} bytes: {}",
                    preview(&self.buf[self.pos..])
                )));
            }
            self.fill(deadline, "the handshake", self.timeouts.startup)?;
        };
        #[derive(Deserialize)]
        struct Failure {
            error: String,
        }
        if let Ok(f) = serde_json::from_slice::<Failure>(&line) {
            return Err(self.fail(GymError::Server {
                process: self.label.clone(),
                message: f.error,
                stderr: self.wait_stderr(),
            }));
        }
        let spec: GymSpec = serde_json::from_slice(&line).map_err(|e| {
            self.protocol_error(format!(
                "the handshake is not the expected JSON ({e}): {}",
                preview(&line)
            ))
        })?;
        if spec.protocol != PROTOCOL {
            return Err(self.protocol_error(format!(
                "server speaks protocol {}, this host speaks {PROTOCOL}",
                spec.protocol
            )));
        }
        if let ActionSpace::Box { dim, low, high } = &spec.action {
            if low.len() != *dim || high.len() != *dim {
                return Err(self.protocol_error("box bounds do not match its dimension".into()));
            }
        }
        Ok(spec)
    }

    /// Waits for more of the child's stdout until `deadline`.
    fn fill(&mut self, deadline: Instant, what: &str, after: Duration) -> Result<(), GymError> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let got = loop {
            if self.cancelled() {
                return Err(self.fail(GymError::Cancelled {
                    process: self.label.clone(),
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = if self.cancel.is_some() {
                left.min(CANCEL_POLL)
            } else {
                left
            };
            match self.rx.recv_timeout(slice) {
                Err(RecvTimeoutError::Timeout) if slice < left => continue,
                other => break other,
            }
        };
        match got {
            Ok(chunk) => {
                self.buf.extend_from_slice(&chunk);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(self.fail(GymError::Timeout {
                process: self.label.clone(),
                waiting_for: what.to_string(),
                after,
                stderr: self.stderr_tail(),
            })),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait_exit(Duration::from_secs(2));
                Err(self.fail(GymError::Exited {
                    process: self.label.clone(),
                    waiting_for: what.to_string(),
                    status: status.map(|s| s.to_string()),
                    stderr: self.wait_stderr(),
                }))
            }
        }
    }

    fn read_exact(&mut self, n: usize, what: &str) -> Result<&[u8], GymError> {
        let deadline = Instant::now() + self.timeouts.reply;
        while self.buf.len() - self.pos < n {
            self.fill(deadline, what, self.timeouts.reply)?;
        }
        let s = self.pos;
        self.pos += n;
        Ok(&self.buf[s..s + n])
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) if Instant::now() < end => thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }

    /// The stderr tail once the child has closed stderr (at most half a second's wait).
    fn wait_stderr(&self) -> String {
        let end = Instant::now() + Duration::from_millis(500);
        while !self.stderr_done.load(Ordering::Acquire) && Instant::now() < end {
            thread::sleep(Duration::from_millis(5));
        }
        self.stderr_tail()
    }

    fn protocol_error(&mut self, detail: String) -> GymError {
        let e = GymError::Protocol {
            process: self.label.clone(),
            detail,
            stderr: self.stderr_tail(),
        };
        self.fail(e)
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
            || crate::interrupt::requested()
    }

    /// Records a fatal error: the stream is out of step, so every later call fails with it.
    /// The process (and its group) is killed.
    fn fail(&mut self, e: GymError) -> GymError {
        self.failed = Some(e.clone());
        self.kill();
        e
    }

    /// Kills the process group and the child (not reaped: `Drop` does that).
    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            kill_group(self.child.id());
        }
        let _ = self.child.kill();
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), GymError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.cancelled() {
            return Err(self.fail(GymError::Cancelled {
                process: self.label.clone(),
            }));
        }
        let res = match self.stdin.as_mut() {
            Some(w) => w.write_all(frame).and_then(|()| w.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        if let Err(e) = res {
            let status = self.wait_exit(Duration::from_secs(2));
            return Err(self.fail(GymError::Exited {
                process: self.label.clone(),
                waiting_for: format!("a request to be written ({e})"),
                status: status.map(|s| s.to_string()),
                stderr: self.wait_stderr(),
            }));
        }
        Ok(())
    }

    /// Reads a reply tagged `expect`; an `E` reply becomes [`GymError::Server`].
    fn reply(&mut self, expect: u8, what: &str) -> Result<(), GymError> {
        let tag = self.read_exact(1, what)?[0];
        if tag == expect {
            return Ok(());
        }
        if tag == b'E' {
            let len = u32::from_le_bytes(self.read_exact(4, what)?.try_into().expect("4 bytes"));
            if len as usize > MAX_MESSAGE {
                return Err(self.protocol_error(format!("error message of {len} bytes")));
            }
            let msg = String::from_utf8_lossy(self.read_exact(len as usize, what)?).to_string();
            return Err(GymError::Server {
                process: self.label.clone(),
                message: msg,
                stderr: String::new(),
            });
        }
        let mut rest = vec![tag];
        rest.extend_from_slice(&self.buf[self.pos..self.buf.len().min(self.pos + 40)]);
        Err(self.protocol_error(format!(
            "expected reply '{}' to {what}, got {}",
            expect as char,
            preview(&rest)
        )))
    }

    fn read_obs(&mut self, what: &str) -> Result<Vec<f32>, GymError> {
        let n = self.spec.obs_dim;
        let bytes = self.read_exact(4 * n, what)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// `reset(seed=seed)`; returns the first observation.
    pub fn reset(&mut self, seed: u32) -> Result<Vec<f32>, GymError> {
        let mut f = [0u8; 5];
        f[0] = b'R';
        f[1..].copy_from_slice(&seed.to_le_bytes());
        self.send(&f)?;
        self.reply(b'O', "reset")?;
        self.read_obs("reset")
    }

    fn read_step(&mut self) -> Result<StepReply, GymError> {
        self.reply(b'T', "step")?;
        let head = self.read_exact(5, "step")?;
        let reward = f32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let flags = head[4];
        if flags > 3 {
            return Err(self.protocol_error(format!("step flags {flags:#x}")));
        }
        let obs = self.read_obs("step")?;
        Ok(StepReply {
            reward,
            terminated: flags & 1 != 0,
            truncated: flags & 2 != 0,
            obs,
        })
    }

    /// `step(action)` for a discrete action space.
    pub fn step_discrete(&mut self, action: u32) -> Result<StepReply, GymError> {
        let mut f = [0u8; 5];
        f[0] = b'D';
        f[1..].copy_from_slice(&action.to_le_bytes());
        self.send(&f)?;
        self.read_step()
    }

    /// `step(action)` for a box action space (`action.len()` must be its dimension).
    pub fn step_box(&mut self, action: &[f32]) -> Result<StepReply, GymError> {
        let mut f = Vec::with_capacity(1 + 4 * action.len());
        f.push(b'C');
        for a in action {
            f.extend_from_slice(&a.to_le_bytes());
        }
        self.send(&f)?;
        self.read_step()
    }
}

impl Drop for GymProcess {
    fn drop(&mut self) {
        if let Some(mut w) = self.stdin.take() {
            let _ = w.write_all(b"Q").and_then(|()| w.flush());
        }
        let exited = self.wait_exit(Duration::from_millis(200)).is_some();
        // The group may outlive its leader (a wrapper's grandchildren): killed either way.
        kill_group(self.child.id());
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The first bytes of `b`, printable.
fn preview(b: &[u8]) -> String {
    let n = b.len().min(80);
    let s: String = b[..n].escape_ascii().to_string();
    if b.len() > n {
        format!("\"{s}\"... ({} bytes)", b.len())
    } else {
        format!("\"{s}\"")
    }
}
