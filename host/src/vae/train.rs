//! Training and evaluation: minibatches of 24, Adam (beta2 = 0.99999) on the model, a second
//! Adam on the variance parameters (learning rate `cv_lr_scale * lr`, Algorithm 2: the same
//! sample updates both), a 1000-step pre-training of REBAR's and RELAX's control variates, and
//! after each epoch the mean training -ELBO and the 100-sample importance-weighted bound on
//! validation; the best-validation parameters are kept and evaluated on test at the end.

use super::checkpoint::{self, Checkpointing, Progress};
use super::data::{shuffle, Data, Split};
use super::estimators::{EstimatorConfig, EstimatorKind, VaeEstimator};
use super::layers::AdamVec;
use super::linalg;
use super::model::sigmoid;
use super::model::{Chain, ModelKind, Vae};
use super::timing::{IterClock, TimeSplit};
use crate::Result;
use rayon::prelude::*;
use relax_core::math::logsumexp;
use relax_core::math::uniform_open;
use std::time::Instant;

/// One training run's settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Architecture.
    pub model: ModelKind,
    /// Estimator and its settings.
    pub estimator: EstimatorConfig,
    /// Epochs (an epoch is `floor(n_train / batch)` iterations).
    pub epochs: usize,
    /// Cap on iterations per epoch (None: the whole epoch); for quick checks.
    pub max_iters_per_epoch: Option<usize>,
    /// Minibatch size.
    pub batch: usize,
    /// Model learning rate.
    pub lr: f32,
    /// Adam's beta2 for both optimizers.
    pub beta2: f32,
    /// Variance-parameter learning rate over the model's.
    pub cv_lr_scale: f32,
    /// Control-variate pre-training steps before training (REBAR, RELAX).
    pub pretrain_steps: usize,
    /// Importance samples of the validation bound.
    pub iwae_samples: usize,
    /// Use only the first this many validation images (None: all).
    pub valid_limit: Option<usize>,
    /// Validate after every this many epochs (and after the last); 1: every epoch.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub valid_every: usize,
    /// Evaluate the best parameters on the test set at the end.
    pub test: bool,
    /// Hidden units of the nonlinear model's layers.
    pub hidden: usize,
    /// Seed of the run (initialisation, batches, samples).
    pub seed: u64,
}

impl TrainConfig {
    /// The paper's settings for `model` and `kind`: batch 24, lr 0.001 (Tucker et al.'s
    /// default), beta2 0.99999, variance lr scale 1, 1000 pre-training steps, IWAE-100.
    pub fn paper(model: ModelKind, kind: EstimatorKind, epochs: usize) -> Self {
        Self {
            model,
            estimator: EstimatorConfig::new(kind),
            epochs,
            max_iters_per_epoch: None,
            batch: 24,
            lr: 1e-3,
            beta2: 0.99999,
            cv_lr_scale: 1.0,
            pretrain_steps: 1000,
            iwae_samples: 100,
            valid_limit: None,
            valid_every: 1,
            test: true,
            hidden: 200,
            seed: 0,
        }
    }
}

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// One epoch's record.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean single-sample -ELBO over the epoch's minibatches.
    pub train_neg_elbo: f64,
    /// -(IWAE bound) on validation; `None` in an epoch without validation (`valid_every`).
    pub valid_neg_iwae: Option<f64>,
    /// Mean variance loss of the control variates (0 without).
    pub variance_loss: f64,
    /// Training seconds so far (evaluation excluded).
    pub train_seconds: f64,
    /// Training iterations per second in this epoch.
    pub iters_per_s: f64,
}

/// A finished run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    /// Settings.
    pub config: TrainConfig,
    /// Per epoch.
    pub records: Vec<EpochRecord>,
    /// Highest training ELBO over epochs (Table 1's quantity).
    pub best_train_elbo: f64,
    /// Highest validation IWAE bound over epochs (Table 3's).
    pub best_valid_iwae: f64,
    /// Epoch of the best validation bound.
    pub best_epoch: usize,
    /// Test IWAE bound of the best-validation parameters.
    pub test_iwae: Option<f64>,
    /// Mean training iterations per second.
    pub iters_per_s: f64,
    /// Iterations per epoch.
    pub iters_per_epoch: usize,
    /// Wall time of the run, evaluations included.
    pub wall_seconds: f64,
    /// REBAR/RELAX: final eta per layer.
    pub etas: Vec<f32>,
    /// REBAR/RELAX: final temperature per layer.
    pub temperatures: Vec<f32>,
    /// The best-validation parameters.
    #[serde(skip)]
    pub best_params: Vec<f32>,
    /// Floating-point operations of the matrix products per training iteration (`2 m n k`
    /// each; the element-wise work is not counted).
    #[serde(skip)]
    pub flops_per_iter: f64,
    /// Wall seconds per training iteration of this process, on the training thread.
    #[serde(skip)]
    pub time_split: TimeSplit,
}

