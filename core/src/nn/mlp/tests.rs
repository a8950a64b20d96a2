use super::*;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

type Net = Mlp<3, 4, 2, 2, { mlp_param_count(3, 4, 2, 2) }>;

fn nets() -> [Net; 4] {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    [
        Net::new_random(Activation::Tanh, 1.0, &mut rng),
        Net::new_random(Activation::Elu, 1.0, &mut rng),
        Net::new_random(Activation::Relu, 1.0, &mut rng),
        Net::new_random(Activation::Identity, 1.0, &mut rng),
    ]
}

const X: [f32; 3] = [0.3, -0.7, 0.45];
const U: [f32; 3] = [0.2, 0.5, -0.9];
const ALPHA: [f32; 2] = [0.6, -1.3];
const GAMMA: [f32; 2] = [1.1, 0.4];

/// Q(w, x) = alpha . m(x) + gamma . (J m(x) u), with J m u by a central difference of
/// f64-accumulated... here evaluated through mixed_backward's own m_dot; the finite
/// differences below are taken of Q computed from forward passes only.
fn q_fd(net: &Net, x: &[f32; 3]) -> f64 {
    let eps = 1e-3f32;
    let mut xp = *x;
    let mut xm = *x;
    for k in 0..3 {
        xp[k] += eps * U[k];
        xm[k] -= eps * U[k];
    }
    let m = net.forward(x);
    let mp = net.forward(&xp);
    let mm = net.forward(&xm);
    let mut q = 0.0f64;
    for o in 0..2 {
        let mdot = (mp[o] as f64 - mm[o] as f64) / (2.0 * eps as f64);
        q += ALPHA[o] as f64 * m[o] as f64 + GAMMA[o] as f64 * mdot;
    }
    q
}

#[test]
fn backward_matches_finite_differences() {
    for net in nets() {
        let mut cache = MlpCache::default();
        let out = net.forward_cached(&X, &mut cache);
        let mut grad = [0.0; Net::OUT_OFFSET + 2 * 4 + 2];
        let x_bar = net.backward(&X, &cache, &ALPHA, &mut grad);
        let obj = |n: &Net, x: &[f32; 3]| {
            let m = n.forward(x);
            ALPHA[0] as f64 * m[0] as f64 + ALPHA[1] as f64 * m[1] as f64
        };
        let eps = 1e-3;
        for k in 0..3 {
            let mut xp = X;
            let mut xm = X;
            xp[k] += eps;
            xm[k] -= eps;
            let fd = (obj(&net, &xp) - obj(&net, &xm)) / (2.0 * eps as f64);
            assert!(
                (fd - x_bar[k] as f64).abs() < 2e-3,
                "x {k}: {fd} vs {}",
                x_bar[k]
            );
        }
        for i in 0..grad.len() {
            let mut p = net.clone();
            let mut m = net.clone();
            p.params[i] += eps;
            m.params[i] -= eps;
            let fd = (obj(&p, &X) - obj(&m, &X)) / (2.0 * eps as f64);
            assert!(
                (fd - grad[i] as f64).abs() < 2e-3,
                "w {i}: {fd} vs {}",
                grad[i]
            );
        }
        let (o2, xb2) = net.value_and_input_grad(&X, &ALPHA);
        assert_eq!(out, o2);
        for k in 0..3 {
            assert!((xb2[k] - x_bar[k]).abs() < 1e-6);
        }
    }
}

