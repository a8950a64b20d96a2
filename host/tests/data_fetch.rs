//! `relax data`: verified, atomic downloads from mirrors, against a local HTTP server the
//! tests start (127.0.0.1, canned responses, bounded by deadlines), with the hash table
//! given by the test. And `relax vae --data binarized-mnist` on small `.amat` files.

mod common;

use host::datasets::catalog;
use host::datasets::fetch::{fetch_all, fetch_one, git_blob_file, Expect, Fetched, FileSpec, Net};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server answers for a path, per request (the last one repeats).
#[derive(Clone)]
enum Reply {
    /// 200 with the body.
    Ok(Vec<u8>),
    /// 404.
    NotFound,
    /// 200 declaring the full length but sending only the first `n` bytes, then closing.
    Truncated(Vec<u8>, usize),
    /// 200 without Content-Length: the body, delimited by closing the connection.
    Unsized(Vec<u8>),
}

struct Server {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `routes` (path -> replies in turn) until dropped or 60 s have passed.
fn serve(routes: Vec<(&str, Vec<Reply>)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes: HashMap<String, Vec<Reply>> = routes
        .into_iter()
        .map(|(p, r)| (p.to_string(), r))
        .collect();
    let hits = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (h, s) = (hits.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
            let (stream, _) = match listener.accept() {
                Ok(c) => c,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            for _ in 0..100 {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let n = {
                let mut hits = h.lock().unwrap();
                let n = hits.entry(path.clone()).or_insert(0);
                *n += 1;
                *n
            };
            let reply = routes
                .get(&path)
                .map(|r| r[(n - 1).min(r.len() - 1)].clone())
                .unwrap_or(Reply::NotFound);
            let mut out = stream;
            let head = |status: &str, len: Option<usize>| {
                let len = len.map_or(String::new(), |l| format!("Content-Length: {l}\r\n"));
                format!("HTTP/1.1 {status}\r\n{len}Connection: close\r\n\r\n")
            };
            let _ = match reply {
                Reply::Ok(b) => out
                    .write_all(head("200 OK", Some(b.len())).as_bytes())
                    .and_then(|_| out.write_all(&b)),
                Reply::NotFound => out.write_all(head("404 Not Found", Some(0)).as_bytes()),
                Reply::Truncated(b, k) => out
                    .write_all(head("200 OK", Some(b.len())).as_bytes())
                    .and_then(|_| out.write_all(&b[..k])),
                Reply::Unsized(b) => out
                    .write_all(head("200 OK", None).as_bytes())
                    .and_then(|_| out.write_all(&b)),
            };
            let _ = out.flush();
        }
    });
    Server {
        base,
        hits,
        stop,
        thread: Some(thread),
    }
}

fn net() -> Net {
    Net {
        connect: Duration::from_secs(5),
        response: Duration::from_secs(5),
        per_read: Duration::from_secs(5),
        body: Duration::from_secs(20),
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relax-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn payload(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + salt as usize) as u8).collect()
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn spec(name: &str, body: &[u8], mirrors: Vec<String>) -> FileSpec {
    FileSpec {
        name: name.to_string(),
        expect: Expect::Sha256 {
            size: body.len() as u64,
            sha256: sha(body),
        },
        mirrors,
    }
}

/// Names in `dir`, hidden temporary files included, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_good_download_is_verified_and_kept_on_the_next_fetch() {
    let (a, b) = (payload(100_000, 1), payload(333, 2));
    let srv = serve(vec![
        ("/m/a.gz", vec![Reply::Ok(a.clone())]),
        ("/m/b.gz", vec![Reply::Ok(b.clone())]),
    ]);
    let dir = tmp("good").join("mnist");
    let files = vec![
        spec("a.gz", &a, vec![format!("{}/m/a.gz", srv.base)]),
        spec("b.gz", &b, vec![format!("{}/m/b.gz", srv.base)]),
    ];
    let mut log = Vec::new();
    let paths = fetch_all(&dir, &files, &net(), &mut |l| log.push(l.to_string())).unwrap();
    assert_eq!(paths, vec![dir.join("a.gz"), dir.join("b.gz")]);
    assert_eq!(std::fs::read(dir.join("a.gz")).unwrap(), a);
    assert_eq!(std::fs::read(dir.join("b.gz")).unwrap(), b);
    assert_eq!(listing(&dir), vec!["a.gz", "b.gz"]);
    assert!(log[0].contains("downloaded from"), "{log:?}");
    // Present and verified: not downloaded again.
    assert_eq!(
        fetch_one(&dir, &files[0], &net()).unwrap(),
        Fetched::Present
    );
    assert_eq!(srv.hits.lock().unwrap()["/m/a.gz"], 1);
}

#[test]
fn a_wrong_hash_is_an_error_and_leaves_nothing() {
    let good = payload(5000, 3);
    let bad = payload(5000, 4);
    let srv = serve(vec![("/x.amat", vec![Reply::Ok(bad)])]);
    let dir = tmp("hash");
    let url = format!("{}/x.amat", srv.base);
    let err = fetch_one(&dir, &spec("x.amat", &good, vec![url.clone()]), &net())
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.amat") && err.contains(&url), "{err}");
    assert!(err.contains("SHA-256"), "{err}");
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
}

#[test]
fn a_truncated_or_oversized_transfer_is_an_error_and_leaves_nothing() {
    let body = payload(200_000, 5);
    let mut long = body.clone();
    long.extend_from_slice(&[7u8; 1000]);
    let srv = serve(vec![
        ("/t", vec![Reply::Truncated(body.clone(), 70_000)]),
        ("/u", vec![Reply::Unsized(long.clone())]),
        ("/l", vec![Reply::Ok(long)]),
    ]);
    let dir = tmp("trunc");
    for (path, what) in [("/t", ""), ("/u", "more than"), ("/l", "declares")] {
        let url = format!("{}{path}", srv.base);
        let err = fetch_one(&dir, &spec("f.gz", &body, vec![url.clone()]), &net())
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.gz") && err.contains(&url), "{err}");
        assert!(err.contains(what), "{path}: {err}");
        assert!(listing(&dir).is_empty(), "{path}: {:?}", listing(&dir));
    }
}

#[test]
fn a_404_on_the_first_mirror_falls_back_to_the_second() {
    let body = payload(4096, 6);
    let srv = serve(vec![("/second/f", vec![Reply::Ok(body.clone())])]);
    let dir = tmp("mirror");
    let second = format!("{}/second/f", srv.base);
    let mirrors = vec![format!("{}/first/f", srv.base), second.clone()];
    let got = fetch_one(&dir, &spec("f", &body, mirrors), &net()).unwrap();
    assert_eq!(got, Fetched::Downloaded(second));
    assert_eq!(std::fs::read(dir.join("f")).unwrap(), body);
    assert_eq!(listing(&dir), vec!["f"]);
    // Every mirror failing names each.
    let err = fetch_one(
        &dir,
        &spec(
            "g",
            &body,
            vec![format!("{}/no/1", srv.base), format!("{}/no/2", srv.base)],
        ),
        &net(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("/no/1: HTTP 404") && err.contains("/no/2: HTTP 404"),
        "{err}"
    );
    assert_eq!(listing(&dir), vec!["f"]);
}

#[test]
fn an_interrupted_download_leaves_nothing_and_a_retry_succeeds() {
    let body = payload(300_000, 7);
    let srv = serve(vec![(
        "/f",
        vec![
            Reply::Truncated(body.clone(), 1000),
            Reply::Ok(body.clone()),
        ],
    )]);
    let dir = tmp("retry");
    let files = vec![spec("f.amat", &body, vec![format!("{}/f", srv.base)])];
    assert!(fetch_all(&dir, &files, &net(), &mut |_| {}).is_err());
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
    fetch_all(&dir, &files, &net(), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(dir.join("f.amat")).unwrap(), body);
    assert_eq!(listing(&dir), vec!["f.amat"]);
}

#[test]
fn the_catalog_has_verified_hashes_and_the_usual_mirrors() {
    let all = catalog::all();
    let labels: Vec<&str> = all.iter().map(|s| s.label).collect();
    assert_eq!(
        labels,
        ["mnist", "binarized-mnist", "fashion-mnist", "omniglot"]
    );
    let lower_hex = |h: &str, n: usize| {
        h.len() == n
            && h.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    for s in &all {
        for f in &s.files {
            match &f.expect {
                Expect::Sha256 { size, sha256 } => {
                    assert!(lower_hex(sha256, 64) && *size > 0, "{}", f.name)
                }
                Expect::GitBlob { max_size, sha1 } => {
                    assert!(lower_hex(sha1, 40) && *max_size > 0, "{}", f.name)
                }
            }
            assert!(!f.mirrors.is_empty());
            assert!(f.mirrors.iter().all(|m| m.ends_with(&f.name)));
        }
    }
    let mnist = &all[0].files[0].mirrors;
    assert!(
        mnist[0].contains("ossci-datasets")
            && mnist[1].contains("cvdf")
            && mnist[2].contains("lecun")
    );
    // Omniglot's chardata.mat: its blob id in yburda/iwae's tree, that commit's URL first.
    let omni = &catalog::get("omniglot").unwrap().files[0];
    assert_eq!(
        omni.expect,
        Expect::GitBlob {
            max_size: 100 << 20,
            sha1: "016a3536ffe5e1d38e42563a18d7a78bfaf643ec".into()
        }
    );
    assert!(omni.mirrors[0].contains("78a6075484bd7dd6f47a4bb9880d2295bc7a5220"));
}

/// The blob id git itself computes (`git hash-object`), when git is installed.
fn git_hash_object(path: &Path) -> Option<String> {
    let out = Command::new("git")
        .arg("hash-object")
        .arg(path)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn a_git_blob_download_is_verified_against_the_id_git_computes() {
    let dir = tmp("blob");
    std::fs::create_dir_all(&dir).unwrap();
    let good = payload(5000, 9);
    let reference = dir.join("reference.bin");
    std::fs::write(&reference, &good).unwrap();
    let id = git_blob_file(&reference).unwrap();
    // The id of the empty blob is well known; git agrees on this file when it is installed.
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(
        git_blob_file(&empty).unwrap(),
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    );
    if let Some(git) = git_hash_object(&reference) {
        assert_eq!(git, id);
    }
    std::fs::remove_file(&reference).unwrap();
    std::fs::remove_file(&empty).unwrap();
    let mut bad = good.clone();
    bad[10] ^= 1;
    let srv = serve(vec![
        ("/bad/c.mat", vec![Reply::Ok(bad)]),
        ("/big/c.mat", vec![Reply::Unsized(payload(6000, 9))]),
        ("/good/c.mat", vec![Reply::Ok(good.clone())]),
    ]);
    let spec = |mirrors: Vec<String>| FileSpec {
        name: "c.mat".into(),
        expect: Expect::GitBlob {
            max_size: 5500,
            sha1: id.clone(),
        },
        mirrors,
    };
    let url = |m: &str| format!("{}/{m}/c.mat", srv.base);
    let err = fetch_one(&dir, &spec(vec![url("bad"), url("big")]), &net())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("git blob") && err.contains(&id) && err.contains("more than"),
        "{err}"
    );
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
    let got = fetch_one(&dir, &spec(vec![url("bad"), url("good")]), &net()).unwrap();
    assert_eq!(got, Fetched::Downloaded(url("good")));
    assert_eq!(std::fs::read(dir.join("c.mat")).unwrap(), good);
    assert_eq!(
        fetch_one(&dir, &spec(vec![url("bad")]), &net()).unwrap(),
        Fetched::Present
    );
}

fn relax() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relax"));
    for v in ["RELAX_DATA", "RELAX_BINARIZED_MNIST_DIR", "XDG_DATA_HOME"] {
        c.env_remove(v);
    }
    c
}

#[test]
fn list_shows_what_is_missing() {
    let dir = tmp("cli");
    let out = relax()
        .args(["data", "list", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("binarized-mnist") && text.contains("0/3 files"),
        "{text}"
    );
    assert!(
        text.contains("binarized_mnist_train.amat") && text.contains("missing"),
        "{text}"
    );
}

#[test]
fn amat_parses_and_refuses_bad_lines() {
    let ok = format!(
        "{}\n{}\n",
        vec!["1"; 784].join(" "),
        vec!["0"; 784].join(" ")
    );
    let bits = host::vae::amat::parse(&ok).unwrap();
    assert_eq!(bits.len(), 2 * 784);
    assert_eq!((bits[0], bits[784]), (1.0, 0.0));
    assert!(host::vae::amat::parse(&vec!["1"; 783].join(" ")).is_err());
    assert!(host::vae::amat::parse(&vec!["0.5"; 784].join(" ")).is_err());
    assert!(host::vae::amat::parse("").is_err());
}

#[test]
fn vae_trains_on_binarized_mnist_from_the_flag_and_from_relax_data() {
    let root = tmp("bmnist");
    let data = root.join("binarized-mnist");
    common::write_amat(&data, [60, 12, 12], 12345);
    let quick = [
        "--model",
        "linear1",
        "--estimator",
        "relax",
        "--epochs",
        "1",
        "--max-iters",
        "2",
        "--iwae-samples",
        "2",
        "--pretrain",
        "2",
        "--no-test",
    ];
    let out_dir = root.join("out");
    let out = relax()
        .arg("--out")
        .arg(&out_dir)
        .args(["vae", "--data", "binarized-mnist", "--data-dir"])
        .arg(&data)
        .args(quick)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = out_dir.join("vae-binarized-mnist-linear1/summary.json");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let settings = s.get("settings").unwrap_or(&s).to_string();
    assert!(settings.contains("\"train_images\":60"), "{settings}");
    assert!(settings.contains("\"valid_images\":12"), "{settings}");
    // Found through $RELAX_DATA without --data-dir.
    let out2 = root.join("out2");
    let out = relax()
        .env("RELAX_DATA", &root)
        .arg("--out")
        .arg(&out2)
        .args(["vae", "--data", "binarized-mnist"])
        .args(quick)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text =
        std::fs::read_to_string(out2.join("vae-binarized-mnist-linear1/summary.json")).unwrap();
    assert!(text.contains(&data.display().to_string()), "{text}");
    // Dynamic binarization is refused: the bits are given.
    let out = relax()
        .arg("--out")
        .arg(root.join("out3"))
        .args([
            "vae",
            "--data",
            "binarized-mnist",
            "--binarization",
            "dynamic",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already binary"));
}