/// Trains one model with one estimator; `progress(k)` is called every `k` iterations and
/// `on_epoch` after each epoch.
pub fn train<const N: usize>(
    data: &Data,
    cfg: &TrainConfig,
    progress: &(dyn Fn(u64) + Sync),
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<RunResult> {
    train_with::<N>(data, cfg, &Checkpointing::default(), progress, on_epoch)
}

/// [`train`] with checkpoints: written as `ck` says (and when interrupted), or continued
/// from one (`ck.resume`; then `on_epoch` is first called again for the epochs it holds).
pub fn train_with<const N: usize>(
    data: &Data,
    cfg: &TrainConfig,
    ck: &Checkpointing,
    progress: &(dyn Fn(u64) + Sync),
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<RunResult> {
    let start = Instant::now();
    let mut rng = crate::seed::rng(cfg.seed, 1);
    let (model, mut theta) = Vae::new(
        cfg.model,
        data.pixels,
        N,
        &data.train_mean,
        cfg.hidden,
        &mut rng,
    )?;
    let mut est = VaeEstimator::<N>::new(
        cfg.estimator,
        &model,
        cfg.batch,
        cfg.lr * cfg.cv_lr_scale,
        cfg.beta2,
        &mut rng,
    )?;
    let mut adam = AdamVec::new(model.n_params, cfg.lr, cfg.beta2);
    adam.set_matrices(&model.matrices(), model.parts());
    let mut grad = vec![0.0f32; model.n_params];
    let mut xb = vec![0.0f32; cfg.batch * data.pixels];
    let n = data.train.n;
    let mut iters = n / cfg.batch;
    if let Some(m) = cfg.max_iters_per_epoch {
        iters = iters.min(m);
    }
    if iters == 0 {
        return Err("fewer training images than one batch".into());
    }
    let kind = cfg.estimator.kind;
    let mut st = if let Some(path) = &ck.resume {
        let l = checkpoint::load(path, cfg, &ck.data, model.parts())?;
        if l.theta.len() != theta.len() || l.progress.order.len() != n {
            return Err(format!("{}: sizes differ from this model", path.display()).into());
        }
        theta.copy_from_slice(&l.theta);
        adam.set_state(&l.adam.0, &l.adam.1, l.adam.2)?;
        est.set_state(&l.phi, (&l.cv_adam.0, &l.cv_adam.1, l.cv_adam.2), l.centre)?;
        for r in &l.progress.records {
            on_epoch(r);
        }
        l.progress
    } else {
        let recording = linalg::pause_shapes();
        if matches!(kind, EstimatorKind::Rebar | EstimatorKind::Relax) {
            for _ in 0..cfg.pretrain_steps {
                let idx: Vec<usize> = (0..cfg.batch)
                    .map(|_| (rng.next_u64() % n as u64) as usize)
                    .collect();
                data.train_batch(&idx, &mut rng, &mut xb);
                est.step(&model, &theta, &xb, cfg.batch, &mut rng, &mut grad, true)?;
            }
        }
        linalg::record_shapes(recording);
        Progress {
            shuffled: false,
            it_done: 0,
            iters_total: 0,
            rng,
            records: Vec::with_capacity(cfg.epochs),
            best_valid: None,
            best_epoch: 0,
            train_seconds: 0.0,
            epoch_seconds: 0.0,
            eval_rng_seed: crate::seed::splitmix64(cfg.seed ^ 0xe7a1),
            sum_f: 0.0,
            sum_v: 0.0,
            order: (0..n).collect(),
            best_params: theta.clone(),
        }
    };
    let save = |st: &Progress, theta: &[f32], adam: &AdamVec, est: &VaeEstimator<N>| match &ck.path
    {
        Some(p) => checkpoint::save(p, cfg, &ck.data, st, theta, adam, est),
        None => Ok(()),
    };
    let (mut train_flops, mut counted) = (0.0f64, 0u64);
    // Wall seconds of the counted iterations: whole, in products, in Adam.
    let mut split = TimeSplit::default();
    // Pre-training left its sums in `grad`; from here each Adam step leaves it zero.
    adam.zero(&mut grad);
    while st.records.len() < cfg.epochs {
        let epoch = st.records.len() + 1;
        if !st.shuffled {
            shuffle(&mut st.order, &mut st.rng);
            st.shuffled = true;
            (st.sum_f, st.sum_v, st.epoch_seconds) = (0.0, 0.0, 0.0);
        }
        let mut t0 = Instant::now();
        let mut stop_after_epoch = None;
        let f0 = linalg::flops();
        let done0 = st.iters_total;
        while st.it_done < iters {
            let it = st.it_done;
            if it % 16 == 0 {
                if let Err(e) = crate::interrupt::check() {
                    st.epoch_seconds += t0.elapsed().as_secs_f64();
                    save(&st, &theta, &adam, &est)?;
                    if let Some(p) = &ck.path {
                        eprintln!("state saved in {} (--resume continues)", p.display());
                    }
                    return Err(e);
                }
            }
            let clock = IterClock::start();
            let idx = &st.order[it * cfg.batch..(it + 1) * cfg.batch];
            data.train_batch(idx, &mut st.rng, &mut xb);
            let s = est
                .step(&model, &theta, &xb, cfg.batch, &mut st.rng, &mut grad, true)
                .map_err(|e| format!("{} epoch {epoch} iteration {it}: {e}", kind.label()))?;
            if !adam.step(&mut theta, &mut grad) {
                return Err(format!(
                    "{} epoch {epoch} iteration {it}: non-finite model gradient",
                    kind.label()
                )
                .into());
            }
            clock.stop(&mut split);
            st.sum_f += s.neg_elbo;
            st.sum_v += s.variance_loss;
            st.it_done += 1;
            st.iters_total += 1;
            if it % 50 == 49 {
                progress(50);
            }
            let stop = ck.stop_after == Some(st.iters_total);
            if stop || ck.due(st.iters_total, iters as u64) {
                if st.it_done < iters {
                    st.epoch_seconds += t0.elapsed().as_secs_f64();
                    t0 = Instant::now();
                    save(&st, &theta, &adam, &est)?;
                    if stop {
                        return Err(checkpoint::STOPPED.into());
                    }
                } else {
                    stop_after_epoch = Some(stop);
                }
            }
        }
        progress((iters % 50) as u64);
        st.epoch_seconds += t0.elapsed().as_secs_f64();
        // (Counted over this process's iterations; with --jobs > 1 other runs add theirs.)
        train_flops += (linalg::flops() - f0) as f64;
        counted += st.iters_total - done0;
        st.train_seconds += st.epoch_seconds;
        // The validation seed moves on every epoch, validated or not, so a validated epoch
        // has the bound of a run that validates every epoch.
        st.eval_rng_seed = crate::seed::splitmix64(st.eval_rng_seed);
        let valid = if epoch % cfg.valid_every.max(1) == 0 || epoch == cfg.epochs {
            let recording = linalg::pause_shapes();
            let v = neg_iwae::<N>(
                &model,
                &theta,
                &data.valid,
                cfg.valid_limit,
                cfg.iwae_samples,
                st.eval_rng_seed,
            )?;
            linalg::record_shapes(recording);
            if st.best_valid.is_none_or(|b| v < b) {
                st.best_valid = Some(v);
                st.best_epoch = epoch;
                st.best_params.copy_from_slice(&theta);
            }
            Some(v)
        } else {
            None
        };
        let rec = EpochRecord {
            epoch,
            train_neg_elbo: st.sum_f / iters as f64,
            valid_neg_iwae: valid,
            variance_loss: st.sum_v / iters as f64,
            train_seconds: st.train_seconds,
            iters_per_s: iters as f64 / st.epoch_seconds,
        };
        on_epoch(&rec);
        st.records.push(rec);
        (st.it_done, st.shuffled) = (0, false);
        if let Some(stop) = stop_after_epoch {
            save(&st, &theta, &adam, &est)?;
            if stop {
                return Err(checkpoint::STOPPED.into());
            }
        }
    }
    // The end state too, so that a longer --epochs can continue from it.
    if ck.path.is_some() && !ck.due(st.iters_total, iters as u64) {
        save(&st, &theta, &adam, &est)?;
    }
    linalg::pause_shapes();
    let test_iwae = if cfg.test && data.test.n > 0 {
        Some(-neg_iwae::<N>(
            &model,
            &st.best_params,
            &data.test,
            None,
            cfg.iwae_samples,
            crate::seed::splitmix64(cfg.seed ^ 0x7e57),
        )?)
    } else {
        None
    };
    let best_train = st
        .records
        .iter()
        .map(|r| r.train_neg_elbo)
        .fold(f64::INFINITY, f64::min);
    Ok(RunResult {
        config: cfg.clone(),
        best_train_elbo: -best_train,
        best_valid_iwae: -st.best_valid.unwrap_or(f64::INFINITY),
        best_epoch: st.best_epoch,
        test_iwae,
        iters_per_s: (iters * cfg.epochs) as f64 / st.train_seconds.max(1e-9),
        iters_per_epoch: iters,
        wall_seconds: start.elapsed().as_secs_f64(),
        etas: if est.cv.log_temp.is_empty() {
            Vec::new()
        } else {
            est.cv.etas()
        },
        temperatures: est.cv.temperatures(),
        records: st.records,
        best_params: st.best_params,
        flops_per_iter: train_flops / counted.max(1) as f64,
        time_split: split.per_iteration(counted),
    })
}

/// Examples per evaluation block (rows = examples x samples).
const EVAL_BLOCK: usize = 4;

/// The mean over `split` (its first `limit` images) of `-log (1/S) sum_s p(x, b_s) /
/// q(b_s | x)`, `b_s ~ q(b | x)`: the negative importance-weighted bound with `S = samples`,
/// in parallel over blocks of images (each block its own random stream, so for a given
/// model, whose layout fixes the products' sums, the result does not depend on the number
/// of threads).
pub fn neg_iwae<const N: usize>(
    model: &Vae,
    theta: &[f32],
    split: &Split,
    limit: Option<usize>,
    samples: usize,
    seed: u64,
) -> Result<f64> {
    let n = limit.map_or(split.n, |l| l.min(split.n));
    if n == 0 || samples == 0 {
        return Err("IWAE: no images or no samples".into());
    }
    let p = model.pixels;
    let idx: Vec<usize> = (0..n).collect();
    let sums: Vec<Result<f64>> = idx
        .par_chunks(EVAL_BLOCK)
        .enumerate()
        // Few rayon jobs, so few copies of the evaluation buffers.
        .with_min_len(16)
        .map_init(
            || {
                (
                    model.pass(EVAL_BLOCK * samples),
                    vec![0.0f32; EVAL_BLOCK * samples * p],
                    vec![0.0f32; samples],
                )
            },
            |(pass, xs, fs), (block, ex)| {
                let mut rng = crate::seed::rng(seed, block as u64);
                let g = ex.len();
                let rows = g * samples;
                // Encoder of layer 0 once per image, then replicated over its samples.
                for (e, &i) in ex.iter().enumerate() {
                    xs[e * p..(e + 1) * p].copy_from_slice(split.row(i, p));
                }
                model.set_input(pass, xs, g);
                model.encode_first(theta, pass, g);
                for e in (0..g).rev() {
                    let src: [f32; N] = pass.l[0][e * N..(e + 1) * N].try_into().expect("row of N");
                    for s in 0..samples {
                        let r = e * samples + s;
                        pass.l[0][r * N..(r + 1) * N].copy_from_slice(&src);
                    }
                }
                for (e, &i) in ex.iter().enumerate().rev() {
                    for s in 0..samples {
                        let r = e * samples + s;
                        xs[r * p..(r + 1) * p].copy_from_slice(split.row(i, p));
                    }
                }
                model.set_input(pass, xs, rows);
                for k in 0..model.layers {
                    if k > 0 {
                        model.encode_next(theta, pass, rows, k);
                    }
                    for r in 0..rows {
                        let l: &[f32; N] =
                            pass.l[k][r * N..(r + 1) * N].try_into().expect("row of N");
                        // b = 1[u < sigmoid(l)]: the same law as H(l + logistic noise), one
                        // exponential per bit instead of two logarithms.
                        for (s, &li) in pass.s[k][r * N..(r + 1) * N].iter_mut().zip(l) {
                            *s = if uniform_open(&mut rng) < sigmoid(li) {
                                1.0
                            } else {
                                0.0
                            };
                        }
                    }
                }
                model.forward(theta, pass, rows, model.layers, Chain::Hard);
                let mut total = 0.0f64;
                for e in 0..g {
                    for s in 0..samples {
                        fs[s] = -pass.f[e * samples + s];
                    }
                    let bound = logsumexp(fs) as f64 - (samples as f64).ln();
                    if !bound.is_finite() {
                        return Err("IWAE: non-finite bound".into());
                    }
                    total -= bound;
                }
                Ok(total)
            },
        )
        .collect();
    let mut total = 0.0;
    for s in sums {
        total += s?;
    }
    Ok(total / n as f64)
}

use rand_core::Rng as _;
