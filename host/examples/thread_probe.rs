//! What a second thread gives the VAE's weight-sized work on this machine: the matrix products
//! and the Adam step of one linear1-shaped iteration (batch 24, 784 -> 200 -> 784; the encoder's
//! forward product, four decoder forward and input-gradient products as REBAR's passes make,
//! both weight gradients, Adam over both weight matrices), run ten ways:
//!
//! - `one`: one thread;
//! - `one-half`: one thread, half the batch (12 rows): what each thread of `halves` does;
//! - `split`: each product and Adam split in two (what `relax vae --threads 2` does);
//! - `split-awake`: `split`, with the pool's other worker kept spinning between products (a
//!   job that runs whatever it can steal), so that it is never asleep when work comes;
//! - `halves`: the batch split in two halves of 12 rows, each thread running the whole
//!   iteration's products on its half into its own gradient buffer, then the two gradients
//!   added and Adam split in two (data parallelism, as a batch-split training step would do);
//! - `replica`: `halves`, but the second thread reads its own copy of the weights, which it
//!   made and the other thread never writes (so not a training step: the copy goes stale);
//! - `owned`: each of two threads owns half the columns of each weight matrix (the encoder's
//!   hidden units, the decoder's pixels), with their gradient and Adam moments, made by it and
//!   never read by the other; the whole batch's products run on each thread's columns, and
//!   only activations cross (the encoder's half outputs, and each input-gradient product's
//!   partial sum, added by the first thread), at a spinning barrier (nobody sleeps);
//! - `owned-sleep`: `owned` at a sleeping barrier (a mutex and condition variable, as
//!   `std::sync::Barrier` but with a deadline: the first to arrive sleeps).
//! - `blocked`: the training's own layers (`vae::dense::Dense`) and Adam with each weight
//!   matrix in two column blocks, on a two-worker rayon pool whose other worker is kept
//!   spinning (`vae::awake`), as `relax vae --threads 2` runs since issue 13's sixth round;
//! - `blocked-one`: the same layers in one block on one thread (`relax vae --threads 1`).
//! - `fma`, `fma-one`: no memory at all, the machine's own ceiling for work cut as finely as
//!   the training's: an "iteration" of 40 pieces of pure AVX-512 multiply-adds (12
//!   independent chains, in registers), each piece about 25 microseconds on one thread, about
//!   as many and as long as a `--threads 2` iteration's split pieces. `fma` cuts each piece
//!   in two halves on two threads that meet at the spinning barrier between pieces; `fma-one`
//!   runs both halves on one thread. Their ratio is the most any work of that grain can gain
//!   from the second core at that moment (reported as "products"; Adam 0).
//!
//! `cargo run --release -p host --example thread_probe -- MODE [iterations]` prints the mean
//! milliseconds per iteration of the products and of Adam after a warm-up of a fifth of the
//! iterations. `scripts/thread-probe.sh` runs the modes in interleaved rounds, with two `one`
//! processes at once as the machine's own two-core throughput.

use host::vae::layers::AdamVec;
use host::vae::linalg::{gemm, set_threads};
use host::vae::team::{BarrierError, SpinBarrier};
use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const IN: usize = 784;
const HID: usize = 200;
const BATCH: usize = 24;
/// Decoder passes of a REBAR iteration (the hard one and the relaxed ones).
const DECODER_PASSES: usize = 4;

/// One thread's activations.
struct Scratch {
    y: Vec<f32>,
    out: Vec<f32>,
    db: Vec<f32>,
}

impl Scratch {
    fn new() -> Self {
        Self {
            y: vec![0.0; BATCH * HID],
            out: vec![0.0; BATCH * IN],
            db: vec![0.0; BATCH * HID],
        }
    }
}

fn pattern(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * scale)
        .collect()
}

