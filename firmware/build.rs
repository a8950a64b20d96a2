//! Picks the board's memory layout: `memory/<board>.x` becomes `memory.x` in OUT_DIR, where
//! the runtime's `link.x` (cortex-m-rt or riscv-rt) includes it. The board is the one
//! board feature enabled, or without one the target's default (the table below). A board
//! feature on the wrong target is an error here, not a image that boots nowhere.

use std::{env, fs, path::PathBuf};

/// A board: its cargo feature (= `memory/<feature>.x`), the target it needs, and whether
/// it is the default for that target.
struct Board {
    feature: &'static str,
    target: &'static str,
    default_for_target: bool,
}

/// Keep in step with `[features]` in Cargo.toml and docs/firmware.md ("Boards").
const BOARDS: &[Board] = &[
    // STM32F411 boards; QEMU netduinoplus2 boots the same image.
    Board {
        feature: "stm32f411",
        target: "thumbv7em-none-eabihf",
        default_for_target: true,
    },
    Board {
        feature: "nrf52840",
        target: "thumbv7em-none-eabihf",
        default_for_target: false,
    },
    // Raspberry Pi Pico.
    Board {
        feature: "pico",
        target: "thumbv6m-none-eabi",
        default_for_target: false,
    },
    // BBC micro:bit v1 (nRF51822); QEMU microbit.
    Board {
        feature: "microbit",
        target: "thumbv6m-none-eabi",
        default_for_target: true,
    },
    // QEMU only.
    Board {
        feature: "mps2-an505",
        target: "thumbv8m.main-none-eabihf",
        default_for_target: true,
    },
    Board {
        feature: "riscv-virt",
        target: "riscv32imac-unknown-none-elf",
        default_for_target: true,
    },
];

fn main() {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let enabled = |b: &&Board| {
        let var = format!(
            "CARGO_FEATURE_{}",
            b.feature.to_uppercase().replace('-', "_")
        );
        env::var_os(var).is_some()
    };
    let chosen: Vec<&Board> = BOARDS.iter().filter(enabled).collect();
    let board = match chosen.as_slice() {
        [] => BOARDS
            .iter()
            .find(|b| b.default_for_target && b.target == target)
            .unwrap_or_else(|| {
                panic!(
                    "no board for target {target}: enable a board feature (see docs/firmware.md)"
                )
            }),
        [one] => one,
        many => panic!(
            "more than one board feature: {:?}; enable exactly one",
            many.iter().map(|b| b.feature).collect::<Vec<_>>()
        ),
    };
    assert!(
        board.target == target,
        "board `{}` needs `--target {}`, not {target}",
        board.feature,
        board.target
    );

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let layout = format!("memory/{}.x", board.feature);
    fs::copy(&layout, out.join("memory.x")).unwrap_or_else(|e| panic!("copy {layout}: {e}"));
    println!("cargo:rustc-link-search={}", out.display());
    // The board's name for the start line of the log.
    println!("cargo:rustc-env=FIRMWARE_BOARD={}", board.feature);
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}