#[test]
fn mixed_second_derivative_matches_finite_differences() {
    for net in nets() {
        let mut grad = [0.0; Net::OUT_OFFSET + 2 * 4 + 2];
        let (x_bar, _, m_dot) = net.mixed_backward(&X, &U, &ALPHA, &GAMMA, &mut grad);
        // m_dot is the directional derivative
        let eps = 1e-3f32;
        let mut xp = X;
        let mut xm = X;
        for k in 0..3 {
            xp[k] += eps * U[k];
            xm[k] -= eps * U[k];
        }
        let (mp, mm) = (net.forward(&xp), net.forward(&xm));
        for o in 0..2 {
            let fd = (mp[o] - mm[o]) / (2.0 * eps);
            assert!((fd - m_dot[o]).abs() < 2e-3, "m_dot {o}");
        }
        // dQ/dw and dQ/dx against differences of Q (itself built from forward passes).
        let h = 2e-2f32;
        for i in 0..grad.len() {
            let mut p = net.clone();
            let mut m = net.clone();
            p.params[i] += h;
            m.params[i] -= h;
            let fd = (q_fd(&p, &X) - q_fd(&m, &X)) / (2.0 * h as f64);
            let tol = 3e-3 + 3e-2 * fd.abs();
            assert!(
                (fd - grad[i] as f64).abs() < tol,
                "w {i}: {fd} vs {}",
                grad[i]
            );
        }
        for k in 0..3 {
            let mut xp = X;
            let mut xm = X;
            xp[k] += h;
            xm[k] -= h;
            let fd = (q_fd(&net, &xp) - q_fd(&net, &xm)) / (2.0 * h as f64);
            let tol = 3e-3 + 3e-2 * fd.abs();
            assert!(
                (fd - x_bar[k] as f64).abs() < tol,
                "x {k}: {fd} vs {}",
                x_bar[k]
            );
        }
    }
}

#[test]
fn param_jvp_matches_finite_differences() {
    for net in nets() {
        let dw: [f32; Net::OUT_OFFSET + 2 * 4 + 2] =
            core::array::from_fn(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1);
        let (out, out_d) = net.param_jvp(&X, &dw);
        assert_eq!(out, net.forward(&X));
        let eps = 1e-3f32;
        let (mut p, mut m) = (net.clone(), net.clone());
        for i in 0..dw.len() {
            p.params[i] += eps * dw[i];
            m.params[i] -= eps * dw[i];
        }
        let (fp, fm) = (p.forward(&X), m.forward(&X));
        for o in 0..2 {
            let fd = (fp[o] - fm[o]) / (2.0 * eps);
            assert!(
                (fd - out_d[o]).abs() < 2e-3 + 1e-2 * fd.abs(),
                "{fd} vs {}",
                out_d[o]
            );
        }
    }
}

#[test]
fn zero_output_gain_starts_at_zero() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(9);
    let net = Net::new_random(Activation::Tanh, 0.0, &mut rng);
    assert_eq!(net.forward(&X), [0.0, 0.0]);
    let mut bad = net.params;
    bad[0] = f32::NAN;
    let mut n2 = net.clone();
    assert_eq!(n2.set_params(&bad), Err(Error::NonFiniteInput));
    assert_eq!(n2.params, net.params);
}

/// The passes that reuse a kept forward pass or skip an unused adjoint give the same bits
/// as the full passes, for every activation.
#[test]
fn reusing_passes_give_the_same_bits() {
    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }
    const P: usize = mlp_param_count(3, 4, 2, 2);
    for net in nets() {
        let mut cache = MlpCache::default();
        net.forward_cached(&X, &mut cache);
        let (mut g_full, mut g_weights) = ([0.0; P], [0.0; P]);
        net.backward(&X, &cache, &ALPHA, &mut g_full);
        net.backward_weights(&X, &cache, &ALPHA, &mut g_weights);
        assert!(same(&g_full, &g_weights));

        let (out, x_bar) = net.value_and_input_grad(&X, &ALPHA);
        assert!(same(&out, &net.forward(&X)));
        assert!(same(&x_bar, &net.input_grad(&cache, &ALPHA)));

        let (mut g_a, mut g_b, mut g_c) = ([0.0; P], [0.0; P], [0.0; P]);
        let a = net.mixed_backward(&X, &U, &ALPHA, &GAMMA, &mut g_a);
        let mut kept = MlpCache::default();
        let b = net.mixed_backward_cached(&X, &U, &ALPHA, &GAMMA, &mut g_b, &mut kept);
        let c = net.mixed_backward_at(&X, &U, &ALPHA, &GAMMA, &mut g_c, &cache);
        for q in [&b, &c] {
            assert!(same(&a.0, &q.0) && same(&a.1, &q.1) && same(&a.2, &q.2));
        }
        assert!(same(&g_a, &g_b) && same(&g_a, &g_c));
        for l in 0..2 {
            assert!(same(&kept.pre[l], &cache.pre[l]) && same(&kept.post[l], &cache.post[l]));
        }
    }
}
