//! The firmware under QEMU, shared by the per-target tests (`firmware_qemu.rs` for the
//! Cortex-M4F, `firmware_qemu_m0.rs`, `firmware_qemu_m33.rs`, `firmware_qemu_riscv32.rs`):
//! builds the `qemu` image for a target, boots it on its QEMU machine with a deadline,
//! decodes the defmt log in-process, and checks it against the host running the same
//! workload code (`firmware/src/workload.rs`).
//!
//! Every target is its own test binary so that `cargo test -p tests --test <name>` runs one
//! machine, and scripts/firmware-measure.sh (M4F) reads one log. These tests fail (never
//! skip) when QEMU is missing: `scripts/ensure-deps.sh` installs it.

// Each test binary uses one of the targets.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The firmware's workload, compiled here from the firmware's own source file so the
/// host computes exactly what the chip computes.
#[path = "../../../firmware/src/workload.rs"]
#[allow(dead_code)]
pub mod workload;

/// A firmware target: the Rust target, the board feature (its memory layout) and the
/// QEMU machine that runs the image.
pub struct Target {
    /// For messages: the core and the machine.
    pub name: &'static str,
    pub triple: &'static str,
    /// The board feature (firmware/Cargo.toml), next to `qemu`.
    pub board: &'static str,
    pub qemu: &'static str,
    pub machine: &'static str,
    /// More QEMU arguments before `-kernel`.
    pub qemu_args: &'static [&'static str],
    /// A run that takes longer is hung (or the machine is far slower than expected).
    pub timeout: Duration,
    /// Flash budget: text + data.
    pub flash_budget: u64,
    /// RAM budget: data + bss + peak stack.
    pub ram_budget: u64,
}

/// Cortex-M4F with FPU: QEMU's netduinoplus2 (STM32F405); the image is the STM32F411
/// board's layout. The full learner takes about 10 s.
pub const M4F: Target = Target {
    name: "Cortex-M4F on netduinoplus2",
    triple: "thumbv7em-none-eabihf",
    board: "stm32f411",
    qemu: "qemu-system-arm",
    machine: "netduinoplus2",
    qemu_args: &[],
    timeout: Duration::from_secs(300),
    flash_budget: 64 * 1024,
    // A quarter of the F411's 128 KiB.
    ram_budget: 32 * 1024,
};

/// Cortex-M0, soft float: QEMU's microbit (nRF51822, 16 KiB RAM). The full learner fits;
/// soft float makes it about 12x slower than the M4F under QEMU (about 2 min).
pub const M0: Target = Target {
    name: "Cortex-M0 on microbit",
    triple: "thumbv6m-none-eabi",
    board: "microbit",
    qemu: "qemu-system-arm",
    machine: "microbit",
    qemu_args: &[],
    timeout: Duration::from_secs(900),
    flash_budget: 64 * 1024,
    // The nRF51822's whole RAM.
    ram_budget: 16 * 1024,
};

/// Cortex-M33 with FPU, Secure state: QEMU's mps2-an505. About 10 s.
pub const M33: Target = Target {
    name: "Cortex-M33 on mps2-an505",
    triple: "thumbv8m.main-none-eabihf",
    board: "mps2-an505",
    qemu: "qemu-system-arm",
    machine: "mps2-an505",
    qemu_args: &[],
    timeout: Duration::from_secs(300),
    flash_budget: 64 * 1024,
    ram_budget: 32 * 1024,
};

/// RV32IMAC, soft float (no F extension, like an ESP32-C3): QEMU's virt, machine mode,
/// no firmware (`-bios none`). About 80 s.
pub const RISCV32: Target = Target {
    name: "RV32IMAC on virt",
    triple: "riscv32imac-unknown-none-elf",
    board: "riscv-virt",
    qemu: "qemu-system-riscv32",
    machine: "virt",
    qemu_args: &["-bios", "none"],
    timeout: Duration::from_secs(900),
    flash_budget: 64 * 1024,
    ram_budget: 32 * 1024,
};

/// Debian package that has each QEMU binary, for the error message.
fn qemu_package(qemu: &str) -> &'static str {
    match qemu {
        "qemu-system-riscv32" => "qemu-system-misc",
        _ => "qemu-system-arm",
    }
}

/// One QEMU run of the firmware, decoded.
pub struct Run {
    pub elf: PathBuf,
    pub exit_code: Option<i32>,
    /// The decoded defmt log, one `LEVEL message` line per frame.
    pub log: Vec<String>,
    pub seconds: f64,
}

impl Run {
    /// Builds the image for `target`, runs it and decodes its log.
    pub fn new(target: &Target) -> Run {
        let elf = build_firmware(target);
        let start = Instant::now();
        let (exit_code, bytes) = run_qemu(target, &elf);
        let seconds = start.elapsed().as_secs_f64();
        let log = decode_defmt(&elf, &bytes);
        Run {
            elf,
            exit_code,
            log,
            seconds,
        }
    }

