//! The worker pool every RL run goes through: named threads with 32 MB stacks (room for the
//! 64-64 learners, a few parameter vectors and a copy of the LAX learner), `jobs` at a
//! time, failing fast: the first run that fails raises a stop flag that the other runs
//! check between episodes, and its error is the pool's.

use crate::Result;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Stack of each worker thread.
pub const STACK_BYTES: usize = 32 << 20;

/// What a run returns when it stopped because another run failed.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped: another run failed")
    }
}

impl std::error::Error for Stopped {}

/// Returns [`Stopped`] when `stop` is raised (a run calls this between episodes).
pub fn check(stop: &AtomicBool) -> Result<()> {
    crate::interrupt::check()?;
    if stop.load(Ordering::SeqCst) {
        Err(Stopped.into())
    } else {
        Ok(())
    }
}

/// The number of cores (the pool size of the native runs).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `task(i, stop)` for every `i` in `0..n`, `jobs` at a time. After a task fails, no
/// new one starts and `stop` is raised so the running ones end at their next
/// [`check`]. Returns the results in task order, or the error of the first task to fail
/// (in time; the tasks it stopped are not reported).
pub fn run_pool<T: Send>(
    n: usize,
    jobs: usize,
    name: &str,
    task: impl Fn(usize, &AtomicBool) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<crate::Error>> = Mutex::new(None);
    let fail = |e: crate::Error| {
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() && !e.is::<Stopped>() {
            *slot = Some(e);
        }
        // Raised under the lock, so a run that sees it reports after the first error is in.
        stop.store(true, Ordering::SeqCst);
    };
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for w in 0..jobs.max(1).min(n.max(1)) {
            let worker = std::thread::Builder::new()
                .name(format!("{name} worker {w}"))
                .stack_size(STACK_BYTES);
            let spawned = worker.spawn_scoped(scope, || loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                match task(i, &stop) {
                    Ok(v) => slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(v),
                    Err(e) => fail(e),
                }
            });
            if let Err(e) = spawned {
                fail(format!("cannot start a worker thread: {e}").into());
            }
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let slots = slots.into_inner().unwrap_or_else(|p| p.into_inner());
    slots
        .into_iter()
        .map(|s| s.ok_or_else(|| "a run was abandoned after another failed".into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_task_order() {
        let r = run_pool(7, 3, "t", |i, _| Ok(i * i)).unwrap();
        assert_eq!(r, vec![0, 1, 4, 9, 16, 25, 36]);
    }

    #[test]
    fn the_first_failure_stops_its_siblings_and_is_reported() {
        let e = run_pool(4, 4, "t", |i, stop| {
            if i == 2 {
                return Err("run 2 failed".into());
            }
            // The others run "episodes" until stopped.
            for _ in 0..10_000 {
                check(stop)?;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "run 2 failed");
    }
}
