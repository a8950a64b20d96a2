//! A barrier for a fixed team of threads that spin while they wait, for the per-core-ownership
//! step that issue 13's probe points to (docs/results.md, "Fifth round"): on this machine a
//! thread that sleeps at a barrier is woken 10-20 microseconds late, against iterations of
//! about a millisecond with a dozen barriers. No wait hangs: every wait has a deadline, and a
//! thread that fails (an error, a panic through [`SpinBarrier::guard`]) poisons the barrier,
//! which releases the others with [`BarrierError::Poisoned`].
//!
//! `host/examples/thread_probe.rs` (`owned`) runs its two threads on it.

use std::fmt;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Spins between two reads of the clock (a read costs about as much as a few dozen spins).
const SPINS_PER_CLOCK: u32 = 256;

/// How long a waiter spins before it also yields its core at each turn: a team with more
/// threads than free cores still makes progress.
const SPIN_BEFORE_YIELD: Duration = Duration::from_millis(1);

/// Why [`SpinBarrier::wait`] returned without the whole team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierError {
    /// Another thread of the team failed (or gave up waiting) and poisoned the barrier.
    Poisoned,
    /// This thread waited longer than the deadline; it poisoned the barrier.
    TimedOut(Duration),
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Poisoned => write!(f, "another thread of the team failed"),
            BarrierError::TimedOut(d) => write!(
                f,
                "waited more than {:.3} s for the other threads of the team",
                d.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for BarrierError {}

/// A reusable barrier for `parties` threads that spin (never sleep) while they wait.
#[derive(Debug)]
pub struct SpinBarrier {
    parties: usize,
    deadline: Duration,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl SpinBarrier {
    /// A barrier for `parties` threads (at least 1); a wait longer than `deadline` fails.
    pub fn new(parties: usize, deadline: Duration) -> Self {
        SpinBarrier {
            parties: parties.max(1),
            deadline,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Waits until all `parties` threads have called `wait` (the same number of times).
    /// `Ok` means that every party reached this barrier: everything a thread wrote before
    /// its call is visible to every thread after theirs. A failure of the team that comes
    /// after the barrier was released is reported by the next wait.
    pub fn wait(&self) -> Result<(), BarrierError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(BarrierError::Poisoned);
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.parties {
            // The last to arrive: the others spin on `generation`, so none can arrive at the
            // next barrier before the count is reset.
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return Ok(());
        }
        let start = Instant::now();
        let (mut spins, mut yielding) = (0u32, false);
        while self.generation.load(Ordering::Acquire) == generation {
            if self.poisoned.load(Ordering::Acquire) {
                // The last thread may have released this barrier and then failed: the
                // barrier was passed, and the failure is for the next wait to report.
                return if self.released(generation) {
                    Ok(())
                } else {
                    Err(BarrierError::Poisoned)
                };
            }
            spins = spins.wrapping_add(1);
            if yielding || spins % SPINS_PER_CLOCK == 0 {
                let waited = start.elapsed();
                if waited > self.deadline {
                    if self.released(generation) {
                        return Ok(());
                    }
                    self.poison();
                    return Err(BarrierError::TimedOut(self.deadline));
                }
                yielding = waited > SPIN_BEFORE_YIELD;
            }
            if yielding {
                std::thread::yield_now();
            } else {
                spin_loop();
            }
        }
        Ok(())
    }

    /// Whether the barrier of `generation` has been released.
    fn released(&self, generation: usize) -> bool {
        self.generation.load(Ordering::Acquire) != generation
    }

    /// Marks the barrier failed: every wait, now and later, returns
    /// [`BarrierError::Poisoned`].
    pub fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// Whether the barrier was poisoned.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// A guard that poisons the barrier if its thread panics while holding it.
    pub fn guard(&self) -> PoisonOnPanic<'_> {
        PoisonOnPanic(self)
    }
}

/// See [`SpinBarrier::guard`].
#[derive(Debug)]
pub struct PoisonOnPanic<'a>(&'a SpinBarrier);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn no_thread_passes_a_barrier_before_all_have_reached_it() {
        // Each thread adds to a shared sum, meets the others, and reads the sum: it must see
        // every thread's addition of this round and none of the next round's.
        let threads = 3;
        let rounds = 500u64;
        let bar = SpinBarrier::new(threads, Duration::from_secs(30));
        let sum = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for r in 0..rounds {
                        sum.fetch_add(1, Ordering::Relaxed);
                        bar.wait().unwrap();
                        assert_eq!(sum.load(Ordering::Relaxed), (r + 1) * threads as u64);
                        bar.wait().unwrap();
                    }
                });
            }
        });
        assert_eq!(sum.into_inner(), rounds * threads as u64);
    }

    #[test]
    fn a_wait_for_a_missing_thread_times_out_and_poisons() {
        let bar = SpinBarrier::new(2, Duration::from_millis(50));
        let t0 = Instant::now();
        assert_eq!(
            bar.wait(),
            Err(BarrierError::TimedOut(Duration::from_millis(50)))
        );
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert!(bar.is_poisoned());
        assert_eq!(bar.wait(), Err(BarrierError::Poisoned));
        assert!(BarrierError::TimedOut(Duration::from_millis(50))
            .to_string()
            .contains("0.050 s"));
    }

    #[test]
    fn a_thread_that_panics_releases_the_others() {
        let bar = SpinBarrier::new(2, Duration::from_secs(30));
        let t0 = Instant::now();
        std::thread::scope(|s| {
            let failing = s.spawn(|| {
                let _guard = bar.guard();
                bar.wait().unwrap();
                panic!("the second pass failed");
            });
            bar.wait().unwrap();
            // The other thread panics before the second barrier: this wait must end, with
            // an error, long before the deadline.
            assert_eq!(bar.wait(), Err(BarrierError::Poisoned));
            assert!(failing.join().is_err());
        });
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn one_party_never_waits() {
        let bar = SpinBarrier::new(1, Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(bar.wait(), Ok(()));
        }
    }
}
