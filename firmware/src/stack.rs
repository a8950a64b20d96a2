//! Stack high-water mark.
//!
//! The whole stack region is filled with `PAINT` before the workload runs; after it,
//! [`peak_bytes`] scans up from the region's low end to the first word that is no longer
//! paint: everything above it has been used.
//!
//! Cortex-M: cortex-m-rt's `paint-stack` feature paints in the reset handler, before
//! `main` and before any Rust code runs, so the mark covers everything from reset on. The
//! region is `_stack_end.._stack_start` (low..high; the stack grows down from
//! `_stack_start`). With flip-link these symbols are the linker's `--defsym`s: the stack
//! sits at the start of RAM, `_stack_end = ORIGIN(RAM)`, `_stack_start` = just below
//! .data/.bss. Without flip-link cortex-m-rt puts `_stack_end` after .bss and
//! `_stack_start` at the end of RAM. Either way the same two symbols bound the stack.
//!
//! RISC-V: riscv-rt has no painting; [`paint`] does it at the start of `main`, below the
//! current stack pointer (everything below it is unused then). The region is riscv-rt's
//! `__estack.._stack_start` (after .bss/.heap up to the end of RAM).

#[cfg(target_arch = "arm")]
use cortex_m_rt::STACK_PAINT_VALUE as PAINT;
/// The same pattern as cortex-m-rt's.
#[cfg(target_arch = "riscv32")]
const PAINT: u32 = 0xCCCC_CCCC;

#[cfg(target_arch = "arm")]
extern "C" {
    // Linker symbols: only their addresses mean something.
    #[link_name = "_stack_end"]
    static STACK_BOTTOM: u32;
    #[link_name = "_stack_start"]
    static STACK_TOP: u32;
}
#[cfg(target_arch = "riscv32")]
extern "C" {
    // Linker symbols of riscv-rt's link.x: only their addresses mean something.
    #[link_name = "__estack"]
    static STACK_BOTTOM: u32;
    #[link_name = "_stack_start"]
    static STACK_TOP: u32;
}

/// `(lowest, highest)` address of the stack region.
fn region() -> (usize, usize) {
    // Taking the address of a linker symbol reads nothing, so needs no `unsafe`.
    let bottom = &raw const STACK_BOTTOM as usize;
    let top = &raw const STACK_TOP as usize;
    // The reset code aligns the initial SP to 8 (Cortex-M) or 16 (RISC-V) bytes; the
    // scan below only needs the top to be word-aligned and not above the real top.
    (bottom, top & !7)
}

/// Size of the stack region in bytes.
pub fn region_bytes() -> u32 {
    let (bottom, top) = region();
    (top - bottom) as u32
}

/// Paints the stack region from its bottom up to just below the caller's stack pointer.
/// Never inlined, so its own frame is below the caller's and the SP it reads bounds both.
#[cfg(target_arch = "riscv32")]
#[inline(never)]
pub fn paint() {
    let sp: usize;
    // SAFETY: reads the stack pointer into a register; touches no memory.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    let (bottom, _) = region();
    // Below SP nothing is live; 64 bytes of margin keep clear of this function's own
    // spills, which the compiler may place at small negative offsets only with a red
    // zone (RISC-V has none, the margin is cheap insurance).
    let end = (sp - 64) & !3;
    let mut addr = bottom;
    while addr < end {
        // SAFETY: `bottom..end` is stack RAM below the stack pointer: no live data, no
        // other user (one hart, no interrupts enabled), 4-byte aligned.
        unsafe { core::ptr::write_volatile(addr as *mut u32, PAINT) };
        addr += 4;
    }
}

/// Deepest stack use since reset, in bytes: scans up from the region's bottom to the
/// first word whose paint was scrubbed off. It can under-count by the few bytes of a
/// deepest frame that happened to store the paint value itself.
pub fn peak_bytes() -> u32 {
    let (bottom, top) = region();
    let mut addr = bottom;
    // SAFETY: every address in `bottom..top` is RAM owned by the stack, 4-byte aligned;
    // everything below the current SP is dead, so volatile reads race with nothing.
    while addr < top && unsafe { core::ptr::read_volatile(addr as *const u32) } == PAINT {
        addr += 4;
    }
    (top - addr) as u32
}