/// The products of `rows` rows; the weight gradients overwrite `grad` (`[we, wd]`).
fn products(params: &[f32], x: &[f32], b: &[f32], rows: usize, s: &mut Scratch, grad: &mut [f32]) {
    let (we, wd) = params.split_at(IN * HID);
    let (ge, gd) = grad.split_at_mut(IN * HID);
    gemm(rows, HID, IN, 1.0, x, false, we, false, 0.0, &mut s.y);
    for _ in 0..DECODER_PASSES {
        gemm(rows, IN, HID, 1.0, b, false, wd, false, 0.0, &mut s.out);
        gemm(rows, HID, IN, 1.0, &s.out, false, wd, true, 0.0, &mut s.db);
    }
    gemm(HID, IN, rows, 1.0, b, true, &s.out, false, 0.0, gd);
    gemm(IN, HID, rows, 1.0, x, true, &s.y, false, 0.0, ge);
}

/// How the two threads of `owned` wait for each other.
enum Barrier2 {
    /// Both spin (`host::vae::team`): neither sleeps, so neither waits to be woken.
    Spin(SpinBarrier),
    /// A mutex and condition variable (as `std::sync::Barrier`, which has no deadline): the
    /// first to arrive sleeps until the other wakes it. The state is (arrived, generation).
    Sleep(Mutex<(usize, usize)>, Condvar),
}

/// How long a thread of `owned` waits for the other before it gives up.
const DEADLINE: Duration = Duration::from_secs(60);

impl Barrier2 {
    fn new(sleep: bool) -> Self {
        if sleep {
            Barrier2::Sleep(Mutex::new((0, 0)), Condvar::new())
        } else {
            Barrier2::Spin(SpinBarrier::new(2, DEADLINE))
        }
    }

    fn wait(&self) -> Result<(), BarrierError> {
        match self {
            Barrier2::Spin(b) => b.wait(),
            Barrier2::Sleep(m, cv) => {
                let mut st = m.lock().unwrap_or_else(|e| e.into_inner());
                let generation = st.1;
                st.0 += 1;
                if st.0 == 2 {
                    *st = (0, generation + 1);
                    cv.notify_all();
                    return Ok(());
                }
                let (st, timeout) = cv
                    .wait_timeout_while(st, DEADLINE, |st| st.1 == generation)
                    .unwrap_or_else(|e| e.into_inner());
                if timeout.timed_out() && st.1 == generation {
                    return Err(BarrierError::TimedOut(DEADLINE));
                }
                Ok(())
            }
        }
    }
}

