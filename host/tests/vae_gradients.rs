//! The VAE's derivatives against finite differences, and every estimator against the exact
//! ELBO gradient by enumerating all latent states of a tiny model (6 latents per layer, 10
//! pixels).

// Index loops mirror the formulas.
#![allow(clippy::needless_range_loop)]

use host::vae::estimators::{EstimatorConfig, EstimatorKind, VaeEstimator};
use host::vae::layers::{Act, Net, ParamLayout};
use host::vae::model::{Chain, ModelKind, Pass, Vae};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use relax_core::dist::{Bernoulli, Relaxed};
use relax_core::math::uniform_open;

const N: usize = 6;
const P: usize = 10;

fn rng(seed: u64) -> Xoshiro128PlusPlus {
    Xoshiro128PlusPlus::seed_from_u64(seed)
}

fn randn(r: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| scale * (2.0 * uniform_open(r) - 1.0))
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    let tol = 2e-3 + 2e-2 * b.abs().max(a.abs());
    assert!((a - b).abs() < tol, "{what}: analytic {a} vs FD {b}");
}

/// Central difference of `f` in coordinate `i` of `v`, in f64 around f32 storage.
fn fd(v: &mut [f32], i: usize, h: f32, mut f: impl FnMut(&[f32]) -> f64) -> f64 {
    let old = v[i];
    v[i] = old + h;
    let fp = f(v);
    v[i] = old - h;
    let fm = f(v);
    v[i] = old;
    (fp - fm) / (2.0 * h as f64)
}

