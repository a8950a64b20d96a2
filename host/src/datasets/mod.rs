//! `relax data`: downloads the VAE's data sets from their usual public locations into the
//! data root ([`crate::datadir`]), verifying each file against a SHA-256 kept in the source,
//! and lists what is present.
//!
//! | module | what |
//! |---|---|
//! | [`catalog`] | the data sets: files, sizes, SHA-256, mirrors |
//! | [`fetch`] | verified, atomic downloads with mirrors and timeouts |
//! | [`cli`] | the subcommands `fetch` and `list` |

pub mod catalog;
pub mod cli;
pub mod fetch;

pub use cli::{run, DataArgs};
