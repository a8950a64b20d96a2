//! Progress bars: one style for every experiment, and a counter that worker threads bump
//! while a background thread shows it (the thread ends when the work ends, panics included).

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A bar of `total` `unit`s labelled `what`. `unit` may carry more indicatif keys after the
/// unit's name (the VAE passes `"iterations, {per_sec}"`).
pub fn bar(total: u64, what: &str, unit: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    let template =
        format!("{{msg}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit}, eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    pb.set_message(what.to_string());
    pb
}

/// Sets its flag when dropped, so the polling thread stops however `work` ends.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `work` with a counter of finished units shown on a bar (`total` units labelled
/// `what`), refreshed every 200 ms by a thread that ends with `work`; clears the bar after.
pub fn with_counter<T>(
    total: u64,
    what: &str,
    unit: &str,
    work: impl FnOnce(&AtomicU64) -> T,
) -> T {
    let pb = bar(total, what, unit);
    let counter = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                pb.set_position(counter.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let _stop = StopOnDrop(&done);
        work(&counter)
    });
    pb.finish_and_clear();
    out
}

/// Runs `work` with a callback `inc(k)` that advances a bar of `total` units by `k`.
pub fn with_bar<T>(
    total: u64,
    what: &str,
    unit: &str,
    work: impl FnOnce(&(dyn Fn(u64) + Sync)) -> T,
) -> T {
    let pb = bar(total, what, unit);
    let out = work(&|k| pb.inc(k));
    pb.finish_and_clear();
    out
}