#[test]
fn net_backward_and_mixed_backward_match_finite_differences() {
    let mut r = rng(1);
    for act in [Act::Tanh, Act::Relu] {
        let mut lay = ParamLayout::default();
        let net = Net::new(&mut lay, &[5, 7, 6, 1], act);
        let mut p = vec![0.0f32; lay.len];
        net.init(&mut p, 1.0, &mut r);
        for v in p.iter_mut() {
            *v += 0.1 * (2.0 * uniform_open(&mut r) - 1.0); // non-zero biases
        }
        let rows = 3;
        let mut x = randn(&mut r, rows * 5, 1.0);
        let dout = randn(&mut r, rows, 1.0);
        let mut cache = net.cache(rows);
        let loss = |p: &[f32], x: &[f32]| -> f64 {
            let mut c = net.cache(rows);
            net.forward(p, x, rows, &mut c);
            (0..rows).map(|i| (c.out[i] * dout[i]) as f64).sum()
        };
        net.forward(&p, &x, rows, &mut cache);
        let mut g = vec![0.0f32; p.len()];
        let mut dx = vec![0.0f32; rows * 5];
        net.backward(&p, &x, rows, &mut cache, &dout, Some(&mut g), Some(&mut dx));
        // A small step: ReLU's kinks must not fall inside the difference.
        let h = if act == Act::Relu { 1e-3 } else { 1e-2 };
        for i in (0..p.len()).step_by(3) {
            let n = fd(&mut p, i, h, |p| loss(p, &x));
            close(g[i] as f64, n, &format!("{act:?} param {i}"));
        }
        for i in 0..x.len() {
            let xs = x.clone();
            let n = fd(&mut x, i, h, |x| loss(&p, x));
            close(dx[i] as f64, n, &format!("{act:?} input {i}"));
            x = xs;
        }
        if act == Act::Relu {
            // Q(p) = sum_r alpha_r m(x_r) + (J m(x_r)) u_r, the control variate's mixed term.
            let u = randn(&mut r, rows * 5, 1.0);
            let alpha = randn(&mut r, rows, 1.0);
            let q = |p: &[f32]| -> f64 {
                let mut c = net.cache(rows);
                net.forward(p, &x, rows, &mut c);
                let mut din = vec![0.0f32; rows * 5];
                net.backward(p, &x, rows, &mut c, &vec![1.0; rows], None, Some(&mut din));
                (0..rows)
                    .map(|i| {
                        let ju: f32 = (0..5).map(|j| din[i * 5 + j] * u[i * 5 + j]).sum();
                        (alpha[i] * c.out[i] + ju) as f64
                    })
                    .sum()
            };
            net.forward(&p, &x, rows, &mut cache);
            let mut gm = vec![0.0f32; p.len()];
            net.mixed_backward(
                &p,
                &x,
                &u,
                0..net.inputs(),
                &alpha,
                rows,
                &mut cache,
                &mut gm,
            );
            // Q contains J m, which jumps where a ReLU unit switches: a difference that
            // straddles a switch disagrees with its half-step twin and is skipped.
            let mut checked = 0;
            for i in 0..p.len() {
                let n1 = fd(&mut p, i, 1e-3, q);
                let n2 = fd(&mut p, i, 5e-4, q);
                if (n1 - n2).abs() > 1e-2 * (1.0 + n1.abs()) {
                    continue;
                }
                checked += 1;
                close(gm[i] as f64, n2, &format!("mixed param {i}"));
            }
            assert!(
                checked > p.len() * 3 / 4,
                "only {checked} of {} checked",
                p.len()
            );
            // A tangent zero outside inputs 2..4, given on those columns only (as RELAX gives
            // its z columns): the same bits as the full tangent; and the input gradient's
            // columns 2..4 alone are those columns of the full one.
            let cols = 2..4;
            let mut uz = u.clone();
            let mut u_cols = Vec::new();
            for i in 0..rows {
                for j in 0..5 {
                    if cols.contains(&j) {
                        u_cols.push(u[i * 5 + j]);
                    } else {
                        uz[i * 5 + j] = 0.0;
                    }
                }
            }
            let mut full = vec![0.0f32; p.len()];
            let mut part = vec![0.0f32; p.len()];
            net.forward(&p, &x, rows, &mut cache);
            net.mixed_backward(&p, &x, &uz, 0..5, &alpha, rows, &mut cache, &mut full);
            net.forward(&p, &x, rows, &mut cache);
            net.mixed_backward(
                &p,
                &x,
                &u_cols,
                cols.clone(),
                &alpha,
                rows,
                &mut cache,
                &mut part,
            );
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&full), bits(&part), "restricted tangent");
            net.forward(&p, &x, rows, &mut cache);
            let mut din = vec![0.0f32; rows * 5];
            net.backward(&p, &x, rows, &mut cache, &dout, None, Some(&mut din));
            let mut dcols = vec![0.0f32; rows * 2];
            net.input_grad_cols(&p, rows, &cache, &dout, cols.clone(), &mut dcols);
            for i in 0..rows {
                assert_eq!(
                    bits(&din[i * 5 + 2..i * 5 + 4]),
                    bits(&dcols[i * 2..i * 2 + 2])
                );
            }
        }
    }
}

/// A one-layer network (the linear VAEs' encoder and decoder) reads the output gradient where
/// the caller left it: its parameter and input gradients match finite differences, and
/// [`Net::input_grad_cols`] after it gives the same bits as those columns of the input
/// gradient (from a fresh cache, whose zero gradient buffers it must not read).
#[test]
fn one_layer_net_backward_reads_dout_in_place() {
    let mut r = rng(4);
    let (inputs, outputs, rows) = (5, 4, 3);
    let mut lay = ParamLayout::default();
    let net = Net::new(&mut lay, &[inputs, outputs], Act::Tanh);
    let mut p = vec![0.0f32; lay.len];
    net.init(&mut p, 1.0, &mut r);
    for v in p.iter_mut() {
        *v += 0.1 * (2.0 * uniform_open(&mut r) - 1.0);
    }
    let mut x = randn(&mut r, rows * inputs, 1.0);
    let dout = randn(&mut r, rows * outputs, 1.0);
    let loss = |p: &[f32], x: &[f32]| -> f64 {
        let mut c = net.cache(rows);
        net.forward(p, x, rows, &mut c);
        c.out[..rows * outputs]
            .iter()
            .zip(&dout)
            .map(|(o, d)| (o * d) as f64)
            .sum()
    };
    let mut cache = net.cache(rows);
    net.forward(&p, &x, rows, &mut cache);
    let mut g = vec![0.0f32; p.len()];
    let mut dx = vec![0.0f32; rows * inputs];
    net.backward(&p, &x, rows, &mut cache, &dout, Some(&mut g), Some(&mut dx));
    for i in 0..p.len() {
        let n = fd(&mut p, i, 1e-2, |p| loss(p, &x));
        close(g[i] as f64, n, &format!("one layer param {i}"));
    }
    for i in 0..x.len() {
        let xs = x.clone();
        let n = fd(&mut x, i, 1e-2, |x| loss(&p, x));
        close(dx[i] as f64, n, &format!("one layer input {i}"));
        x = xs;
    }
    let mut dcols = vec![0.0f32; rows * 2];
    net.input_grad_cols(&p, rows, &cache, &dout, 1..3, &mut dcols);
    for i in 0..rows {
        for j in 0..2 {
            assert_eq!(
                dx[i * inputs + 1 + j].to_bits(),
                dcols[i * 2 + j].to_bits(),
                "row {i} column {}",
                1 + j
            );
        }
    }
}

