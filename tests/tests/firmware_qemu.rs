//! The Cortex-M4F firmware under QEMU: it builds, boots on `netduinoplus2`, solves within
//! its episode budget, prints the same episode returns bit for bit as the host running
//! the same workload code, and fits the memory budgets of a small Cortex-M4.
//!
//! The firmware is built once per test process and run once; every test here reads that
//! one run. These tests fail (never skip) when `qemu-system-arm` is missing:
//! `scripts/ensure-deps.sh` installs it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The firmware's workload, compiled here from the firmware's own source file so the
/// host computes exactly what the chip computes.
#[path = "../../firmware/src/workload.rs"]
#[allow(dead_code)]
mod workload;

/// A run that takes longer is hung (QEMU trains the learner to "solved" in about 10 s).
const QEMU_TIMEOUT: Duration = Duration::from_secs(300);
/// Flash budget: text + data.
const FLASH_BUDGET_BYTES: u64 = 64 * 1024;
/// RAM budget: data + bss + peak stack.
const RAM_BUDGET_BYTES: u64 = 32 * 1024;

/// One QEMU run of the firmware, decoded.
struct Run {
    elf: PathBuf,
    exit_code: Option<i32>,
    /// The decoded defmt log, one `LEVEL message` line per frame.
    log: Vec<String>,
}

impl Run {
    /// The log, for assertion messages.
    fn dump(&self) -> String {
        format!(
            "exit code {:?}\n--- firmware log ---\n{}",
            self.exit_code,
            self.log.join("\n")
        )
    }

    /// Messages (without level) that start with `prefix`.
    fn lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.log
            .iter()
            .filter_map(|l| l.split_once(' ').map(|(_, msg)| msg))
            .filter(|msg| msg.starts_with(prefix))
            .collect()
    }
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let elf = build_firmware();
        let (exit_code, bytes) = run_qemu(&elf);
        let log = decode_defmt(&elf, &bytes);
        Run {
            elf,
            exit_code,
            log,
        }
    })
}

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// `cargo build-qemu` in `firmware/` (the alias in firmware/.cargo/config.toml): the
/// QEMU image, in its own target dir so it never overwrites the board image.
fn build_firmware() -> PathBuf {
    let dir = firmware_dir();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--release",
        "--no-default-features",
        "--features",
        "qemu",
        "--target-dir",
        "target/qemu",
    ])
    .current_dir(&dir);
    // The parent cargo's settings would redirect or break the firmware build: a target
    // dir or target triple meant for the workspace, host rustflags replacing the
    // firmware's linker flags (flip-link, link.x), wrappers such as clippy-driver, and
    // profile overrides that would make the size budgets measure another build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let leaks = matches!(
            key.as_ref(),
            "CARGO_TARGET_DIR"
                | "CARGO_BUILD_TARGET"
                | "CARGO_BUILD_TARGET_DIR"
                | "CARGO_BUILD_RUSTFLAGS"
                | "CARGO_ENCODED_RUSTFLAGS"
                | "RUSTFLAGS"
                | "CARGO_BUILD_RUSTC_WRAPPER"
                | "RUSTC_WRAPPER"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "CARGO_MAKEFLAGS"
                | "MAKEFLAGS"
                | "MFLAGS"
        ) || key.starts_with("CARGO_TARGET_THUMBV7EM_NONE_EABIHF_")
            || key.starts_with("CARGO_PROFILE_");
        if leaks {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {} in {}: {e}", env!("CARGO"), dir.display()));
    assert!(
        status.success(),
        "firmware build failed ({status}); reproduce with \
         `cd firmware && cargo build-qemu`"
    );
    dir.join("target/qemu/thumbv7em-none-eabihf/release/firmware")
}

/// Runs the ELF on QEMU's netduinoplus2 (STM32F405, Cortex-M4F), killing it after
/// `QEMU_TIMEOUT`. Returns the exit status and the raw defmt bytes from stdout.
fn run_qemu(elf: &Path) -> (Option<i32>, Vec<u8>) {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-machine",
            "netduinoplus2",
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
        ])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start qemu-system-arm ({e}). The firmware test needs it: \
                 `apt-get install -y qemu-system-arm` (scripts/ensure-deps.sh does this)"
            )
        });
    // Drain both pipes on their own threads so a chatty QEMU cannot block on a full pipe
    // while we wait for it to exit.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            pipe.read_to_end(&mut buf).expect("read qemu output");
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + QEMU_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for qemu") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("qemu did not exit within {QEMU_TIMEOUT:?}: the firmware hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    if !stderr.is_empty() {
        eprintln!("qemu stderr:\n{}", String::from_utf8_lossy(&stderr));
    }
    (status.code(), stdout)
}

/// Decodes the defmt byte stream with the ELF's `.defmt` table, as `defmt-print` would,
/// but in-process so the test needs no extra binary.
fn decode_defmt(elf: &Path, bytes: &[u8]) -> Vec<String> {
    let elf_bytes = std::fs::read(elf).expect("read firmware ELF");
    let table = defmt_decoder::Table::parse(&elf_bytes)
        .expect("parse the ELF's defmt table")
        .expect("the firmware ELF has no .defmt section");
    let mut decoder = table.new_stream_decoder();
    decoder.received(bytes);
    let mut lines = Vec::new();
    loop {
        match decoder.decode() {
            Ok(frame) => {
                let level = frame.level().map_or("PRINT", |l| l.as_str());
                lines.push(format!(
                    "{} {}",
                    level.to_uppercase(),
                    frame.display_message()
                ));
            }
            Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
            Err(defmt_decoder::DecodeError::Malformed) => {
                panic!("malformed defmt frame after:\n{}", lines.join("\n"))
            }
        }
    }
    lines
}

