//! Checkpoints and resume on a tiny synthetic data set (16 pixels, 6 latents per layer): a
//! run stopped after k iterations (mid-epoch and at an epoch's end) and resumed gives every
//! number of the uninterrupted run bit for bit (curves, best parameters, test bound), for
//! every estimator; a checkpoint of another configuration is refused with the differing
//! settings named; no temporary file is left behind.

mod common;

use host::vae::checkpoint::{Checkpointing, Every, STOPPED};
use host::vae::data::{Binarization, Data};
use host::vae::estimators::EstimatorKind;
use host::vae::model::ModelKind;
use host::vae::{train_with, RunResult, TrainConfig};
use std::path::{Path, PathBuf};

const N: usize = 6;

/// The shared bar images, dynamically binarized: the batches draw from the run's generator too.
fn data() -> Data {
    common::bars(Binarization::Dynamic)
}

fn config(kind: EstimatorKind, epochs: usize) -> TrainConfig {
    // ARMS, Double CV and RODEO take one-layer models; the others the two-layer one.
    let model = if kind.one_layer_only() {
        ModelKind::Linear1
    } else {
        ModelKind::Linear2
    };
    let mut c = TrainConfig::paper(model, kind, epochs);
    c.batch = 4;
    c.pretrain_steps = 5;
    c.iwae_samples = 8;
    c.estimator.cv_width = 8;
    c.hidden = 8;
    c
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relax-vae-ck-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(d: &Data, c: &TrainConfig, ck: &Checkpointing) -> Result<(RunResult, Vec<u64>), String> {
    let mut seen = Vec::new();
    let r = train_with::<N>(d, c, ck, &|_| {}, &mut |r| {
        seen.push(r.epoch as u64);
    })
    .map_err(|e| e.to_string())?;
    Ok((r, seen))
}

/// Every number of a run that does not depend on the clock, as bits.
fn numbers(r: &RunResult) -> Vec<u64> {
    let mut v: Vec<u64> = r
        .records
        .iter()
        .flat_map(|e| {
            [
                e.epoch as u64,
                e.train_neg_elbo.to_bits(),
                e.valid_neg_iwae.map_or(u64::MAX, f64::to_bits),
                e.variance_loss.to_bits(),
            ]
        })
        .collect();
    v.extend(r.best_params.iter().map(|p| p.to_bits() as u64));
    v.extend([
        r.best_train_elbo.to_bits(),
        r.best_valid_iwae.to_bits(),
        r.best_epoch as u64,
        r.test_iwae.unwrap().to_bits(),
    ]);
    v.extend(
        r.etas
            .iter()
            .chain(&r.temperatures)
            .map(|p| p.to_bits() as u64),
    );
    v
}

fn no_temporaries(d: &Path) {
    for e in std::fs::read_dir(d).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "left behind: {name}");
    }
}

#[test]
fn a_resumed_run_gives_the_uninterrupted_numbers_bit_for_bit() {
    let d = data();
    // RODEO's network and its Adam state live in the control-variate parameters: covered.
    assert!(EstimatorKind::all().contains(&EstimatorKind::Rodeo));
    for kind in EstimatorKind::all() {
        let c = config(kind, 3);
        let whole = run(&d, &c, &Checkpointing::default()).unwrap().0;
        let want = numbers(&whole);
        // 15 iterations an epoch: stop mid-epoch (7, 22), at an epoch's end (15), after
        // the last iteration (45).
        for k in [7u64, 15, 22, 45] {
            let dd = dir(&format!("{}-{k}", kind.label()));
            let path = dd.join("checkpoint.bin");
            let mut ck = Checkpointing {
                path: Some(path.clone()),
                every: Some(Every::Iters(4)),
                stop_after: Some(k),
                ..Default::default()
            };
            let err = run(&d, &c, &ck).unwrap_err();
            assert_eq!(err, STOPPED, "{kind:?} k={k}");
            assert!(path.exists());
            ck.stop_after = None;
            ck.resume = Some(path.clone());
            let (resumed, seen) = run(&d, &c, &ck).unwrap();
            assert_eq!(
                seen,
                vec![1, 2, 3],
                "every epoch reported, the resumed ones first"
            );
            assert_eq!(numbers(&resumed), want, "{kind:?} stopped after {k}");
            no_temporaries(&dd);
            std::fs::remove_dir_all(&dd).unwrap();
        }
    }
}

