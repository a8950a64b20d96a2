//! What one split of a piece of work between two threads costs on this machine: the time of
//! `rayon::join(piece, piece)` on a two-worker pool whose other worker is kept spinning
//! (`vae::awake`, as `relax vae --threads 2` runs), against one piece alone on one thread,
//! and against the least a split can cost: a second thread that meets this one at a spinning
//! barrier before and after its piece (no queue, no job search). Pieces of
//! 0, 1, 3 and 10 microseconds of arithmetic; an iteration of two-thread linear1 training
//! splits a few dozen times, most pieces 5-30 microseconds.
//!
//!   cargo run --release -p host --example fork_cost [REPS]    # REPS splits a size (20000)

use host::vae::team::{BarrierError, SpinBarrier};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest either thread waits for the other at the barrier.
const DEADLINE: Duration = Duration::from_secs(10);

/// `n` dependent multiply-adds on integers (about 0.9 per nanosecond here).
#[inline(never)]
fn work(n: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        std::hint::black_box(x);
    }
    x
}

/// Microseconds a call of `f`, over `reps` calls.
fn per_call(reps: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / reps as f64 * 1e6
}

/// Microseconds a split of two pieces of `n` with a second thread that meets this one at a
/// spinning barrier before and after its piece (`vae::team::SpinBarrier`: no queue, no job
/// search; every wait has a deadline).
fn spin_partner(reps: usize, n: u64) -> host::Result<f64> {
    let bar = SpinBarrier::new(2, DEADLINE);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let partner = s.spawn(|| -> Result<(), BarrierError> {
            let _guard = bar.guard();
            loop {
                bar.wait()?;
                if stop.load(Ordering::Acquire) {
                    return Ok(());
                }
                work(n);
                bar.wait()?;
            }
        });
        let _guard = bar.guard();
        let mut res = Ok(());
        let dt = per_call(reps, || {
            if res.is_ok() {
                res = bar.wait().and_then(|()| {
                    work(n);
                    bar.wait()
                });
            }
        });
        stop.store(true, Ordering::Release);
        // Lets the partner see `stop` (a poisoned barrier releases it at once).
        let _ = bar.wait();
        let joined = partner.join().map_err(|_| "the partner thread panicked")?;
        res.and(joined)?;
        Ok(dt)
    })
}

fn main() -> host::Result<()> {
    let reps: usize = match std::env::args().nth(1) {
        None => 20_000,
        Some(s) => s
            .parse()
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| format!("REPS: expected a positive integer, got {s:?}"))?,
    };
    let per_us = 1e7
        / (per_call(1, || {
            work(10_000_000);
        }));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    println!(
        "| piece (us) | one piece alone | rayon::join | its cost | spinning barrier | its cost |"
    );
    println!("|---|---|---|---|---|---|");
    for us in [0.0f64, 1.0, 3.0, 10.0] {
        let n = (us * per_us) as u64;
        let (alone, joined) = pool.install(|| -> host::Result<(f64, f64)> {
            let awake = host::vae::awake::KeepAwake::start()?;
            let joined = per_call(reps, || {
                rayon::join(|| work(n), || work(n));
            });
            let alone = per_call(reps, || {
                work(n);
            });
            awake.stop()?;
            Ok((alone, joined))
        })?;
        let spun = spin_partner(reps, n)?;
        println!(
            "| {us} | {alone:.2} | {joined:.2} | {:.2} | {spun:.2} | {:.2} |",
            joined - alone,
            spun - alone
        );
    }
    Ok(())
}
