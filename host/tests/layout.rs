//! The host's layout rule (docs/design.md): the experiments (`toy`, `bench`, `rl`, `vae`)
//! stand side by side over shared parts; an experiment never imports another experiment, and
//! a shared part imports no experiment. Checked by reading every `crate::<module>` path in
//! the sources (unit-test modules excluded: a test may drive several experiments). Also:
//! `main.rs` only parses and dispatches (at most 120 lines), and no host source file is
//! longer than 500 lines.

use std::path::{Path, PathBuf};

const EXPERIMENTS: [&str; 6] = ["toy", "bench", "compare", "rl", "vae", "datasets"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("host/src is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top module a file belongs to: `toy` for `src/toy/report.rs` or `src/toy.rs`.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The modules named as `crate::<module>` in `text`, up to its unit-test module.
fn crate_refs(text: &str) -> Vec<String> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut refs = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        refs.push(name);
        rest = after;
    }
    refs
}

#[test]
fn no_experiment_imports_another_and_shared_parts_import_none() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "read {} files", files.len());
    let mut bad = Vec::new();
    for f in &files {
        let me = top_module(&src, f);
        if me == "lib" || me == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("readable source");
        for r in crate_refs(&text) {
            if EXPERIMENTS.contains(&r.as_str()) && r != me {
                bad.push(format!("{} (module {me}) uses crate::{r}", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "layout rule broken:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_a_forbidden_import() {
    let text = "use crate::output::x;\nuse crate::toy::ToyConfig;\n#[cfg(test)]\nmod tests {\n use crate::bench;\n}\n";
    assert_eq!(crate_refs(text), vec!["output", "toy"]);
}

#[test]
fn main_is_thin_and_no_file_is_long() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let lines = |f: &Path| {
        std::fs::read_to_string(f)
            .expect("readable")
            .lines()
            .count()
    };
    let main = lines(&src.join("main.rs"));
    assert!(main <= 120, "main.rs has {main} lines");
    let long: Vec<String> = files
        .iter()
        .filter(|f| lines(f) > 500)
        .map(|f| format!("{} ({} lines)", f.display(), lines(f)))
        .collect();
    assert!(long.is_empty(), "files over 500 lines: {long:?}");
}
