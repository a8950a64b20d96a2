//! What a second thread gives the VAE's weight-sized work on this machine: the matrix products
//! and the Adam step of one linear1-shaped iteration (batch 24, 784 -> 200 -> 784; the encoder's
//! forward product, four decoder forward and input-gradient products as REBAR's passes make,
//! both weight gradients, Adam over both weight matrices), run five ways:
//!
//! - `one`: one thread;
//! - `one-half`: one thread, half the batch (12 rows): what each thread of `halves` does;
//! - `split`: each product and Adam split in two (what `relax vae --threads 2` does);
//! - `halves`: the batch split in two halves of 12 rows, each thread running the whole
//!   iteration's products on its half into its own gradient buffer, then the two gradients
//!   added and Adam split in two (data parallelism, as a batch-split training step would do);
//! - `replica`: `halves`, but the second thread reads its own copy of the weights, which it
//!   made and the other thread never writes (so not a training step: the copy goes stale).
//!
//! `cargo run --release -p host --example thread_probe -- MODE [iterations]` prints the mean
//! milliseconds per iteration of the products and of Adam after a warm-up of a fifth of the
//! iterations. `scripts/thread-probe.sh` runs the modes in interleaved rounds, with two `one`
//! processes at once as the machine's own two-core throughput.

use host::vae::layers::AdamVec;
use host::vae::linalg::{gemm, set_threads};
use std::time::Instant;

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("one");
    if !["one", "one-half", "split", "halves", "replica"].contains(&mode) {
        return Err(
            format!("MODE must be one, one-half, split, halves or replica, not {mode:?}").into(),
        );
    }
    let iters: usize = match args.get(2) {
        None => 2000,
        Some(s) => s
            .parse()
            .ok()
            .filter(|&n| n >= 5)
            .ok_or_else(|| format!("iterations must be a whole number >= 5, not {s:?}"))?,
    };
    let n = 2 * IN * HID;
    let mut params = pattern(n, 1e-3);
    let x = pattern(BATCH * IN, 1e-2);
    let b = pattern(BATCH * HID, 1e-2);
    let mut grad = vec![0.0f32; n];
    let mut grad1 = vec![0.0f32; n];
    let mut adam = AdamVec::new(n, 1e-4, 0.999);
    let (mut s0, mut s1) = (Scratch::new(), Scratch::new());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    // `replica`: the second thread's own copy of the weights, made (first touched) by that
    // thread and never written by the other; Adam updates only the first thread's copy (the
    // products' cost is the point, not the numbers).
    let mut replica: Vec<f32> = Vec::new();
    let (mut t_products, mut t_adam) = (0.0, 0.0);
    pool.install(|| {
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
                "one" | "split" => {
                    set_threads(if mode == "one" { 1 } else { 2 });
                    products(&params, &x, &b, BATCH, &mut s0, &mut grad);
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
            adam.step(&mut params, &grad);
            t_products += (t1 - t0).as_secs_f64();
            t_adam += t1.elapsed().as_secs_f64();
        }
    });
    let timed = (iters - iters / 5) as f64;
    println!(
        "{mode} products {:.3} adam {:.3} total {:.3} ms/iter",
        t_products / timed * 1e3,
        t_adam / timed * 1e3,
        (t_products + t_adam) / timed * 1e3
    );
    Ok(())
}
