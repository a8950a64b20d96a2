//! Learns CartPole with the core's RELAX learner and prints the episode at which it was
//! solved (100-episode mean return >= 195).
//!
//! `cargo run --release -p core --example cartpole -- [relax|a2c|reinforce] [seed] [lr] [cv_lr_scale]`

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::rl::a2c::CartPoleA2c;
use relax_core::rl::cartpole::CartPole;
use relax_core::rl::reinforce::CartPoleReinforce;
use relax_core::rl::relax::CartPoleRelax;
use relax_core::rl::{Learner, PgConfig};

fn solve<L: Learner<4, 182>>(
    mut learner: L,
    rng: &mut Xoshiro128PlusPlus,
    budget: usize,
) -> Option<usize> {
    let mut env = CartPole::new();
    let mut window = [0.0f32; 100];
    for ep in 0..budget {
        let r = learner.train_episode(&mut env, rng).expect("episode");
        window[ep % 100] = r.ret;
        if ep >= 99 && window.iter().sum::<f32>() / 100.0 >= 195.0 {
            return Some(ep + 1);
        }
    }
    None
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("relax");
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let lr: f32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0.01);
    let scale: f32 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let cfg = PgConfig::paper(lr, scale);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let budget = 5000;
    let solved = match which {
        "a2c" => solve(CartPoleA2c::new(cfg, &mut rng).unwrap(), &mut rng, budget),
        "reinforce" => solve(
            CartPoleReinforce::new(cfg, &mut rng).unwrap(),
            &mut rng,
            budget,
        ),
        _ => solve(CartPoleRelax::new(cfg, &mut rng).unwrap(), &mut rng, budget),
    };
    match solved {
        Some(ep) => println!("{which} seed {seed} lr {lr} scale {scale}: solved at episode {ep}"),
        None => {
            println!("{which} seed {seed} lr {lr} scale {scale}: not solved in {budget} episodes")
        }
    }
}