fn tiny(kind: ModelKind, seed: u64) -> (Vae, Vec<f32>, Vec<f32>) {
    let mut r = rng(seed);
    let mean: Vec<f32> = (0..P).map(|i| 0.2 + 0.06 * i as f32).collect();
    let (vae, mut theta) = Vae::new(kind, P, N, &mean, 8, &mut r).unwrap();
    // Larger weights than the initialisation, so every term matters.
    for t in theta.iter_mut() {
        *t += 0.3 * (2.0 * uniform_open(&mut r) - 1.0);
    }
    let x: Vec<f32> = (0..P)
        .map(|_| if uniform_open(&mut r) < 0.5 { 1.0 } else { 0.0 })
        .collect();
    (vae, theta, x)
}

/// Sets up a pass with layer 0 relaxed at `z0` and the layers above chained from `eps`.
fn soft_f(
    vae: &Vae,
    theta: &[f32],
    x: &[f32],
    z0: &[f32],
    eps: &[Vec<f32>],
    lam: f32,
    pass: &mut Pass,
) -> f32 {
    vae.set_input(pass, x, 1);
    vae.encode_first(theta, pass, 1);
    for j in 0..N {
        pass.s[0][j] = 1.0 / (1.0 + (-z0[j] / lam).exp());
    }
    for k in 1..vae.layers {
        pass.eps[k][..N].copy_from_slice(&eps[k]);
    }
    vae.forward(theta, pass, 1, 0, Chain::Soft(lam));
    pass.f[0]
}

#[test]
fn relaxed_elbo_gradients_match_finite_differences() {
    for kind in [ModelKind::Linear1, ModelKind::Linear2, ModelKind::Nonlinear] {
        let (vae, mut theta, x) = tiny(kind, 3);
        let mut r = rng(4);
        let mut z0 = randn(&mut r, N, 2.0);
        let eps: Vec<Vec<f32>> = (0..vae.layers).map(|_| randn(&mut r, N, 2.0)).collect();
        let lam = 0.7;
        let mut pass = vae.pass(1);
        soft_f(&vae, &theta, &x, &z0, &eps, lam, &mut pass);
        let mut g = vec![0.0f32; theta.len()];
        vae.backward(
            &theta,
            &mut pass,
            1,
            0,
            Chain::Soft(lam),
            &[1.0],
            Some(&mut g),
        );
        // df/dz0 through the relaxation (l_0 held fixed, as in a control variate).
        let ds0 = pass.ds[0][..N].to_vec();
        let s0 = pass.s[0][..N].to_vec();
        for j in 0..N {
            let an = ds0[j] * s0[j] * (1.0 - s0[j]) / lam;
            let mut p2 = vae.pass(1);
            let n = fd(&mut z0, j, 1e-2, |z| {
                soft_f(&vae, &theta, &x, z, &eps, lam, &mut p2) as f64
            });
            close(an as f64, n, &format!("{kind:?} df/dz0[{j}]"));
        }
        // Parameter gradient of everything except enc_0 (whose logits are held fixed here).
        let enc0 = &vae.enc[0].layers;
        let (lo, hi) = (
            enc0[0].w,
            enc0.last().unwrap().b + enc0.last().unwrap().outputs,
        );
        let mut p2 = vae.pass(1);
        for i in (0..theta.len())
            .filter(|i| !(lo..hi).contains(i))
            .step_by(5)
        {
            let n = fd(&mut theta, i, 1e-2, |t| {
                // enc_0 is constant, so recompute with the same l_0: encode_first is
                // unaffected by parameters outside enc_0.
                soft_f(&vae, t, &x, &z0, &eps, lam, &mut p2) as f64
            });
            close(g[i] as f64, n, &format!("{kind:?} param {i}"));
        }
    }
}

