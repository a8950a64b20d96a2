//! The training loop, the importance-weighted evaluation and the report, on a tiny synthetic
//! data set (16 pixels, 6 latents per layer): every estimator trains without error, the IWAE
//! evaluator converges to the exact log-likelihood found by enumeration, and the outputs
//! are written.

mod common;

use host::vae::data::{Binarization, Data};
use host::vae::estimators::EstimatorKind;
use host::vae::model::{Chain, ModelKind, Vae};
use host::vae::{neg_iwae, report, train, TrainConfig};
use relax_core::dist::{Bernoulli, Relaxed};

const N: usize = 6;
use common::P;

/// The shared bar images, binarized once.
fn data() -> Data {
    common::bars(Binarization::Fixed)
}

#[test]
fn every_estimator_trains_and_the_report_is_written() {
    let d = data();
    let dir = std::env::temp_dir().join(format!("relax-vae-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut runs = Vec::new();
    for kind in EstimatorKind::all() {
        // ARMS, Double CV and RODEO are for one-layer models.
        let model = if kind.one_layer_only() {
            ModelKind::Linear1
        } else {
            ModelKind::Linear2
        };
        let mut c = TrainConfig::paper(model, kind, 2);
        c.batch = 4;
        c.pretrain_steps = 5;
        c.iwae_samples = 8;
        c.estimator.cv_width = 8;
        c.hidden = 8;
        let mut epochs = 0;
        let run = train::<N>(&d, &c, &|_| {}, &mut |r| {
            epochs += 1;
            report::append_epoch(&dir, kind.label(), r).unwrap();
        })
        .unwrap();
        assert_eq!(epochs, 2);
        // The curve grows as curves-<e>.partial.csv; the end of the run puts it in place.
        let partial = report::partial_curves(&dir, kind.label());
        assert!(partial.exists());
        report::complete_curves(&dir, kind.label()).unwrap();
        assert!(!partial.exists());
        assert_eq!(run.iters_per_epoch, 60 / 4);
        for r in &run.records {
            assert!(r.train_neg_elbo.is_finite() && r.valid_neg_iwae.is_some_and(f64::is_finite));
        }
        assert!(run.test_iwae.unwrap().is_finite());
        assert!(run.best_valid_iwae >= -run.records[0].valid_neg_iwae.unwrap() - 1e-9);
        runs.push(run);
    }
    let files = report::write_all(&dir, "tiny", &"test", &runs).unwrap();
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() > 0, "{}", f.display());
    }
    let gathered = report::gather(&dir, ModelKind::Linear2).unwrap();
    assert_eq!(gathered.len(), EstimatorKind::all().len());
    assert!(report::table(&gathered).contains("rebar"));
}

#[test]
fn iwae_converges_to_the_exact_log_likelihood() {
    let d = data();
    let mut rng = host::seed::rng(9, 0);
    let (vae, theta) = Vae::new(ModelKind::Linear1, P, N, &d.train_mean, 8, &mut rng).unwrap();
    // Exact -log p(x) of the first validation image by enumerating the 2^6 states.
    let states = 1 << N;
    let mut pass = vae.pass(states);
    let x: Vec<f32> = (0..states)
        .flat_map(|_| d.valid.row(0, P).iter().copied())
        .collect();
    vae.set_input(&mut pass, &x, states);
    vae.encode_first(&theta, &mut pass, states);
    for st in 0..states {
        for j in 0..N {
            pass.s[0][st * N + j] = ((st >> j) & 1) as f32;
        }
    }
    vae.forward(&theta, &mut pass, states, 1, Chain::Hard);
    // f = -log p(x, b) + log q(b | x), so log p(x, b) = log q(b | x) - f.
    let lp: Vec<f64> = (0..states)
        .map(|st| {
            let l: [f32; N] = pass.l[0][st * N..(st + 1) * N].try_into().unwrap();
            let b: [f32; N] = pass.s[0][st * N..(st + 1) * N].try_into().unwrap();
            Bernoulli::<N>::log_prob(&l, &b) as f64 - pass.f[st] as f64
        })
        .collect();
    let m = lp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exact = -(m + lp.iter().map(|v| (v - m).exp()).sum::<f64>().ln());
    let one = neg_iwae::<N>(&vae, &theta, &d.valid, Some(1), 1, 3).unwrap();
    // One estimate's spread at this untrained model is about 0.05 nats at K = 1000 and
    // 0.01 at K = 50,000.
    let many = neg_iwae::<N>(&vae, &theta, &d.valid, Some(1), 50_000, 3).unwrap();
    assert!(
        (many - exact).abs() < 0.05,
        "IWAE-50000 {many} vs exact {exact}"
    );
    assert!(
        one > exact - 1.0,
        "a one-sample bound {one} far below {exact}"
    );
    // The bound is the same whatever the thread count: blocks have their own streams.
    let again = neg_iwae::<N>(&vae, &theta, &d.valid, None, 50, 7).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let single = pool.install(|| neg_iwae::<N>(&vae, &theta, &d.valid, None, 50, 7).unwrap());
    assert_eq!(again, single);
}