    /// The log, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit code {:?}\n--- firmware log ---\n{}",
            self.exit_code,
            self.log.join("\n")
        )
    }

    /// Messages (without level) that start with `prefix`.
    pub fn lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.log
            .iter()
            .filter_map(|l| l.split_once(' ').map(|(_, msg)| msg))
            .filter(|msg| msg.starts_with(prefix))
            .collect()
    }

    /// The single `PREFIX <u32>` value in the log.
    pub fn logged_u32(&self, prefix: &str) -> u32 {
        let lines = self.lines_starting(prefix);
        assert_eq!(
            lines.len(),
            1,
            "expected one `{prefix} N` line\n{}",
            self.dump()
        );
        lines[0][prefix.len()..]
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("bad `{prefix}` line {:?}: {e}", lines[0]))
    }
}

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// `cargo build --release --no-default-features --features qemu,<board> --target <triple>
/// --target-dir target/qemu` in `firmware/`: the QEMU image, in its own target dir so it
/// never overwrites the board image.
fn build_firmware(target: &Target) -> PathBuf {
    let dir = firmware_dir();
    let features = format!("qemu,{}", target.board);
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--release",
        "--no-default-features",
        "--features",
        &features,
        "--target",
        target.triple,
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
            "CARGO_BUILD_TARGET"
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
        ) || key.starts_with("CARGO_TARGET_") // CARGO_TARGET_DIR and per-triple settings
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
        "firmware build for {} failed ({status}); reproduce with `cd firmware && cargo build \
         --release --no-default-features --features {features} --target {} --target-dir \
         target/qemu`",
        target.name,
        target.triple
    );
    dir.join("target/qemu")
        .join(target.triple)
        .join("release/firmware")
}

/// Runs the ELF on the target's QEMU machine, killing it after the target's timeout.
/// Returns the exit status and the raw defmt bytes from stdout.
fn run_qemu(target: &Target, elf: &Path) -> (Option<i32>, Vec<u8>) {
    let mut child = Command::new(target.qemu)
        .args([
            "-machine",
            target.machine,
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
        ])
        .args(target.qemu_args)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}). The firmware test needs it: `apt-get install -y {}` \
                 (scripts/ensure-deps.sh does this)",
                target.qemu,
                qemu_package(target.qemu)
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
    let deadline = Instant::now() + target.timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for qemu") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not exit within {:?}: the firmware hangs",
                target.name, target.timeout
            );
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

/// The host running the same workload: its "solved at" and every episode.
fn host_run() -> &'static (Option<u32>, Vec<workload::Episode>) {
    static HOST: OnceLock<(Option<u32>, Vec<workload::Episode>)> = OnceLock::new();
    HOST.get_or_init(|| {
        let mut episodes = Vec::new();
        let solved = workload::run(
            workload::SEED,
            workload::EPISODE_BUDGET,
            || {},
            |e: &workload::Episode| episodes.push(*e),
        );
        (solved, episodes)
    })
}

/// The firmware exits 0, solves within its episode budget, and every episode's return
/// and running mean are bit for bit the host's.
pub fn check_solves_bit_identical_to_host(target: &Target, run: &Run) {
    // Shown with `--nocapture` (scripts/firmware-measure.sh) and on failure.
    println!("{}", run.dump());
    println!("{}: QEMU ran {:.1} s", target.name, run.seconds);
    assert_eq!(
        run.exit_code,
        Some(0),
        "{}: firmware did not exit 0 (2 = not solved, 101 = panic or fault)\n{}",
        target.name,
        run.dump()
    );
    let solved_at = run.logged_u32("solved at episode");
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
    let (host_solved, host) = host_run();
    assert_eq!(
        *host_solved,
        Some(solved_at),
        "{}: host and chip disagree on solving",
        target.name
    );
    assert_eq!(
        chip.len(),
        host.len(),
        "{}: episode count differs\n{}",
        target.name,
        run.dump()
    );
    for (c, h) in chip.iter().zip(host) {
        assert_eq!(c.index, h.index);
        assert_eq!(
            (c.ret.to_bits(), c.mean100.to_bits()),
            (h.ret.to_bits(), h.mean100.to_bits()),
            "{}: episode {}: chip (return {}, mean100 {}) != host (return {}, mean100 {})",
            target.name,
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
/// writable ones data (copied from flash at reset), the rest text. riscv-rt's `.stack`
/// and `.heap` are not statics but placeholders for the regions (the heap is empty): the
/// stack counts as its measured peak instead.
pub fn flash_and_static_ram(elf: &Path) -> (u64, u64) {
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
        if sh_flags & SHF_ALLOC == 0 || matches!(section.name(), Ok(".stack" | ".heap")) {
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

/// Flash and static RAM plus peak stack within the target's budgets; prints the line
/// scripts/targets-measure.sh reads.
pub fn check_budgets(target: &Target, run: &Run) {
    let (flash, static_ram) = flash_and_static_ram(&run.elf);
    let stack_peak = u64::from(run.logged_u32("stack_peak_bytes"));
    let ram = static_ram + stack_peak;
    println!("flash {flash} B, static RAM {static_ram} B, stack peak {stack_peak} B, RAM {ram} B");
    assert!(
        flash <= target.flash_budget,
        "{}: flash {flash} B exceeds the budget of {} B",
        target.name,
        target.flash_budget
    );
    assert!(
        ram <= target.ram_budget,
        "{}: static RAM {static_ram} B + peak stack {stack_peak} B = {ram} B exceeds the \
         budget of {} B",
        target.name,
        target.ram_budget
    );
    // A peak of zero would mean the paint was never applied or never scrubbed: the
    // measurement, not the firmware, is broken.
    assert!(stack_peak > 0, "stack peak 0: stack painting is broken");
}
