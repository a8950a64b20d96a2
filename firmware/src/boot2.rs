//! The RP2040's second-stage bootloader (`pico` feature only). The boot ROM copies the
//! first 256 bytes of flash into SRAM, checks their CRC32 and runs them; this image (for
//! the Pico's W25Q080 flash chip, from the `rp2040-boot2` crate) configures the QSPI
//! interface for execute-in-place and then jumps to the vector table at 0x1000_0100.
//! `memory/pico.x` places the `.boot2` section at the start of flash.

/// `#[used]` keeps it although nothing refers to it; `EXTERN(BOOT2_FIRMWARE)` in
/// memory/pico.x keeps the linker from dropping it.
#[link_section = ".boot2"]
#[used]
#[no_mangle]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;
