//! Keeps the other workers of the training's rayon pool awake while a run trains on more
//! than one thread. A rayon worker that finds no job sleeps within some tens of microseconds,
//! and a sleeping worker takes 6-20 microseconds to start a job given to it; the training's
//! iteration (about a millisecond) hands the other core a few dozen pieces of work, each a
//! few tens of microseconds long, and most would start late or be run by the calling thread
//! itself. Each other worker instead runs a job that takes every job it can find
//! (`rayon::yield_now`) and spins between them until the guard is dropped; idle for 1 ms it
//! also yields its core at each turn, and idle for 50 ms it sleeps half a millisecond at each
//! turn (so a long pause, or more threads than free cores, costs little).

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long [`KeepAwake::start`] waits for the other workers to take their jobs.
const DEADLINE: Duration = Duration::from_secs(60);
/// Idle this long, a worker yields its core at each turn (a run with more threads than free
/// cores still advances).
const YIELD_AFTER: Duration = Duration::from_millis(1);
/// Idle this long, a worker sleeps `SLEEP` at each turn instead of spinning.
const SLEEP_AFTER: Duration = Duration::from_millis(50);
/// See `SLEEP_AFTER`.
const SLEEP: Duration = Duration::from_micros(500);
/// An idle worker reads the clock once in this many turns.
const CLOCK_EVERY: u32 = 32;

/// While alive, the other workers of the current rayon pool spin, ready for work; dropping
/// it lets them sleep again.
#[derive(Debug)]
pub struct KeepAwake {
    stop: Arc<AtomicBool>,
    /// The spinning jobs not yet returned.
    running: Arc<AtomicUsize>,
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
        let running = Arc::new(AtomicUsize::new(0));
        let (s, st, run) = (stop.clone(), started.clone(), running.clone());
        rayon::spawn_broadcast(move |ctx| {
            if ctx.index() == me {
                return;
            }
            run.fetch_add(1, Ordering::AcqRel);
            st.fetch_add(1, Ordering::AcqRel);
            let mut idle_since: Option<Instant> = None;
            // Idle turns since the clock was last read: reading it at every turn took a
            // tenth of the waiting worker's time and delayed its next look for work.
            let (mut turns, mut idle) = (0u32, Duration::ZERO);
            while !s.load(Ordering::Acquire) {
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    idle_since = None;
                    turns = 0;
                    idle = Duration::ZERO;
                    continue;
                }
                turns = turns.wrapping_add(1);
                if turns % CLOCK_EVERY == 1 {
                    idle = idle_since.get_or_insert_with(Instant::now).elapsed();
                }
                if idle < YIELD_AFTER {
                    spin_loop();
                } else if idle < SLEEP_AFTER {
                    // More threads than free cores: let the others run.
                    std::thread::yield_now();
                } else {
                    // Long idle (loading, writing, between runs): wake within SLEEP.
                    std::thread::sleep(SLEEP);
                }
            }
            run.fetch_sub(1, Ordering::AcqRel);
        });
        let awake = KeepAwake { stop, running };
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

impl KeepAwake {
    /// Lets the workers go and waits until each spinning job has returned (at most a
    /// minute; past it, an error).
    pub fn stop(self) -> crate::Result<()> {
        self.stop.store(true, Ordering::Release);
        let t0 = Instant::now();
        while self.running.load(Ordering::Acquire) > 0 {
            if t0.elapsed() > DEADLINE {
                return Err(format!(
                    "a worker kept awake did not return within {} s",
                    DEADLINE.as_secs()
                )
                .into());
            }
            std::thread::yield_now();
        }
        Ok(())
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_worker_takes_the_work_and_is_let_go() {
        assert!(KeepAwake::start().is_err(), "not from a pool's worker");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let me = rayon::current_thread_index();
            let awake = KeepAwake::start().unwrap();
            // The second half of a join, pushed while the other worker spins, is stolen by
            // it (the first half takes long enough for that to happen).
            let mut stolen = 0;
            for _ in 0..50 {
                let (_, other) = rayon::join(
                    || std::thread::sleep(Duration::from_micros(200)),
                    rayon::current_thread_index,
                );
                stolen += usize::from(other != me);
            }
            assert!(stolen >= 45, "only {stolen} of 50 second halves stolen");
            // Let go, every spinning job returns.
            awake.stop().unwrap();
        });
    }
}
