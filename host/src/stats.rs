//! Small statistics used by the experiments: sample variance, log-variance, rolling means,
//! the last-100-episode mean return and "solved" of the RL experiments, and the mean and
//! spread of curves across seeds.

use relax_core::rl::ReturnWindow;
/// Added to a variance before its logarithm, as the reference RL code does (`log(var + 1e-20)`),
/// so a zero variance gives a finite floor (`ln 1e-20 = -46`) instead of minus infinity.
pub const LOG_VAR_FLOOR: f64 = 1e-20;

/// Accumulates the mean and unbiased sample variance of a stream (Welford's update, in `f64`,
/// so a thousand `f32` estimates of size 1e-3 lose no digits).
#[derive(Debug, Clone, Copy, Default)]
pub struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds one observation.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The unbiased sample variance (0 with fewer than two observations).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }

    /// `ln(variance + LOG_VAR_FLOOR)`.
    pub fn ln_variance(&self) -> f64 {
        (self.variance() + LOG_VAR_FLOOR).ln()
    }
}

/// The trailing rolling mean with window `w`: element `i` (for `i >= w - 1`) is the mean of
/// `x[i + 1 - w ..= i]`; the output has `len - w + 1` elements (empty when `len < w`), as
/// pandas' `rolling(w).mean()` after dropping its leading NaNs.
pub fn rolling_mean(x: &[f64], w: usize) -> Vec<f64> {
    if w == 0 || x.len() < w {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(x.len() - w + 1);
    let mut sum: f64 = x[..w].iter().sum();
    out.push(sum / w as f64);
    for i in w..x.len() {
        sum += x[i] - x[i - w];
        out.push(sum / w as f64);
    }
    out
}

/// Mean over all values.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        f64::NAN
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Pointwise mean and (population) standard deviation of equally long curves.
pub fn pointwise_mean_std(curves: &[&[f64]]) -> (Vec<f64>, Vec<f64>) {
    let len = curves.iter().map(|c| c.len()).min().unwrap_or(0);
    let mut m = Vec::with_capacity(len);
    let mut s = Vec::with_capacity(len);
    for i in 0..len {
        let mut acc = Moments::default();
        for c in curves {
            acc.push(c[i]);
        }
        m.push(acc.mean());
        let n = acc.count() as f64;
        s.push((acc.variance() * (n - 1.0) / n).max(0.0).sqrt());
    }
    (m, s)
}

/// Episodes in the window of [`mean100`] (gym's "solved" criterion averages the last 100).
pub const SOLVE_WINDOW: usize = 100;

/// Mean return of the last 100 episodes at each episode (fewer at the start), through the
/// core's [`ReturnWindow`] (the window the firmware keeps too): the window's returns summed
/// in `f64`. For whole-number returns (CartPole, Inverted Pendulum) every sum is exact.
pub fn mean100(returns: &[f32]) -> Vec<f64> {
    let mut window = SolveWindow::new();
    returns
        .iter()
        .map(|&r| {
            window.push(r);
            window.mean_f64()
        })
        .collect()
}

/// The last-100 window of the RL experiments.
pub type SolveWindow = ReturnWindow<SOLVE_WINDOW>;

/// Whether `window` says "solved": full, and its mean return (in `f64`, as [`mean100`]) at
/// least `threshold`. The RL runner asks it after every episode.
pub fn is_solved(window: &SolveWindow, threshold: f64) -> bool {
    window.is_full() && window.mean_f64() >= threshold
}

/// The first episode (1-based, at least 100) at which [`is_solved`] holds.
pub fn solved_at(returns: &[f32], threshold: f64) -> Option<u32> {
    let mut window = SolveWindow::new();
    returns.iter().zip(1..).find_map(|(&r, episode)| {
        window.push(r);
        is_solved(&window, threshold).then_some(episode)
    })
}

/// Median and 25th/75th percentiles across curves of possibly different lengths, over
/// the curves still running at each index (linear interpolation between order statistics).
pub fn quantile_band(curves: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let len = curves.iter().map(Vec::len).max().unwrap_or(0);
    let (mut med, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..len {
        let mut v: Vec<f64> = curves.iter().filter_map(|c| c.get(i).copied()).collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (v.len() - 1) as f64;
            let (a, b) = (pos.floor() as usize, pos.ceil() as usize);
            v[a] + (v[b] - v[a]) * (pos - a as f64)
        };
        med.push(q(0.5));
        lo.push(q(0.25));
        hi.push(q(0.75));
    }
    (med, lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match_the_two_pass_formula() {
        let x = [0.25, 0.251, 0.249, 0.2505, 0.2495];
        let mut m = Moments::default();
        x.iter().for_each(|&v| m.push(v));
        let mu = x.iter().sum::<f64>() / 5.0;
        let var = x.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / 4.0;
        assert!((m.mean() - mu).abs() < 1e-15);
        assert!((m.variance() - var).abs() < 1e-18);
    }

    #[test]
    fn rolling_mean_is_trailing() {
        let r = rolling_mean(&[1.0, 2.0, 3.0, 4.0, 5.0], 2);
        assert_eq!(r, vec![1.5, 2.5, 3.5, 4.5]);
        assert!(rolling_mean(&[1.0], 2).is_empty());
    }

    #[test]
    fn pointwise_spread() {
        let a = [1.0, 2.0];
        let b = [3.0, 2.0];
        let (m, s) = pointwise_mean_std(&[&a, &b]);
        assert_eq!(m, vec![2.0, 2.0]);
        assert_eq!(s, vec![1.0, 0.0]);
    }

    #[test]
    fn mean100_and_solved_at() {
        let r: Vec<f32> = (0..150).map(|i| if i < 50 { 0.0 } else { 200.0 }).collect();
        let m = mean100(&r);
        assert_eq!(m[0], 0.0);
        assert_eq!(m[99], 100.0);
        assert_eq!(m[149], 200.0);
        assert_eq!(solved_at(&r, 195.0), Some(148));
        assert_eq!(solved_at(&r[..99], 0.0), None);
        assert_eq!(solved_at(&r[..100], 0.0), Some(100));
    }
}