/// `owned` (or `owned-sleep`): the (products, Adam) seconds of the timed iterations, as the
/// first thread sees them (each phase ends at a barrier, so they include the wait for the
/// second thread).
fn owned(iters: usize, x: &[f32], b: &[f32], sleep: bool) -> Result<(f64, f64), BarrierError> {
    set_threads(1);
    // Each thread's columns: half the hidden units of the encoder, half the pixels of the decoder.
    let (h, p) = (HID / 2, IN / 2);
    let bar = Barrier2::new(sleep);
    // What crosses: the second thread's encoder outputs and its partial input gradients.
    let ex_y = Mutex::new(vec![0.0f32; BATCH * h]);
    let ex_db = Mutex::new(vec![0.0f32; BATCH * HID]);
    let run = |t: usize| -> Result<(f64, f64), BarrierError> {
        let _guard = match &bar {
            Barrier2::Spin(b) => Some(b.guard()),
            Barrier2::Sleep(..) => None,
        };
        // Made here, so first touched (and cached) by the thread that owns them.
        let n = IN * h + HID * p;
        let mut params = pattern(n, 1e-3);
        let mut grad = vec![0.0f32; n];
        let mut adam = AdamVec::new(n, 1e-4, 0.999);
        let (mut y, mut y_all) = (vec![0.0f32; BATCH * h], vec![0.0f32; BATCH * HID]);
        let (mut out, mut db) = (vec![0.0f32; BATCH * p], vec![0.0f32; BATCH * HID]);
        let (mut t_products, mut t_adam) = (0.0, 0.0);
        for it in 0..iters {
            if it == iters / 5 {
                (t_products, t_adam) = (0.0, 0.0);
            }
            bar.wait()?;
            let t0 = Instant::now();
            let (we, wd) = params.split_at(IN * h);
            let (ge, gd) = grad.split_at_mut(IN * h);
            gemm(BATCH, h, IN, 1.0, x, false, we, false, 0.0, &mut y);
            if t == 1 {
                ex_y.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .copy_from_slice(&y);
            }
            bar.wait()?;
            if t == 0 {
                // The whole batch's encoder outputs, as the sampling would need them.
                let other = ex_y.lock().unwrap_or_else(|e| e.into_inner());
                for r in 0..BATCH {
                    y_all[r * HID..r * HID + h].copy_from_slice(&y[r * h..(r + 1) * h]);
                    y_all[r * HID + h..(r + 1) * HID].copy_from_slice(&other[r * h..(r + 1) * h]);
                }
            }
            for _ in 0..DECODER_PASSES {
                gemm(BATCH, p, HID, 1.0, b, false, wd, false, 0.0, &mut out);
                gemm(BATCH, HID, p, 1.0, &out, false, wd, true, 0.0, &mut db);
                if t == 1 {
                    ex_db
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .copy_from_slice(&db);
                }
                bar.wait()?;
                if t == 0 {
                    let other = ex_db.lock().unwrap_or_else(|e| e.into_inner());
                    db.iter_mut().zip(other.iter()).for_each(|(d, o)| *d += o);
                }
                bar.wait()?;
            }
            gemm(HID, p, BATCH, 1.0, b, true, &out, false, 0.0, gd);
            gemm(IN, h, BATCH, 1.0, x, true, &y, false, 0.0, ge);
            bar.wait()?;
            let t1 = Instant::now();
            adam.step(&mut params, &mut grad);
            bar.wait()?;
            t_products += (t1 - t0).as_secs_f64();
            t_adam += t1.elapsed().as_secs_f64();
        }
        std::hint::black_box((&y_all, &db));
        Ok((t_products, t_adam))
    };
    std::thread::scope(|s| {
        let second = s.spawn(|| run(1));
        // A failed wait poisons the spinning barrier, so the other thread stops too.
        let first = run(0);
        let second = second.join().expect("owned: the second thread panicked");
        let first = first?;
        second?;
        Ok(first)
    })
}

/// Keeps the calling pool's other worker awake: a job that runs every job it can find
/// (`rayon::yield_now`) and spins between them, until the returned flag is raised.
fn keep_awake() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (s, st) = (stop.clone(), started.clone());
    rayon::spawn(move || {
        st.store(true, Ordering::Release);
        while !s.load(Ordering::Acquire) {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                spin_loop();
            }
        }
    });
    // Until the other worker has taken the job, this thread could take it itself and never return.
    let t0 = Instant::now();
    while !started.load(Ordering::Acquire) {
        if t0.elapsed() > DEADLINE {
            stop.store(true, Ordering::Release);
            return Err(format!(
                "split-awake: the pool's other worker did not start within {DEADLINE:?}"
            ));
        }
        spin_loop();
    }
    Ok(stop)
}

