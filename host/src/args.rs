//! Value parsers for command-line flags: each refuses what would make a run meaningless, hang,
//! panic or exhaust memory, before any work. clap names the flag and the value in its error
//! (`invalid value 'NaN' for '--lr <LR>': ...`), and exits with status 2.

/// A finite number `> 0` (step sizes, temperatures, scales).
pub fn positive(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err("must be a finite number > 0".into())
    }
}

/// A finite number `>= 0`.
pub fn non_negative(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err("must be a finite number >= 0".into())
    }
}

/// A finite number (any sign).
pub fn finite(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("must be a finite number".into())
    }
}

/// A step size: finite, `> 0` and at most 10 (larger steps diverge at once on every problem
/// here; a typo such as 1e30 is caught before hours of NaN).
pub fn step_size(s: &str) -> Result<f32, String> {
    let v = positive(s)?;
    if v <= 10.0 {
        Ok(v)
    } else {
        Err("must be a step size in (0, 10]".into())
    }
}

/// A duration in seconds: finite, `> 0`, at most a day.
pub fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(v)
    } else {
        Err("must be a number of seconds in (0, 86400]".into())
    }
}

/// A count `>= MIN`, at most `MAX`.
pub fn count<const MIN: usize, const MAX: usize>(s: &str) -> Result<usize, String> {
    let v: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if (MIN..=MAX).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be a whole number from {MIN} to {MAX}"))
    }
}

/// The seeds `seed, seed + 1, ..., seed + n - 1`, or an error naming `--seed` when they
/// would wrap around.
pub fn seed_range(seed: u64, n: u64) -> Result<Vec<u64>, String> {
    let last = seed.checked_add(n.saturating_sub(1)).ok_or_else(|| {
        format!(
            "--seed {seed} with {n} seeds runs past the largest seed {}",
            u64::MAX
        )
    })?;
    Ok((seed..=last).take(n as usize).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_should() {
        for bad in ["0", "-1", "NaN", "inf", "-inf", "x", "1e39"] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(positive("0.5"), Ok(0.5));
        assert!(step_size("1e30").is_err());
        assert!(seconds("inf").is_err() && seconds("NaN").is_err() && seconds("-1").is_err());
        assert_eq!(count::<2, 10>("2"), Ok(2));
        assert!(count::<2, 10>("1").is_err() && count::<2, 10>("11").is_err());
        assert!(seed_range(u64::MAX, 2).is_err());
        assert_eq!(seed_range(u64::MAX, 1), Ok(vec![u64::MAX]));
        assert_eq!(seed_range(3, 2), Ok(vec![3, 4]));
        assert!(non_negative("-0.1").is_err() && finite("inf").is_err());
    }
}

/// `--list-runs` and `--run-index`: a multi-run command spread over machines, one run per
/// process; the experiment's merge writes the results from the runs (docs/cluster.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SweepArgs {
    /// List the independent runs, one line each (index, description), and exit; no work.
    #[arg(long, conflicts_with = "run_index")]
    pub list_runs: bool,
    /// Compute only run I of --list-runs, into <out>/<experiment>/runs/; merge the runs
    /// afterwards (docs/cluster.md).
    #[arg(long, value_name = "I")]
    pub run_index: Option<usize>,
}
