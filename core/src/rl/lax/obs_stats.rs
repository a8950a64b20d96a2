//! Running observation statistics: the networks see `clamp((o - mean) / std, -5, 5)`.
//!
//! Within an episode the statistics are frozen (so that its replay sees the same inputs);
//! the episode's own observations are summed by Welford's update ([`EpisodeObs`]) and merged
//! into the running ones after it (Chan et al.'s parallel formula, [`ObsStats::merge`]).

/// The statistics of every observation counted so far: count, mean, sum of squared
/// deviations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ObsStats<const S: usize> {
    count: f32,
    mean: [f32; S],
    m2: [f32; S],
}

impl<const S: usize> ObsStats<S> {
    /// No observation counted.
    pub(super) const fn new() -> Self {
        Self {
            count: 0.0,
            mean: [0.0; S],
            m2: [0.0; S],
        }
    }

    /// `clamp((o - mean) / std, -5, 5)` when `enabled` and at least two observations have
    /// been counted, else `o` itself.
    pub(super) fn normalize(&self, obs: &[f32; S], enabled: bool) -> [f32; S] {
        if !enabled || self.count < 2.0 {
            return *obs;
        }
        core::array::from_fn(|i| {
            let var = self.m2[i] / self.count;
            ((obs[i] - self.mean[i]) / libm::sqrtf(var + 1e-8)).clamp(-5.0, 5.0)
        })
    }

    /// Count, mean and (population) variance.
    pub(super) fn stats(&self) -> (f32, [f32; S], [f32; S]) {
        let n = self.count.max(1.0);
        (
            self.count,
            self.mean,
            core::array::from_fn(|i| self.m2[i] / n),
        )
    }

    /// Merges an episode of `steps` observations into the running statistics (Chan et al.).
    pub(super) fn merge(&mut self, episode: &EpisodeObs<S>, steps: u32) {
        let (na, nb) = (self.count, steps as f32);
        let n = na + nb;
        let (mut mean, mut m2) = (self.mean, self.m2);
        for i in 0..S {
            let d = episode.mean[i] - mean[i];
            mean[i] += d * nb / n;
            m2[i] += episode.m2[i] + d * d * na * nb / n;
        }
        // A non-finite statistic would poison every later input: keep the old ones.
        if mean.iter().chain(m2.iter()).all(|v| v.is_finite()) {
            self.count = n;
            self.mean = mean;
            self.m2 = m2;
        }
    }
}

/// One episode's raw observations (those fed to the networks): their mean and sum of
/// squared deviations, by Welford's update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct EpisodeObs<const S: usize> {
    mean: [f32; S],
    m2: [f32; S],
}

impl<const S: usize> EpisodeObs<S> {
    /// No observation yet.
    pub(super) const fn new() -> Self {
        Self {
            mean: [0.0; S],
            m2: [0.0; S],
        }
    }

    /// Adds the observation `raw` after `seen` earlier ones of the episode.
    pub(super) fn push(&mut self, raw: &[f32; S], seen: u32) {
        let n = (seen + 1) as f32;
        for i in 0..S {
            let d = raw[i] - self.mean[i];
            self.mean[i] += d / n;
            self.m2[i] += d * (raw[i] - self.mean[i]);
        }
    }
}