/// The modes on a two-worker rayon pool: (products, Adam) seconds of the timed iterations.
fn pooled(mode: &str, iters: usize, x: &[f32], b: &[f32]) -> Result<(f64, f64), String> {
    let n = 2 * IN * HID;
    let mut params = pattern(n, 1e-3);
    let mut grad = vec![0.0f32; n];
    let mut grad1 = vec![0.0f32; n];
    let mut adam = AdamVec::new(n, 1e-4, 0.999);
    let (mut s0, mut s1) = (Scratch::new(), Scratch::new());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .map_err(|e| format!("building the thread pool: {e}"))?;
    // `replica`: the second thread's own copy of the weights, made (first touched) by that
    // thread and never written by the other; Adam updates only the first thread's copy (the
    // products' cost is the point, not the numbers).
    let mut replica: Vec<f32> = Vec::new();
    let (mut t_products, mut t_adam) = (0.0, 0.0);
    pool.install(|| -> Result<(), String> {
        let keeper = (mode == "split-awake").then(keep_awake).transpose()?;
        for it in 0..iters {
            if it == iters / 5 {
                (t_products, t_adam) = (0.0, 0.0);
            }
            let t0 = Instant::now();
            match mode {
                "one-half" => {
                    set_threads(1);
                    let h = BATCH / 2;
                    products(&params, &x[..h * IN], &b[..h * HID], h, &mut s0, &mut grad);
                }
                "one" | "split" | "split-awake" => {
                    set_threads(if mode == "one" { 1 } else { 2 });
                    products(&params, x, b, BATCH, &mut s0, &mut grad);
                }
                _ => {
                    set_threads(1);
                    let h = BATCH / 2;
                    let p = &params;
                    let copy = &mut replica;
                    rayon::join(
                        || products(p, &x[..h * IN], &b[..h * HID], h, &mut s0, &mut grad),
                        || {
                            let q = if mode == "replica" {
                                if copy.is_empty() {
                                    *copy = p.clone();
                                }
                                &copy[..]
                            } else {
                                p
                            };
                            products(q, &x[h * IN..], &b[h * HID..], h, &mut s1, &mut grad1)
                        },
                    );
                    let (g0, g0b) = grad.split_at_mut(n / 2);
                    let (g1, g1b) = grad1.split_at(n / 2);
                    let add =
                        |g: &mut [f32], h: &[f32]| g.iter_mut().zip(h).for_each(|(g, h)| *g += h);
                    rayon::join(|| add(g0, g1), || add(g0b, g1b));
                    set_threads(2);
                }
            }
            let t1 = Instant::now();
            adam.step(&mut params, &mut grad);
            t_products += (t1 - t0).as_secs_f64();
            t_adam += t1.elapsed().as_secs_f64();
        }
        if let Some(stop) = keeper {
            stop.store(true, Ordering::Release);
        }
        Ok(())
    })?;
    Ok((t_products, t_adam))
}

const MODES: [&str; 12] = [
    "blocked",
    "blocked-one",
    "fma",
    "fma-one",
    "one",
    "one-half",
    "split",
    "split-awake",
    "halves",
    "replica",
    "owned",
    "owned-sleep",
];

/// Pieces of an `fma` iteration.
const FMA_PIECES: usize = 40;
/// Steps of the 12 chains in half a piece (6 cycles a step at two vector multiply-adds a
/// cycle: about 12 microseconds at 3 GHz).
const FMA_HALF: usize = 6000;

host::wide_fn! {
    /// `k` steps of 12 independent 16-lane multiply-add chains (192 accumulators: AVX-512
    /// registers, no memory traffic).
    fn fma_chains(k: usize, seed: f32) -> f32 {
        let mut a = [seed; 192];
        for _ in 0..k {
            for x in a.iter_mut() {
                *x = x.mul_add(0.999_999, 1e-7);
            }
        }
        a.iter().sum()
    }
}

/// `fma` (two threads, a spinning barrier between pieces) or `fma-one` (one thread).
fn fma(iters: usize, two: bool) -> Result<(f64, f64), BarrierError> {
    let bar = SpinBarrier::new(2, DEADLINE);
    let run = |t: usize| -> Result<f64, BarrierError> {
        let _guard = bar.guard();
        let mut sum = 0.0f64;
        let mut t0 = Instant::now();
        for it in 0..iters {
            if it == iters / 5 {
                t0 = Instant::now();
            }
            for piece in 0..FMA_PIECES {
                let seed = 1.0 + (it * FMA_PIECES + piece + t) as f32 * 1e-9;
                if two {
                    bar.wait()?;
                    sum += fma_chains(FMA_HALF, seed) as f64;
                } else {
                    sum += fma_chains(FMA_HALF, seed) as f64;
                    sum += fma_chains(FMA_HALF, seed + 0.5) as f64;
                }
            }
        }
        if two {
            bar.wait()?;
        }
        std::hint::black_box(sum);
        Ok(t0.elapsed().as_secs_f64())
    };
    if !two {
        return Ok((run(0)?, 0.0));
    }
    std::thread::scope(|s| {
        let second = s.spawn(|| run(1));
        let first = run(0);
        let second = second.join().expect("fma: the second thread panicked");
        let first = first?;
        second?;
        Ok((first, 0.0))
    })
}

