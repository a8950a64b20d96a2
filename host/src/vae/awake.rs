//! Keeps the other workers of the training's rayon pool awake while a run trains on more
//! than one thread. A rayon worker that finds no job sleeps within some tens of microseconds,
//! and a sleeping worker takes 6-20 microseconds to start a job given to it; the training's
//! iteration (about a millisecond) hands the other core a few dozen pieces of work, each a
//! few tens of microseconds long, and most would start late or be run by the calling thread
//! itself. Each other worker instead runs a job that takes every job it can find
//! (`rayon::yield_now`) and spins between them until the guard is dropped.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long [`KeepAwake::start`] waits for the other workers to take their jobs.
const DEADLINE: Duration = Duration::from_secs(60);

/// While alive, the other workers of the current rayon pool spin, ready for work; dropping
/// it lets them sleep again.
#[derive(Debug)]
pub struct KeepAwake {
    stop: Arc<AtomicBool>,
}

impl KeepAwake {
    /// Called from a worker of a rayon pool (inside `install`): starts a spinning job on
    /// every other worker of the pool and waits until each has started (at most a minute;
    /// past it, the jobs are stopped and an error returned).
    pub fn start() -> crate::Result<Self> {
        let me = rayon::current_thread_index()
            .ok_or("KeepAwake::start: not called from a rayon pool's worker")?;
        let others = rayon::current_num_threads().saturating_sub(1);
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let (s, st) = (stop.clone(), started.clone());
        rayon::spawn_broadcast(move |ctx| {
            if ctx.index() == me {
                return;
            }
            st.fetch_add(1, Ordering::AcqRel);
            while !s.load(Ordering::Acquire) {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    spin_loop();
                }
            }
        });
        let awake = KeepAwake { stop };
        let t0 = Instant::now();
        while started.load(Ordering::Acquire) < others {
            if t0.elapsed() > DEADLINE {
                return Err(format!(
                    "the thread pool's other workers did not start within {} s",
                    DEADLINE.as_secs()
                )
                .into());
            }
            // This thread's own broadcast job (which returns at once) runs when it yields.
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                spin_loop();
            }
        }
        Ok(awake)
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}
