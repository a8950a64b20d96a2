//! Ctrl-C and SIGTERM: the first one asks the run to stop at its next check (computations
//! call [`check`] in their loops; writing results never does, so files are never left half
//! written), the second ends the process at once. `main` then prints one line and exits 130.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// The error a stopped computation returns.
pub const MESSAGE: &str = "interrupted (Ctrl-C or SIGTERM); results of this run not written";

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("relax: interrupted twice, quitting now");
            std::process::exit(130);
        }
        eprintln!("relax: stopping (again to quit at once)");
    });
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// `Err` once a stop was asked for: computations call it in their loops.
pub fn check() -> crate::Result<()> {
    if requested() {
        Err(MESSAGE.into())
    } else {
        Ok(())
    }
}