/// The training's own layers and Adam, with two column blocks and two threads (or one).
fn blocked(iters: usize, x: &[f32], b: &[f32], two: bool) -> Result<(f64, f64), String> {
    use host::vae::layers::ParamLayout;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .map_err(|e| format!("building the thread pool: {e}"))?;
    let parts = if two { 2 } else { 1 };
    let mut lay = ParamLayout::with_parts(parts);
    let enc = lay.dense(IN, HID);
    let dec = lay.dense(HID, IN);
    let n = lay.len;
    let mut params = pattern(n, 1e-3);
    let mut grad = vec![0.0f32; n];
    let mut adam = AdamVec::new(n, 1e-4, 0.999);
    adam.set_matrices(
        &[
            (enc.w, IN, HID),
            (enc.b, 1, HID),
            (dec.w, HID, IN),
            (dec.b, 1, IN),
        ],
        parts,
    );
    let mut s = Scratch::new();
    let (mut t_products, mut t_adam) = (0.0, 0.0);
    pool.install(|| -> Result<(), String> {
        set_threads(parts);
        let _awake = if two {
            Some(host::vae::awake::KeepAwake::start().map_err(|e| e.to_string())?)
        } else {
            None
        };
        // Adam's step leaves the gradient zero, as in the training.
        adam.zero(&mut grad);
        for it in 0..iters {
            if it == iters / 5 {
                (t_products, t_adam) = (0.0, 0.0);
            }
            let t0 = Instant::now();
            enc.forward(&params, x, BATCH, &mut s.y);
            for _ in 0..DECODER_PASSES {
                dec.forward(&params, b, BATCH, &mut s.out);
                dec.input_grad(&params, &s.out, BATCH, &mut s.db);
            }
            dec.param_grad(b, &s.out, BATCH, &mut grad);
            enc.param_grad(x, &s.y, BATCH, &mut grad);
            let t1 = Instant::now();
            adam.step(&mut params, &mut grad);
            t_products += (t1 - t0).as_secs_f64();
            t_adam += t1.elapsed().as_secs_f64();
        }
        Ok(())
    })?;
    Ok((t_products, t_adam))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("one");
    if !MODES.contains(&mode) {
        return Err(format!("MODE must be one of {}, not {mode:?}", MODES.join(", ")).into());
    }
    let iters: usize = match args.get(2) {
        None => 2000,
        Some(s) => s
            .parse()
            .ok()
            .filter(|&n| n >= 5)
            .ok_or_else(|| format!("iterations must be a whole number >= 5, not {s:?}"))?,
    };
    let x = pattern(BATCH * IN, 1e-2);
    let b = pattern(BATCH * HID, 1e-2);
    let (t_products, t_adam) = match mode {
        "owned" | "owned-sleep" => owned(iters, &x, &b, mode == "owned-sleep")?,
        "blocked" | "blocked-one" => blocked(iters, &x, &b, mode == "blocked")?,
        "fma" | "fma-one" => fma(iters, mode == "fma")?,
        _ => pooled(mode, iters, &x, &b)?,
    };
    let timed = (iters - iters / 5) as f64;
    println!(
        "{mode} products {:.3} adam {:.3} total {:.3} ms/iter",
        t_products / timed * 1e3,
        t_adam / timed * 1e3,
        (t_products + t_adam) / timed * 1e3
    );
    Ok(())
}
