//! The one error type of the core.

use core::fmt;

/// What went wrong. Every fallible call of the core returns this instead of panicking,
/// and no learnable state (parameters, optimizer moments, baselines) is changed by a call
/// that returns an error. Conversely every `Ok` estimate is finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// A logit, parameter or input was NaN or infinite.
    NonFiniteInput,
    /// The objective (or reward) returned NaN or an infinite value.
    NonFiniteObjective,
    /// A computed gradient, a variance loss, or the optimizer step it would cause (a moment
    /// or a parameter) was not finite, typically an overflow of finite but huge inputs; the
    /// call changed no learnable state.
    NonFiniteGradient,
    /// A temperature (or another quantity that must be positive) was <= 0 or not finite.
    InvalidTemperature,
    /// A size did not match (for example a slice shorter than the distribution's dimension).
    SizeMismatch,
    /// A hyperparameter was out of its valid range (learning rate <= 0, decay outside [0, 1), ...).
    InvalidHyperparameter,
    /// An action or category index was out of range.
    InvalidAction,
    /// The environment episode is over; call `reset` first.
    EpisodeOver,
    /// An external environment failed (a broken pipe, garbage, a time-out) or was not
    /// deterministic when an episode was replayed.
    Environment,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::NonFiniteInput => "non-finite input (NaN or infinity)",
            Error::NonFiniteObjective => "the objective returned a non-finite value",
            Error::NonFiniteGradient => "a gradient was not finite; the update was skipped",
            Error::InvalidTemperature => "temperature must be finite and > 0",
            Error::SizeMismatch => "sizes do not match",
            Error::InvalidHyperparameter => "hyperparameter out of its valid range",
            Error::InvalidAction => "action or category index out of range",
            Error::EpisodeOver => "the episode is over; reset the environment first",
            Error::Environment => "the environment failed or did not replay deterministically",
        };
        f.write_str(s)
    }
}

impl core::error::Error for Error {}

/// `Ok(())` when every value is finite, else `Err(err)`.
pub(crate) fn check_finite(values: &[f32], err: Error) -> Result<(), Error> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(err)
    }
}
