//! The worker pool every RL run goes through: named threads with 32 MB stacks (room for the
//! 64-64 learners, a few parameter vectors and a copy of the LAX learner), `jobs` at a
//! time, failing fast: the first run that fails (or panics) raises a stop flag that the
//! other runs check between episodes and that their gymnasium servers check in every wait
//! (so a sibling stops within [`crate::gym::process::CANCEL_POLL`] of a step, and its server
//! is killed), and its error is the pool's. No worker outlives the pool: a panic is caught,
//! becomes the run's error and stops the siblings like any other failure.

use crate::Result;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

/// `e`, unless `stop` (or Ctrl-C) explains it: a run whose wait was cancelled because
/// another run failed reports [`Stopped`], not the cancellation.
pub fn unless_stopped(stop: &AtomicBool, e: crate::Error) -> crate::Error {
    match check(stop) {
        Err(s) => s,
        Ok(()) => e,
    }
}

/// `e` as [`unless_stopped`] gives it, described by `describe` unless it is the stop.
pub fn stopped_or(
    stop: &AtomicBool,
    e: crate::Error,
    describe: impl FnOnce(crate::Error) -> String,
) -> crate::Error {
    match check(stop) {
        Err(s) => s,
        Ok(()) if e.is::<Stopped>() => e,
        Ok(()) => describe(e).into(),
    }
}

/// The message of a panic's payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs `task(i, stop)` for every `i` in `0..n`, `jobs` at a time. After a task fails (or
/// panics: the panic becomes its error), no new one starts and `stop` is raised so the
/// running ones end at their next [`check`] (a task may hand `stop` to what it waits on).
/// Returns the results in task order, or the error of the first task to fail (in time;
/// the tasks it stopped are not reported).
pub fn run_pool<T: Send>(
    n: usize,
    jobs: usize,
    name: &str,
    task: impl Fn(usize, &Arc<AtomicBool>) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let stop = Arc::new(AtomicBool::new(false));
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
                match catch_unwind(AssertUnwindSafe(|| task(i, &stop))) {
                    Ok(Ok(v)) => slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(v),
                    Ok(Err(e)) => fail(e),
                    Err(p) => fail(format!("panicked: {}", panic_message(p.as_ref())).into()),
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

    #[test]
    fn a_panicking_run_is_an_error_that_stops_its_siblings() {
        let t = std::time::Instant::now();
        let e = run_pool(3, 3, "t", |i, stop| {
            if i == 1 {
                std::thread::sleep(std::time::Duration::from_millis(20));
                panic!("run 1 broke");
            }
            for _ in 0..100_000 {
                check(stop)?;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "panicked: run 1 broke");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }
}
