//! Stack high-water mark.
//!
//! cortex-m-rt's `paint-stack` feature fills the whole stack region with
//! `STACK_PAINT_VALUE` in the reset handler, before `main` and before any Rust code runs,
//! so the mark covers everything from reset on (main's own frame, the logger, interrupts).
//! The region is `_stack_end.._stack_start` (low..high; the stack grows down from
//! `_stack_start`). With flip-link these symbols are the linker's `--defsym`s: the stack
//! sits at the start of RAM, `_stack_end = ORIGIN(RAM)`, `_stack_start` = just below
//! .data/.bss. Without flip-link cortex-m-rt puts `_stack_end` after .bss and
//! `_stack_start` at the end of RAM. Either way the same two symbols bound the stack.

use cortex_m_rt::STACK_PAINT_VALUE;

extern "C" {
    // Linker symbols: only their addresses mean something.
    static _stack_end: u32;
    static _stack_start: u32;
}

/// `(lowest, highest)` address of the stack region.
fn region() -> (usize, usize) {
    // Taking the address of a linker symbol reads nothing, so needs no `unsafe`.
    let bottom = &raw const _stack_end as usize;
    let top = &raw const _stack_start as usize;
    // The reset vector masks the initial SP to 8-byte alignment; do the same.
    (bottom, top & !7)
}

/// Size of the stack region in bytes.
pub fn region_bytes() -> u32 {
    let (bottom, top) = region();
    (top - bottom) as u32
}

/// Deepest stack use since reset, in bytes: scans up from the region's bottom to the
/// first word whose paint was scrubbed off. It can under-count by the few bytes of a
/// deepest frame that happened to store the paint value itself.
pub fn peak_bytes() -> u32 {
    let (bottom, top) = region();
    let mut addr = bottom;
    // SAFETY: every address in `bottom..top` is RAM owned by the stack, 4-byte aligned;
    // everything below the current SP is dead, so volatile reads race with nothing.
    while addr < top && unsafe { core::ptr::read_volatile(addr as *const u32) } == STACK_PAINT_VALUE
    {
        addr += 4;
    }
    (top - addr) as u32
}
