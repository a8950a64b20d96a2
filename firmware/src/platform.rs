//! What differs between the architectures: the fault handler, the panic handler, a `nop`
//! the optimizer keeps, the board's halt instruction, and the set-up `main` runs first.
//! The runtime crates (cortex-m-rt, riscv-rt) provide the reset code and `#[entry]`.
//!
//! Every fault ends the program (exit code 101 under QEMU), so a run under QEMU
//! terminates instead of spinning in a runtime's default handler. The handlers log
//! nothing through defmt: the fault may have hit inside a log call, and re-entering the
//! logger would panic inside the fault handler.

#[cfg(target_arch = "arm")]
mod imp {
    use cortex_m_rt::{exception, ExceptionFrame};
    // On panic: prints the message through defmt, then `udf`, which lands in `HardFault`.
    use panic_probe as _;

    /// Nothing to set up: cortex-m-rt paints the stack at reset (`paint-stack`).
    pub fn init() {}

    /// One `nop` instruction (inline asm, which the optimizer may not delete).
    pub fn nop() {
        cortex_m::asm::nop();
    }

    /// Stops a debugger's `probe-rs run`.
    #[cfg(not(feature = "qemu"))]
    pub fn breakpoint() {
        cortex_m::asm::bkpt();
    }

    // `unsafe fn`: cortex-m-rt's `#[exception]` requires it for HardFault.
    #[exception]
    unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
        crate::exit(crate::EXIT_FAULT)
    }
}

#[cfg(target_arch = "riscv32")]
mod imp {
    /// riscv-rt has no stack painting of its own: paint it now, before the workload.
    pub fn init() {
        crate::stack::paint();
    }

    /// One `nop` instruction (inline asm, which the optimizer may not delete).
    pub fn nop() {
        riscv::asm::nop();
    }

    /// Stops a debugger's `probe-rs run`.
    #[cfg(not(feature = "qemu"))]
    pub fn breakpoint() {
        // SAFETY: `ebreak` only raises a breakpoint exception; with a debugger attached it
        // halts the hart, without one it lands in `exception_handler`, which ends the run.
        unsafe { riscv::asm::ebreak() }
    }

    /// Every exception (riscv-rt calls `ExceptionHandler` for each one without a handler
    /// of its own; the default would spin forever).
    #[export_name = "ExceptionHandler"]
    fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
        crate::exit(crate::EXIT_FAULT)
    }

    /// panic-probe is Cortex-M only: the same behaviour by hand (the message through
    /// defmt, then the fault exit code).
    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        defmt::error!("{}", defmt::Display2Format(info));
        crate::exit(crate::EXIT_FAULT)
    }
}

pub use imp::*;