#[test]
fn a_finished_run_continues_to_more_epochs_as_if_run_longer() {
    let d = data();
    let kind = EstimatorKind::Relax;
    let long = run(&d, &config(kind, 3), &Checkpointing::default())
        .unwrap()
        .0;
    let dd = dir("longer");
    let path = dd.join("checkpoint.bin");
    let mut ck = Checkpointing {
        path: Some(path.clone()),
        every: Some(Every::Epochs(1)),
        ..Default::default()
    };
    run(&d, &config(kind, 2), &ck).unwrap();
    ck.resume = Some(path);
    let (more, _) = run(&d, &config(kind, 3), &ck).unwrap();
    assert_eq!(numbers(&more), numbers(&long));
    std::fs::remove_dir_all(&dd).unwrap();
}

#[test]
fn a_checkpoint_of_another_configuration_is_refused_naming_the_fields() {
    let d = data();
    let dd = dir("other");
    let path = dd.join("checkpoint.bin");
    let c = config(EstimatorKind::Rebar, 2);
    let mut ck = Checkpointing {
        path: Some(path.clone()),
        stop_after: Some(5),
        data: serde_json::json!({"set": "tiny"}),
        ..Default::default()
    };
    assert_eq!(run(&d, &c, &ck).unwrap_err(), STOPPED);
    ck.stop_after = None;
    ck.resume = Some(path.clone());
    let mut other = c.clone();
    other.lr = 2e-3;
    other.batch = 6;
    let err = run(&d, &other, &ck).unwrap_err();
    assert!(err.contains("another run"), "{err}");
    assert!(err.contains("lr: file 0.001, now 0.002"), "{err}");
    assert!(err.contains("batch: file 4, now 6"), "{err}");
    // A run on another number of threads stores its weights in other column blocks.
    let err = host::vae::checkpoint::load(&path, &c, &ck.data, 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("resume with --threads 1 (this run has 2)"),
        "{err}"
    );
    assert!(host::vae::checkpoint::load(&path, &c, &ck.data, 1).is_ok());
    let mut ck2 = ck.clone();
    ck2.data = serde_json::json!({"set": "other"});
    let err = run(&d, &c, &ck2).unwrap_err();
    assert!(
        err.contains("data set: file \"tiny\", now \"other\""),
        "{err}"
    );
    // Fewer epochs than the checkpoint holds, or a file that is not a checkpoint.
    std::fs::write(&path, b"RELAXVAE\xff\xff").unwrap();
    let err = run(&d, &c, &ck).unwrap_err();
    assert!(err.contains("not a VAE checkpoint"), "{err}");
    std::fs::remove_dir_all(&dd).unwrap();
}

#[test]
fn validating_every_second_epoch_gives_the_same_numbers_on_those_epochs() {
    let d = data();
    let kind = EstimatorKind::Relax;
    let every = config(kind, 3);
    let mut sparse = every.clone();
    sparse.valid_every = 2;
    let a = run(&d, &every, &Checkpointing::default()).unwrap().0;
    let b = run(&d, &sparse, &Checkpointing::default()).unwrap().0;
    // Epoch 2 (a multiple of 2) and 3 (the last) validated, with the bits of the run that
    // validates every epoch; epoch 1 not; training the same.
    let valid: Vec<Option<u64>> = b
        .records
        .iter()
        .map(|e| e.valid_neg_iwae.map(f64::to_bits))
        .collect();
    let want: Vec<Option<u64>> = a
        .records
        .iter()
        .map(|e| (e.epoch != 1).then(|| e.valid_neg_iwae.unwrap().to_bits()))
        .collect();
    assert_eq!(valid, want);
    for (x, y) in a.records.iter().zip(&b.records) {
        assert_eq!(x.train_neg_elbo.to_bits(), y.train_neg_elbo.to_bits());
    }
    // Resumed from a checkpoint in the unvalidated epoch: the same numbers again.
    let dd = dir("valid-every");
    let path = dd.join("checkpoint.bin");
    let mut ck = Checkpointing {
        path: Some(path.clone()),
        every: Some(Every::Iters(4)),
        stop_after: Some(7),
        ..Default::default()
    };
    assert_eq!(run(&d, &sparse, &ck).unwrap_err(), STOPPED);
    ck.stop_after = None;
    ck.resume = Some(path);
    let c = run(&d, &sparse, &ck).unwrap().0;
    assert_eq!(numbers(&c), numbers(&b));
    // A checkpoint of another --valid-every is refused, naming the setting.
    let mut other = sparse.clone();
    other.valid_every = 3;
    let err = run(&d, &other, &ck).unwrap_err();
    assert!(err.contains("valid_every"), "{err}");
    let _ = std::fs::remove_dir_all(&dd);
}
