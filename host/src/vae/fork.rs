//! The training's fork-join: `rayon::join`, with the caller spinning while the other worker
//! finishes its half. A rayon caller whose half ends first waits in rayon's idle loop, which
//! yields its core to the kernel at each turn (a system call, a visit to the scheduler) and
//! after a few dozen turns sleeps until the other worker wakes it: in a two-thread linear1
//! REBAR run (`perf record`), the training thread spent about an eighth of its time in the
//! kernel's scheduler, against an iteration of about half a millisecond with a few dozen
//! forks. Here the caller spins on a flag that the other half sets when it returns; the
//! other worker is kept spinning too ([`super::awake`]), so a fork costs a few hundred
//! nanoseconds each way.
//!
//! No wait hangs and no work is lost: the caller spins only while the other half is
//! running on another thread (a half that no thread has started yet is left to rayon, which
//! runs it on the caller), for at most [`SPIN`], after which rayon's own wait takes over; a
//! half that panics sets its flag as it unwinds, and rayon carries the panic to the caller.
//! Which half runs where, and so every number, is as with `rayon::join`.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the caller spins for the other half before leaving the wait to rayon.
const SPIN: Duration = Duration::from_millis(1);
/// Spins between two reads of the clock.
const SPINS_PER_CLOCK: u32 = 256;

/// Sets its flag when dropped: when the half returns, or unwinds.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// `(a(), b())`, `a` on this thread and `b` on another worker of the pool if one takes it
/// (as `rayon::join`), this thread spinning while `b` runs elsewhere.
pub fn join<RA: Send, RB: Send>(
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    let started = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    rayon::join(
        || {
            let r = a();
            wait(&started, &done);
            r
        },
        || {
            started.store(true, Ordering::Release);
            let _done = SetOnDrop(&done);
            b()
        },
    )
}

/// Spins while `b` has started and not returned, at most [`SPIN`].
fn wait(started: &AtomicBool, done: &AtomicBool) {
    let mut t0: Option<Instant> = None;
    let mut spins = 0u32;
    // Not started: no other worker took it, and rayon runs it here.
    while started.load(Ordering::Acquire) && !done.load(Ordering::Acquire) {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_CLOCK)
            && t0.get_or_insert_with(Instant::now).elapsed() > SPIN
        {
            return;
        }
        spin_loop();
    }
}

/// `f(item)` for each item, split in halves recursively by [`join`]: with as many items as
/// product threads, item `q` runs on thread `q` (the caller takes the first), as with
/// rayon's parallel iterators cut into one item per thread.
pub fn each<T: Send>(items: impl IntoIterator<Item = T>, f: impl Fn(T) + Sync) {
    halves(items.into_iter().collect(), &f);
}

fn halves<T: Send>(mut items: Vec<T>, f: &(impl Fn(T) + Sync)) {
    if items.len() <= 1 {
        items.into_iter().for_each(f);
        return;
    }
    let right = items.split_off(items.len() / 2);
    join(|| halves(items, f), || halves(right, f));
}

/// `f(item)` for each item, in order, each item run as by [`each`].
pub fn map<T: Send, R: Send>(
    items: impl IntoIterator<Item = T>,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let items: Vec<T> = items.into_iter().collect();
    let mut out: Vec<Option<R>> = items.iter().map(|_| None).collect();
    each(items.into_iter().zip(out.iter_mut()), |(t, o)| {
        *o = Some(f(t))
    });
    out.into_iter().flatten().collect()
}

/// Whether `f(item)` holds for every item, each item run as by [`each`] (every item is
/// run: no early exit).
pub fn all<T: Send>(items: impl IntoIterator<Item = T>, f: impl Fn(T) -> bool + Sync) -> bool {
    let ok = AtomicBool::new(true);
    each(items, |t| {
        if !f(t) {
            ok.store(false, Ordering::Relaxed);
        }
    });
    ok.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    }

    #[test]
    fn each_runs_every_item_once_and_item_q_on_thread_q() {
        pool(2).install(|| {
            let _awake = super::super::awake::KeepAwake::start().unwrap();
            let me = rayon::current_thread_index();
            let mut elsewhere = 0;
            for round in 0..50 {
                let mut out = vec![0usize; 2];
                let other = AtomicUsize::new(usize::MAX);
                // Halves long enough for the other worker to take the second.
                each(out.iter_mut().enumerate(), |(q, o)| {
                    std::thread::sleep(Duration::from_micros(200));
                    *o = q + round;
                    if q == 1 {
                        other.store(rayon::current_thread_index().unwrap(), Ordering::Relaxed);
                    }
                });
                assert_eq!(out, [round, round + 1]);
                elsewhere += usize::from(Some(other.into_inner()) != me);
            }
            assert!(
                elsewhere >= 45,
                "item 1 on the other worker {elsewhere} of 50 times"
            );
        });
        // Any number of items, on any number of threads.
        for threads in 1..4 {
            pool(threads).install(|| {
                for n in 0..9 {
                    let count = AtomicUsize::new(0);
                    let mut seen = vec![0u8; n];
                    each(seen.iter_mut(), |s| {
                        *s += 1;
                        count.fetch_add(1, Ordering::Relaxed);
                    });
                    assert_eq!(count.into_inner(), n);
                    assert!(seen.iter().all(|&s| s == 1));
                    assert!(all(0..n, |i| i < n));
                    assert_eq!(all(0..n, |i| i + 1 < n), n == 0);
                }
            });
        }
    }

    #[test]
    fn a_half_that_panics_reaches_the_caller_and_nothing_hangs() {
        let t0 = Instant::now();
        pool(2).install(|| {
            let _awake = super::super::awake::KeepAwake::start().unwrap();
            let r = std::panic::catch_unwind(|| {
                join(
                    || std::thread::sleep(Duration::from_millis(1)),
                    || panic!("the second half failed"),
                )
            });
            assert!(r.is_err());
            // A second half slower than the spin: rayon's wait takes over, the result is whole.
            let (a, b) = join(
                || 1,
                || {
                    std::thread::sleep(SPIN * 5);
                    2
                },
            );
            assert_eq!((a, b), (1, 2));
        });
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
}