/// Parses `episode N return R mean100 M`. defmt-decoder prints f32 with `ryu`, the
/// shortest text that parses back to the same f32, so the parsed bits are the chip's.
fn parse_episode(msg: &str) -> workload::Episode {
    let fields: Vec<&str> = msg.split_whitespace().collect();
    match fields.as_slice() {
        ["episode", n, "return", r, "mean100", m] => workload::Episode {
            index: n.parse().expect("episode number"),
            ret: r.parse().expect("episode return"),
            mean100: m.parse().expect("mean100"),
        },
        _ => panic!("unexpected episode line: {msg:?}"),
    }
}

/// The single `PREFIX <u32>` value in the log.
fn logged_u32(run: &Run, prefix: &str) -> u32 {
    let lines = run.lines_starting(prefix);
    assert_eq!(
        lines.len(),
        1,
        "expected one `{prefix} N` line\n{}",
        run.dump()
    );
    lines[0][prefix.len()..]
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad `{prefix}` line {:?}: {e}", lines[0]))
}

#[test]
fn firmware_solves_within_budget_bit_identical_to_host() {
    let run = run();
    // Shown with `--nocapture` (scripts/firmware-measure.sh) and on failure.
    println!("{}", run.dump());
    assert_eq!(
        run.exit_code,
        Some(0),
        "firmware did not exit 0 (2 = not solved, 101 = panic or HardFault)\n{}",
        run.dump()
    );
    let solved_at = logged_u32(run, "solved at episode");
    assert!(
        (1..=workload::EPISODE_BUDGET).contains(&solved_at),
        "solved at episode {solved_at}, budget {}",
        workload::EPISODE_BUDGET
    );

    let chip: Vec<workload::Episode> = run
        .lines_starting("episode ")
        .into_iter()
        .map(parse_episode)
        .collect();
    let mut host = Vec::new();
    let host_solved = workload::run(
        workload::SEED,
        workload::EPISODE_BUDGET,
        || {},
        |e: &workload::Episode| host.push(*e),
    );
    assert_eq!(
        host_solved,
        Some(solved_at),
        "host and chip disagree on solving"
    );
    assert_eq!(
        chip.len(),
        host.len(),
        "episode count differs\n{}",
        run.dump()
    );
    for (c, h) in chip.iter().zip(&host) {
        assert_eq!(c.index, h.index);
        assert_eq!(
            (c.ret.to_bits(), c.mean100.to_bits()),
            (h.ret.to_bits(), h.mean100.to_bits()),
            "episode {}: chip (return {}, mean100 {}) != host (return {}, mean100 {})",
            c.index,
            c.ret,
            c.mean100,
            h.ret,
            h.mean100
        );
    }
}

/// Flash (text + data) and static RAM (data + bss) of the ELF, counted like
/// `llvm-size`'s Berkeley format: allocated sections that occupy no file space are bss,
/// writable ones data (copied from flash at reset), the rest text.
fn flash_and_static_ram(elf: &Path) -> (u64, u64) {
    use object::{Object, ObjectSection, SectionFlags, SectionKind};
    const SHF_WRITE: u64 = 0x1;
    const SHF_ALLOC: u64 = 0x2;
    let bytes = std::fs::read(elf).expect("read firmware ELF");
    let file = object::File::parse(bytes.as_slice()).expect("parse firmware ELF");
    let (mut text, mut data, mut bss) = (0, 0, 0);
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else {
            continue;
        };
        if sh_flags & SHF_ALLOC == 0 {
            continue;
        }
        if section.kind() == SectionKind::UninitializedData {
            bss += section.size();
        } else if sh_flags & SHF_WRITE != 0 {
            data += section.size();
        } else {
            text += section.size();
        }
    }
    (text + data, data + bss)
}

#[test]
fn firmware_fits_flash_and_ram_budgets() {
    let run = run();
    let (flash, static_ram) = flash_and_static_ram(&run.elf);
    let stack_peak = u64::from(logged_u32(run, "stack_peak_bytes"));
    let ram = static_ram + stack_peak;
    println!("flash {flash} B, static RAM {static_ram} B, stack peak {stack_peak} B, RAM {ram} B");
    assert!(
        flash <= FLASH_BUDGET_BYTES,
        "flash {flash} B exceeds the budget of {FLASH_BUDGET_BYTES} B"
    );
    assert!(
        ram <= RAM_BUDGET_BYTES,
        "static RAM {static_ram} B + peak stack {stack_peak} B = {ram} B exceeds the \
         budget of {RAM_BUDGET_BYTES} B"
    );
    // A peak of zero would mean the paint was never applied or never scrubbed: the
    // measurement, not the firmware, is broken.
    assert!(stack_peak > 0, "stack peak 0: stack painting is broken");
}
