//! The Cortex-M4F firmware under QEMU's `netduinoplus2`: it builds, boots, solves within
//! its episode budget, prints the same episode returns bit for bit as the host running
//! the same workload code, and fits the memory budgets of a small Cortex-M4. The other
//! cores: `firmware_qemu_m0.rs`, `firmware_qemu_m33.rs`, `firmware_qemu_riscv32.rs`; the
//! machinery: `firmware_harness/mod.rs`.
//!
//! The firmware is built once per test process and run once; both tests read that run.

mod firmware_harness;

use firmware_harness::{Run, M4F as TARGET};
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
