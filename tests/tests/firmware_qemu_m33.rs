//! Cortex-M33 on QEMU's `mps2-an505` (Secure state)
//! firmware: it builds, boots, solves within its episode budget, prints the same episode
//! returns bit for bit as the host running the same workload code, and fits its memory
//! budgets. The machinery: `firmware_harness/mod.rs`.
//!
//! The firmware is built once per test process and run once; both tests read that run.

mod firmware_harness;

use firmware_harness::{Run, M33 as TARGET};
use std::sync::OnceLock;

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| Run::new(&TARGET))
}

#[test]
fn firmware_solves_within_budget_bit_identical_to_host() {
    firmware_harness::check_solves_bit_identical_to_host(&TARGET, run());
}

#[test]
fn firmware_fits_flash_and_ram_budgets() {
    firmware_harness::check_budgets(&TARGET, run());
}
