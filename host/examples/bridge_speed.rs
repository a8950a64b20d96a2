//! Steps per second through the gymnasium bridge (random actions).
//!
//! `cargo run --release -p host --example bridge_speed -- [LunarLander-v3] [seconds]`

use host::gym::{ensure_python, start, ActionSpace, ServerOptions, Timeouts};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let id = args.get(1).map(String::as_str).unwrap_or("CartPole-v1");
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let opts = ServerOptions {
        python: ensure_python(Timeouts::default().startup)?,
        timeouts: Timeouts::default(),
        max_episode_steps: None,
        cancel: None,
    };
    let t0 = Instant::now();
    let mut p = start(&opts, id)?;
    println!(
        "{id}: started in {:.2} s: {:?}",
        t0.elapsed().as_secs_f64(),
        p.spec()
    );
    let (mut steps, mut eps, mut x) = (0u64, 0u64, 12345u32);
    let t = Instant::now();
    p.reset(0)?;
    while t.elapsed().as_secs_f64() < secs {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let r = match p.spec().action.clone() {
            ActionSpace::Discrete { n } => p.step_discrete(x % n)?,
            ActionSpace::Box { dim, .. } => {
                p.step_box(&vec![(x % 1000) as f32 / 500.0 - 1.0; dim])?
            }
        };
        steps += 1;
        if r.terminated || r.truncated {
            eps += 1;
            p.reset(eps as u32)?;
        }
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{id}: {steps} steps, {eps} episodes in {dt:.2} s: {:.0} steps/s",
        steps as f64 / dt
    );
    Ok(())
}
