//! How far apart the machine's two cores are right now: the round trip of one cache line
//! between two threads (each writes a counter the other waits for). On a virtual machine the
//! host decides where the guest's cores run, and may move them while it runs: on this
//! project's AMD EPYC guest (issue 13's session-26 note) the round trip was about 30 ns when
//! the two virtual cores were one physical core's two hardware threads, 55-100 ns when they
//! were two cores of one die and 320-360 ns when they were on two dies, changing every few
//! seconds. Work split between the threads at every product, as
//! `relax vae --threads 2` does, hands its cache lines across that distance each time;
//! `scripts/vae-ab-threads.sh` measures it before and after each two-thread run.
//!
//!   cargo run --release -p host --example core_latency [ROUND_TRIPS] [BATCHES]
//!
//! ROUND_TRIPS a batch (20000) and BATCHES (7) after one batch of warm-up. Prints the median
//! and the least nanoseconds a round trip over the batches. Every wait has a deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest either thread waits for the other's answer.
const DEADLINE: Duration = Duration::from_secs(5);

/// A counter alone on its cache lines (and the adjacent-line prefetcher's pair).
#[repr(align(128))]
struct Line(AtomicU64);

/// Waits until `line` holds `want`; an error after [`DEADLINE`].
fn wait_for(line: &Line, want: u64) -> host::Result<()> {
    let mut spins = 0u32;
    let mut started: Option<Instant> = None;
    while line.0.load(Ordering::Acquire) != want {
        std::hint::spin_loop();
        spins += 1;
        if spins.is_multiple_of(1024) {
            let t = *started.get_or_insert_with(Instant::now);
            if t.elapsed() > DEADLINE {
                return Err(format!(
                    "the other thread did not answer within {} s (is a second core free?)",
                    DEADLINE.as_secs()
                )
                .into());
            }
        }
    }
    Ok(())
}

/// A positive integer argument `name` at position `at`, else `default`.
fn arg(at: usize, name: &str, default: u64) -> host::Result<u64> {
    match std::env::args().nth(at) {
        None => Ok(default),
        Some(s) => Ok(s
            .parse()
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| format!("{name}: expected a positive integer, got {s:?}"))?),
    }
}

fn main() -> host::Result<()> {
    let trips = arg(1, "ROUND_TRIPS", 20_000)?;
    let batches = arg(2, "BATCHES", 7)?;
    let total = trips
        .checked_mul(batches + 1)
        .filter(|&t| t < u64::MAX / 4)
        .ok_or("ROUND_TRIPS x BATCHES: too many")?;
    let line = Line(AtomicU64::new(0));
    let mut ns = Vec::with_capacity(batches as usize);
    std::thread::scope(|s| -> host::Result<()> {
        let partner = s.spawn(|| -> host::Result<()> {
            for i in 0..total {
                wait_for(&line, 2 * i + 1)?;
                line.0.store(2 * i + 2, Ordering::Release);
            }
            Ok(())
        });
        let mut run = || -> host::Result<()> {
            for b in 0..=batches {
                let t = Instant::now();
                for i in b * trips..(b + 1) * trips {
                    line.0.store(2 * i + 1, Ordering::Release);
                    wait_for(&line, 2 * i + 2)?;
                }
                if b > 0 {
                    ns.push(t.elapsed().as_secs_f64() * 1e9 / trips as f64);
                }
            }
            Ok(())
        };
        let ours = run();
        if ours.is_err() {
            // The partner waits for a count that will not come: its deadline ends it.
            let _ = partner.join();
            return ours;
        }
        partner.join().map_err(|_| "the other thread panicked")??;
        Ok(())
    })?;
    ns.sort_by(f64::total_cmp);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "core_latency: round trip {:.1} ns (median of {} batches of {}; least {:.1}; {} cores)",
        ns[ns.len() / 2],
        batches,
        trips,
        ns[0],
        cores
    );
    Ok(())
}
