//! The manifest of a sweep spread with `--run-index` (docs/cluster.md), which lets
//! `relax report DIR` merge its runs into what one machine running the whole sweep writes.
//!
//! Every `--run-index` process of `relax rl` and `relax vae` also writes the sweep's
//! manifest, `<out>/<experiment>/runs/sweep.json`: which command made it and the
//! configuration of every run, in the order of `--list-runs`. The processes of one sweep
//! write the same manifest (atomically, so side by side is safe); a process whose sweep
//! differs from the manifest already there is refused before it trains, naming the fields.
//! `relax report` reads the manifest, so it needs no flags: it finds every run, refuses a
//! missing one or one made with other settings, and writes the same files as the
//! one-machine run (only timing keys differ). The toy's runs carry their whole
//! configuration and are merged from `runs/*.json` directly. `main.rs` dispatches: this
//! shared part imports no experiment.

use crate::output::{as_stored, config_diff, write_json};
use crate::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The manifest's path in an experiment directory.
pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("runs").join("sweep.json")
}

/// Writes the manifest `{"command": command, ...body}` into `<dir>/runs/sweep.json`, or
/// checks that the one there is the same sweep (refusing another, naming the fields).
pub fn write_manifest<T: Serialize>(dir: &Path, command: &str, body: &T) -> Result<()> {
    let mut want = as_stored(body)?;
    let Some(obj) = want.as_object_mut() else {
        return Err("a sweep manifest must be a JSON object".into());
    };
    obj.insert("command".into(), command.into());
    let path = manifest_path(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let have: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let diff = config_diff(&have, &want, &[]);
            if diff.is_empty() {
                return Ok(());
            }
            Err(format!(
                "{}: this directory holds runs of another sweep ({}); pass that sweep's \
                 flags or another --out",
                path.display(),
                diff.join("; ")
            )
            .into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(write_json(&path, &want)?),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

/// The manifest of the experiment directory `dir`: (its command, the whole manifest, its
/// path). The error says what `relax report` merges.
pub fn read_manifest(dir: &Path) -> Result<(String, serde_json::Value, PathBuf)> {
    if !dir.is_dir() {
        return Err(format!("relax report {}: no such directory", dir.display()).into());
    }
    let path = manifest_path(dir);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "relax report {}: {}: {e}; relax report merges a directory of `relax toy`, or one \
             where `relax rl ... --run-index I` or `relax vae ... --run-index I` wrote runs",
            dir.display(),
            path.display()
        )
    })?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let command = match manifest.get("command").and_then(|c| c.as_str()) {
        Some(c @ ("rl" | "vae")) => c.to_string(),
        other => {
            return Err(format!(
                "{}: unknown sweep command {other:?} (expected \"rl\" or \"vae\")",
                path.display()
            )
            .into())
        }
    };
    Ok((command, manifest, path))
}
