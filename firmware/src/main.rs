//! RELAX CartPole learner on microcontrollers: Cortex-M4F (STM32F411, nRF52840; QEMU
//! `netduinoplus2`), Cortex-M0/M0+ (micro:bit, Raspberry Pi Pico; QEMU `microbit`),
//! Cortex-M33 (QEMU `mps2-an505`) and 32-bit RISC-V (QEMU `virt`). The board is a cargo
//! feature (build.rs picks its memory layout); the architecture-specific parts (runtime,
//! fault handler, halt) live in `platform`. See docs/firmware.md.
//!
//! Log lines (parsed by tests/tests/firmware_qemu.rs and scripts/firmware-measure.sh,
//! keep them exactly):
//!   `episode N return R mean100 M` (one per episode), then
//!   `solved at episode N` or `not solved after N episodes`, then `stack_peak_bytes B`.
//! Exit codes under QEMU: 0 solved, 2 not solved, 101 panic or fault.

#![no_std]
#![no_main]

#[cfg(all(feature = "rtt", feature = "qemu"))]
compile_error!(
    "features `rtt` and `qemu` are exclusive (both define the defmt logger): \
     build QEMU images with `--no-default-features --features qemu`"
);
#[cfg(not(any(feature = "rtt", feature = "qemu")))]
compile_error!("enable one defmt transport: feature `rtt` (board, default) or `qemu`");

#[cfg(feature = "pico")]
mod boot2;
mod platform;
mod stack;
mod workload;

#[cfg(feature = "rtt")]
use defmt_rtt as _;
#[cfg(feature = "qemu")]
use defmt_semihosting as _;

/// Exit codes, shared with the QEMU test.
const EXIT_SOLVED: i32 = 0;
const EXIT_NOT_SOLVED: i32 = 2;
/// A panic, a HardFault (Cortex-M) or an exception (RISC-V): see `platform`.
const EXIT_FAULT: i32 = 101;

/// Marks the start of one environment step. The QEMU instruction-count plugin
/// (tools/qemu-insncount) counts instructions between consecutive calls, so it must stay
/// a real call: unmangled, never inlined, and with a side effect (the `nop` is inline
/// asm, which the optimizer may not delete) so the call itself is never removed.
#[no_mangle]
#[inline(never)]
pub extern "C" fn bench_mark() {
    platform::nop();
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    platform::init();
    defmt::info!(
        "firmware start: board {=str}, seed {=u64:#x}, stack region {=u32} bytes",
        env!("FIRMWARE_BOARD"),
        workload::SEED,
        stack::region_bytes()
    );

    let solved = workload::run(
        workload::SEED,
        workload::EPISODE_BUDGET,
        // A closure: `extern "C" fn`s do not implement the `Fn*` traits.
        || bench_mark(),
        |e: &workload::Episode| {
            defmt::info!(
                "episode {=u32} return {=f32} mean100 {=f32}",
                e.index,
                e.ret,
                e.mean100
            );
        },
    );
    // Closes the last step, so every step's instruction count has an end mark.
    bench_mark();
    let code = match solved {
        Some(episode) => {
            defmt::info!("solved at episode {=u32}", episode);
            EXIT_SOLVED
        }
        None => {
            defmt::warn!("not solved after {=u32} episodes", workload::EPISODE_BUDGET);
            EXIT_NOT_SOLVED
        }
    };
    defmt::info!("stack_peak_bytes {=u32}", stack::peak_bytes());
    exit(code)
}

/// Ends the program with `code`: QEMU's exit status under `qemu`; on a board a
/// breakpoint, which makes `probe-rs run` stop and return.
fn exit(code: i32) -> ! {
    #[cfg(feature = "qemu")]
    semihosting::process::exit(code);
    #[cfg(not(feature = "qemu"))]
    {
        let _ = code;
        loop {
            platform::breakpoint();
        }
    }
}
