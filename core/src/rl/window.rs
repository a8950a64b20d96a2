//! The returns of the last episodes, for gymnasium's "solved" criterion (the mean return of
//! the last 100 episodes reaches a threshold, 195 on CartPole-v1).

use heapless::HistoryBuf;

/// The returns of the last `N` episodes (100 by default) in a fixed ring buffer, with their
/// mean re-summed on demand (so rounding never drifts: the mean depends only on the
/// window's contents).
///
/// Both means sum the ring's slots in slot order (slot `k` holds the return of episode
/// `k mod N`), not from the oldest to the newest episode: that is the order of the
/// firmware's original window, whose `f32` means this reproduces bit for bit.
///
/// ```
/// use relax_core::rl::ReturnWindow;
///
/// let mut window = ReturnWindow::<100>::new();
/// for episode in 0..150 {
///     window.push(if episode < 50 { 10.0 } else { 200.0 });
/// }
/// assert!(window.is_full());
/// assert_eq!(window.len(), 100);
/// assert_eq!(window.mean_f32(), 200.0); // episodes 50..150
/// assert!(window.solved(195.0));
/// assert_eq!(window.mean_f64(), 200.0);
/// ```
#[derive(Debug, Clone)]
pub struct ReturnWindow<const N: usize = 100> {
    returns: HistoryBuf<f32, N>,
}

impl<const N: usize> ReturnWindow<N> {
    /// An empty window (`N > 0`, checked at compile time).
    pub const fn new() -> Self {
        Self {
            returns: HistoryBuf::new(),
        }
    }

    /// Adds an episode's return, replacing the oldest one when the window is full.
    pub fn push(&mut self, ret: f32) {
        self.returns.write(ret);
    }

    /// Mean of the window's returns, summed in `f32` in slot order (NaN when empty).
    pub fn mean_f32(&self) -> f32 {
        // heapless's `as_slice` is the backing array's first `len` slots: slot order, the
        // order the firmware's own ring summed in (the tests check it against that ring).
        let sum: f32 = self.returns.as_slice().iter().sum();
        sum / self.returns.len() as f32
    }

    /// Mean of the window's returns, summed in `f64` in slot order (NaN when empty).
    pub fn mean_f64(&self) -> f64 {
        let sum: f64 = self.returns.as_slice().iter().map(|&r| f64::from(r)).sum();
        sum / self.returns.len() as f64
    }

    /// Returns in the window (at most `N`).
    pub fn len(&self) -> usize {
        self.returns.len()
    }

    /// No return pushed yet.
    pub fn is_empty(&self) -> bool {
        self.returns.is_empty()
    }

    /// The window holds `N` returns.
    pub fn is_full(&self) -> bool {
        self.returns.is_full()
    }

    /// The criterion: the window is full and its ([`f32`]) mean is at least `threshold`.
    pub fn solved(&self, threshold: f32) -> bool {
        self.is_full() && self.mean_f32() >= threshold
    }
}

impl<const N: usize> Default for ReturnWindow<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