#[test]
fn hard_elbo_and_encoder_gradients_match_finite_differences() {
    for kind in [ModelKind::Linear1, ModelKind::Linear2, ModelKind::Nonlinear] {
        let (vae, mut theta, x) = tiny(kind, 5);
        let mut r = rng(6);
        let bits: Vec<Vec<f32>> = (0..vae.layers)
            .map(|_| {
                (0..N)
                    .map(|_| if uniform_open(&mut r) < 0.5 { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let f_of = |t: &[f32]| -> f64 {
            let mut pass = vae.pass(1);
            vae.set_input(&mut pass, &x, 1);
            vae.encode_first(t, &mut pass, 1);
            for k in 0..vae.layers {
                if k > 0 {
                    vae.encode_next(t, &mut pass, 1, k);
                }
                pass.s[k][..N].copy_from_slice(&bits[k]);
            }
            vae.forward(t, &mut pass, 1, vae.layers, Chain::Hard);
            pass.f[0] as f64
        };
        let mut pass = vae.pass(1);
        vae.set_input(&mut pass, &x, 1);
        vae.encode_first(&theta, &mut pass, 1);
        for k in 0..vae.layers {
            if k > 0 {
                vae.encode_next(&theta, &mut pass, 1, k);
            }
            pass.s[k][..N].copy_from_slice(&bits[k]);
        }
        vae.forward(&theta, &mut pass, 1, vae.layers, Chain::Hard);
        let mut g = vec![0.0f32; theta.len()];
        vae.backward(
            &theta,
            &mut pass,
            1,
            vae.layers,
            Chain::Hard,
            &[1.0],
            Some(&mut g),
        );
        // The encoders: f contains log q(b|.) whose logit gradient is the score.
        for k in 0..vae.layers {
            let l: [f32; N] = pass.l[k][..N].try_into().unwrap();
            let b: [f32; N] = bits[k][..].try_into().unwrap();
            let sc = Bernoulli::<N>::score(&l, &b);
            vae.encoder_backward(&theta, &mut pass, 1, k, &sc, &mut g);
        }
        for i in (0..theta.len()).step_by(3) {
            let n = fd(&mut theta, i, 1e-2, f_of);
            close(g[i] as f64, n, &format!("{kind:?} hard param {i}"));
        }
    }
}

/// The exact gradient of E_q[f] for one image by enumerating all states (f64 accumulation).
fn exact_gradient(vae: &Vae, theta: &[f32], x: &[f32]) -> Vec<f64> {
    let kk = vae.layers;
    let states = 1usize << (N * kk);
    let mut pass = vae.pass(states);
    let xs: Vec<f32> = (0..states).flat_map(|_| x.iter().copied()).collect();
    vae.set_input(&mut pass, &xs, states);
    vae.encode_first(theta, &mut pass, states);
    for k in 0..kk {
        if k > 0 {
            vae.encode_next(theta, &mut pass, states, k);
        }
        for st in 0..states {
            for j in 0..N {
                pass.s[k][st * N + j] = ((st >> (k * N + j)) & 1) as f32;
            }
        }
    }
    vae.forward(theta, &mut pass, states, kk, Chain::Hard);
    let mut q = vec![0.0f32; states];
    for st in 0..states {
        let mut lq = 0.0f64;
        for k in 0..kk {
            let l: [f32; N] = pass.l[k][st * N..(st + 1) * N].try_into().unwrap();
            let b: [f32; N] = pass.s[k][st * N..(st + 1) * N].try_into().unwrap();
            lq += Bernoulli::<N>::log_prob(&l, &b) as f64;
        }
        q[st] = lq.exp() as f32;
    }
    let total = vec![0.0f64; theta.len()];
    let mut g32 = vec![0.0f32; theta.len()];
    vae.backward(
        theta,
        &mut pass,
        states,
        kk,
        Chain::Hard,
        &q,
        Some(&mut g32),
    );
    for k in 0..kk {
        let mut gl = vec![0.0f32; states * N];
        for st in 0..states {
            let l: [f32; N] = pass.l[k][st * N..(st + 1) * N].try_into().unwrap();
            let b: [f32; N] = pass.s[k][st * N..(st + 1) * N].try_into().unwrap();
            let sc = Bernoulli::<N>::score(&l, &b);
            for j in 0..N {
                gl[st * N + j] = q[st] * (pass.f[st] + 1.0) * sc[j];
            }
        }
        vae.encoder_backward(theta, &mut pass, states, k, &gl, &mut g32);
    }
    total.iter().zip(&g32).map(|(_, &g)| g as f64).collect()
}

fn estimates(
    vae: &Vae,
    theta: &[f32],
    x: &[f32],
    cfg: EstimatorConfig,
    n: usize,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut r = rng(seed);
    let mut est = VaeEstimator::<N>::new(cfg, vae, 1, 1e-2, 0.999, &mut r).unwrap();
    let mut g = vec![0.0f32; theta.len()];
    // Let the variance parameters move away from their initial values, then freeze them.
    for _ in 0..300 {
        g.fill(0.0);
        est.step(vae, theta, x, 1, &mut r, &mut g, true).unwrap();
    }
    let mut s1 = vec![0.0f64; theta.len()];
    let mut s2 = vec![0.0f64; theta.len()];
    for _ in 0..n {
        g.fill(0.0);
        est.step(vae, theta, x, 1, &mut r, &mut g, false).unwrap();
        for i in 0..g.len() {
            s1[i] += g[i] as f64;
            s2[i] += (g[i] as f64).powi(2);
        }
    }
    let mean: Vec<f64> = s1.iter().map(|s| s / n as f64).collect();
    let se: Vec<f64> = s2
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / n as f64 - m * m).max(0.0) / n as f64).sqrt())
        .collect();
    (mean, se)
}

fn max_z(mean: &[f64], se: &[f64], exact: &[f64]) -> f64 {
    mean.iter()
        .zip(se)
        .zip(exact)
        .map(|((m, s), e)| {
            let d = m - e;
            if *s > 0.0 {
                (d / s).abs()
            } else if d.abs() < 1e-6 {
                0.0
            } else {
                f64::INFINITY
            }
        })
        .fold(0.0, f64::max)
}

#[test]
fn every_estimator_matches_the_exact_elbo_gradient() {
    for (mi, kind) in [ModelKind::Linear1, ModelKind::Linear2]
        .into_iter()
        .enumerate()
    {
        let (vae, theta, x) = tiny(kind, 11 + mi as u64);
        let exact = exact_gradient(&vae, &theta, &x);
        // ARMS, Double CV and RODEO with K = 2 and 3 (the one-layer model only: they refuse
        // more).
        let mut cases: Vec<(EstimatorKind, usize)> =
            EstimatorKind::all().into_iter().map(|e| (e, 2)).collect();
        cases.extend([
            (EstimatorKind::Arms, 3),
            (EstimatorKind::DoubleCv, 3),
            (EstimatorKind::Rodeo, 3),
        ]);
        for (ei, (est, k)) in cases.into_iter().enumerate() {
            let mut cfg = EstimatorConfig::new(est);
            cfg.cv_width = 16;
            cfg.rloo_k = k;
            if vae.layers > 1 && est.one_layer_only() {
                let e = VaeEstimator::<N>::new(cfg, &vae, 1, 1e-2, 0.999, &mut rng(0))
                    .unwrap_err()
                    .to_string();
                assert!(e.contains("one-layer"), "{e}");
                continue;
            }
            let n = 20_000;
            let (mean, se) = estimates(&vae, &theta, &x, cfg, n, 100 * mi as u64 + ei as u64);
            let z = max_z(&mean, &se, &exact);
            println!(
                "{kind:?} {est:?} (K = {k}): max |z| over {} parameters = {z:.2}",
                theta.len()
            );
            if est == EstimatorKind::Concrete {
                assert!(z > 8.0, "Concrete should show its bias, max |z| = {z:.2}");
            } else {
                assert!(z < 4.0, "{kind:?} {est:?}: max |z| = {z:.2} >= 4");
            }
        }
    }
}

#[test]
fn exact_gradient_matches_finite_differences_of_the_enumerated_elbo() {
    let (vae, mut theta, x) = tiny(ModelKind::Linear2, 21);
    let exact = exact_gradient(&vae, &theta, &x);
    let loss = |t: &[f32]| -> f64 {
        let states = 1usize << (2 * N);
        let mut pass = vae.pass(states);
        let xs: Vec<f32> = (0..states).flat_map(|_| x.iter().copied()).collect();
        vae.set_input(&mut pass, &xs, states);
        vae.encode_first(t, &mut pass, states);
        for k in 0..2 {
            if k > 0 {
                vae.encode_next(t, &mut pass, states, k);
            }
            for st in 0..states {
                for j in 0..N {
                    pass.s[k][st * N + j] = ((st >> (k * N + j)) & 1) as f32;
                }
            }
        }
        vae.forward(t, &mut pass, states, 2, Chain::Hard);
        (0..states)
            .map(|st| {
                let mut lq = 0.0f64;
                for k in 0..2 {
                    let l: [f32; N] = pass.l[k][st * N..(st + 1) * N].try_into().unwrap();
                    let b: [f32; N] = pass.s[k][st * N..(st + 1) * N].try_into().unwrap();
                    lq += Bernoulli::<N>::log_prob(&l, &b) as f64;
                }
                lq.exp() * pass.f[st] as f64
            })
            .sum()
    };
    for i in (0..theta.len()).step_by(7) {
        let n = fd(&mut theta, i, 1e-2, loss);
        close(exact[i], n, &format!("exact gradient {i}"));
    }
}

/// REBAR and RELAX run their relaxed passes on a second thread when the products have two
/// (`linalg::set_threads`): every gradient and every variance parameter must come out the
/// same, bit for bit, as on one thread.
#[test]
fn relaxed_passes_on_a_second_thread_give_the_same_bits() {
    use host::vae::linalg::set_threads;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let rows = 5;
    for (mi, kind) in [ModelKind::Linear1, ModelKind::Linear2]
        .into_iter()
        .enumerate()
    {
        let (vae, theta, _) = tiny(kind, 21 + mi as u64);
        let mut r = rng(5);
        let x: Vec<f32> = (0..rows * P)
            .map(|_| if uniform_open(&mut r) < 0.5 { 1.0 } else { 0.0 })
            .collect();
        for est in [EstimatorKind::Rebar, EstimatorKind::Relax] {
            let mut cfg = EstimatorConfig::new(est);
            cfg.cv_width = 16;
            cfg.fd_rows = 2;
            let run = |threads: usize| {
                set_threads(threads);
                let mut r = rng(7);
                let mut e = VaeEstimator::<N>::new(cfg, &vae, rows, 1e-2, 0.999, &mut r).unwrap();
                let mut out = Vec::new();
                for i in 0..40 {
                    let mut g = vec![0.0f32; theta.len()];
                    let s = pool
                        .install(|| e.step(&vae, &theta, &x, rows, &mut r, &mut g, i % 5 != 4))
                        .unwrap();
                    out.extend(g.iter().map(|v| v.to_bits()));
                    out.extend(e.cv.phi.iter().map(|v| v.to_bits()));
                    out.push(s.neg_elbo.to_bits() as u32);
                    out.push(s.variance_loss.to_bits() as u32);
                }
                set_threads(1);
                out
            };
            let (one, two) = (run(1), run(2));
            assert_eq!(one.len(), two.len());
            let differ = one.iter().zip(&two).filter(|(a, b)| a != b).count();
            assert_eq!(
                differ,
                0,
                "{kind:?} {est:?}: {differ} of {} numbers differ",
                one.len()
            );
            assert!(one.iter().any(|&v| v != 0), "{kind:?} {est:?}: all zero");
        }
    }
}

/// With the weights in two column blocks (`relax vae --threads 2`), REBAR's and RELAX's
/// steps give the same bits on one thread and on two, and the numbers of the one-block layout
/// within float rounding: the samples and every forward product are the same bits, and only
/// the input gradients are summed in two parts.
#[test]
fn two_column_blocks_change_only_the_rounding() {
    use host::vae::linalg::set_threads;
    // Wide enough that both blocks of every matrix are not empty (cut at 32).
    const NB: usize = 40;
    const PB: usize = 64;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let rows = 6;
    let mean: Vec<f32> = (0..PB)
        .map(|i| 0.1 + 0.8 * (i as f32 / PB as f32))
        .collect();
    let mut r = rng(11);
    let x: Vec<f32> = (0..rows * PB)
        .map(|_| if uniform_open(&mut r) < 0.4 { 1.0 } else { 0.0 })
        .collect();
    for kind in [ModelKind::Linear1, ModelKind::Linear2] {
        for est in [EstimatorKind::Rebar, EstimatorKind::Relax] {
            let mut cfg = EstimatorConfig::new(est);
            cfg.cv_width = 48;
            cfg.fd_rows = 2;
            // The model gradient in the one-block order, and the step's ELBO and variance loss.
            let run = |parts: usize, threads: usize| {
                set_threads(threads);
                let (vae, theta) =
                    Vae::new_in_parts(kind, PB, NB, &mean, 8, parts, &mut rng(3)).unwrap();
                let (one, _) = Vae::new_in_parts(kind, PB, NB, &mean, 8, 1, &mut rng(3)).unwrap();
                let mut order: Vec<usize> = (0..theta.len()).collect();
                for (net, net1) in vae
                    .enc
                    .iter()
                    .chain(&vae.dec)
                    .zip(one.enc.iter().chain(&one.dec))
                {
                    for (d, d1) in net.layers.iter().zip(&net1.layers) {
                        for i in 0..d.inputs {
                            for j in 0..d.outputs {
                                order[d1.index(i, j)] = d.index(i, j);
                            }
                        }
                    }
                }
                let mut r = rng(7);
                let mut e = VaeEstimator::<NB>::new(cfg, &vae, rows, 1e-2, 0.999, &mut r).unwrap();
                let mut out = Vec::new();
                for i in 0..8 {
                    let mut g = vec![0.0f32; theta.len()];
                    let s = pool
                        .install(|| e.step(&vae, &theta, &x, rows, &mut r, &mut g, i % 4 != 3))
                        .unwrap();
                    out.extend(order.iter().map(|&k| g[k] as f64));
                    out.push(s.neg_elbo);
                    out.push(s.variance_loss);
                }
                set_threads(1);
                out
            };
            let (whole, one, two) = (run(1, 1), run(2, 1), run(2, 2));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&one),
                bits(&two),
                "{kind:?} {est:?}: 1 and 2 threads differ"
            );
            let scale = whole.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let worst = whole
                .iter()
                .zip(&two)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            // Measured: at most 2.5e-6 against values up to 72 (3.5e-8 of the largest).
            assert!(
                worst <= 1e-6 * scale,
                "{kind:?} {est:?}: two blocks differ by {worst:e} (largest value {scale:e})"
            );
            assert!(
                worst > 0.0 || est == EstimatorKind::Rebar,
                "{kind:?} {est:?}: no difference at all"
            );
        }
    }
}
