//! Finite-difference checks of every closed-form derivative of the distributions, and
//! Monte Carlo checks that the conditional samples have the law of `z | b`.

use super::*;
use crate::math::dot;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

const H: f32 = 1e-2;

fn close(a: f32, b: f32, what: &str) {
    let tol = 2e-3 + 1e-2 * b.abs().max(a.abs());
    assert!(
        (a - b).abs() <= tol,
        "{what}: closed form {a} vs finite difference {b}"
    );
}

fn basis<const D: usize>(j: usize) -> [f32; D] {
    let mut e = [0.0; D];
    e[j] = 1.0;
    e
}

/// Checks `zt_jvp`/`zt_vjp`/`z_jvp`/`z_vjp` against central differences at fixed noise.
fn check_pathwise<Dist: Relaxed<D>, const D: usize>(l: [f32; D], seed: u64) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let z = Dist::sample_z(&l, &mut rng);
    let b = Dist::harden(&z);
    let cond_seed = seed + 1000;
    let cond = Dist::sample_conditional(&l, &b, &mut Xoshiro128PlusPlus::seed_from_u64(cond_seed));
    assert_eq!(Dist::harden(&cond.z), b, "argmax / sign of z~ must equal b");
    let g: [f32; D] = core::array::from_fn(|i| 0.7 - 0.3 * i as f32);
    for j in 0..D {
        let (mut lp, mut lm) = (l, l);
        lp[j] += H;
        lm[j] -= H;
        let zp = Dist::sample_z(&lp, &mut Xoshiro128PlusPlus::seed_from_u64(seed));
        let zm = Dist::sample_z(&lm, &mut Xoshiro128PlusPlus::seed_from_u64(seed));
        let ztp =
            Dist::sample_conditional(&lp, &b, &mut Xoshiro128PlusPlus::seed_from_u64(cond_seed));
        let ztm =
            Dist::sample_conditional(&lm, &b, &mut Xoshiro128PlusPlus::seed_from_u64(cond_seed));
        let jz = Dist::z_jvp(&l, &basis(j));
        let jzt = Dist::zt_jvp(&l, &cond, &basis(j));
        for i in 0..D {
            let fd_z = (zp[i] - zm[i]) / (2.0 * H);
            let fd_zt = (ztp.z[i] - ztm.z[i]) / (2.0 * H);
            close(jz[i], fd_z, "dz/dl");
            close(jzt[i], fd_zt, "dz~/dl");
        }
        // vjp is the transpose of jvp
        let vz = Dist::z_vjp(&l, &g);
        let vzt = Dist::zt_vjp(&l, &cond, &g);
        close(vz[j], dot(&g, &jz), "z vjp");
        close(vzt[j], dot(&g, &jzt), "z~ vjp");
    }
}

fn check_score_and_relaxation<Dist: Relaxed<D>, const D: usize>(l: [f32; D], b: [f32; D]) {
    let s = Dist::score(&l, &b);
    for j in 0..D {
        let (mut lp, mut lm) = (l, l);
        lp[j] += H;
        lm[j] -= H;
        let fd = (Dist::log_prob(&lp, &b) - Dist::log_prob(&lm, &b)) / (2.0 * H);
        close(s[j], fd, "score");
    }
    let z: [f32; D] = core::array::from_fn(|i| 0.9 - 0.8 * i as f32);
    let u: [f32; D] = core::array::from_fn(|i| 0.4 + 0.5 * i as f32);
    for &lam in &[0.3f32, 0.5, 1.7] {
        let x = Dist::relax(&z, lam);
        let ju = Dist::relax_jvp(&x, lam, &u);
        let hz = 1e-3;
        let mut zp = z;
        let mut zm = z;
        for i in 0..D {
            zp[i] += hz * u[i];
            zm[i] -= hz * u[i];
        }
        let (xp, xm) = (Dist::relax(&zp, lam), Dist::relax(&zm, lam));
        let dt = 1e-3;
        let (lp, lm) = (lam * libm::expf(dt), lam * libm::expf(-dt));
        let (xtp, xtm) = (Dist::relax(&z, lp), Dist::relax(&z, lm));
        let dx = Dist::relax_dlogtemp(&z, &x, lam);
        let djudt = Dist::relax_jvp_dlogtemp(&z, &x, lam, &u);
        let (jup, jum) = (Dist::relax_jvp(&xtp, lp, &u), Dist::relax_jvp(&xtm, lm, &u));
        for i in 0..D {
            close(ju[i], (xp[i] - xm[i]) / (2.0 * hz), "relaxation jvp");
            close(dx[i], (xtp[i] - xtm[i]) / (2.0 * dt), "dx/dlog(lambda)");
            close(
                djudt[i],
                (jup[i] - jum[i]) / (2.0 * dt),
                "d(Ju)/dlog(lambda)",
            );
        }
    }
}

#[test]
fn bernoulli_derivatives_match_finite_differences() {
    for (seed, l) in [[0.3f32, -1.2, 2.0], [8.0, -8.0, 0.0], [-3.0, 4.0, 0.01]]
        .into_iter()
        .enumerate()
    {
        for s in 0..20 {
            check_pathwise::<Bernoulli<3>, 3>(l, (seed * 100 + s) as u64);
        }
        check_score_and_relaxation::<Bernoulli<3>, 3>(l, [1.0, 0.0, 1.0]);
        check_score_and_relaxation::<Bernoulli<3>, 3>(l, [0.0, 1.0, 0.0]);
    }
}

#[test]
fn bernoulli_conditional_covers_both_branches() {
    // b = 0 and b = 1 both occur for each coordinate over the seeds used above.
    let l = [0.3f32, -1.2, 2.0];
    let mut seen = [[false; 2]; 3];
    for s in 0..20u64 {
        let z = Bernoulli::<3>::sample_z(&l, &mut Xoshiro128PlusPlus::seed_from_u64(s));
        for i in 0..3 {
            seen[i][(z[i] > 0.0) as usize] = true;
        }
    }
    assert!(seen.iter().all(|s| s[0] && s[1]));
}

#[test]
fn categorical_derivatives_match_finite_differences() {
    for (seed, l) in [
        [0.5f32, -1.0, 2.0, 0.0],
        [8.0, -8.0, 0.0, 1.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
    .into_iter()
    .enumerate()
    {
        for s in 0..20 {
            check_pathwise::<Categorical<4>, 4>(l, (seed * 100 + s) as u64);
        }
        for k in 0..4 {
            check_score_and_relaxation::<Categorical<4>, 4>(l, Categorical::<4>::one_hot(k));
        }
    }
}

/// The joint law of (b, z~) must equal that of (b, z): compare E[b_i h(z_j)] and E[h(z_j)]
/// for a bounded test function h, with a 4-standard-error tolerance.
fn check_conditional_law<Dist: Relaxed<D>, const D: usize>(l: [f32; D], seed: u64) {
    let worst = conditional_law_z::<D>(
        l,
        seed,
        &|l, b, rng| Dist::sample_conditional(l, b, rng).z,
        &|l, rng| Dist::sample_z(l, rng),
        &|z| Dist::harden(z),
    );
    assert!(worst < 4.0, "max |z| = {worst}");
}

type CondFn<'a, const D: usize> =
    &'a dyn Fn(&[f32; D], &[f32; D], &mut Xoshiro128PlusPlus) -> [f32; D];

/// The largest |z-score| over (i, j) of E[b_i h(z~_j)] - E[b_i h(z_j)].
fn conditional_law_z<const D: usize>(
    l: [f32; D],
    seed: u64,
    conditional: CondFn<'_, D>,
    sample_z: &dyn Fn(&[f32; D], &mut Xoshiro128PlusPlus) -> [f32; D],
    harden: &dyn Fn(&[f32; D]) -> [f32; D],
) -> f64 {
    let n = 200_000;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let h = |v: f32| libm::tanhf(0.5 * v);
    // statistics: for each (i, j) E[b_i h(z_j)] under z and under z~
    let mut sz = [[0.0f64; D]; D];
    let mut szt = [[0.0f64; D]; D];
    let mut sq = [[0.0f64; D]; D];
    for _ in 0..n {
        let z = sample_z(&l, &mut rng);
        let b = harden(&z);
        let zt = conditional(&l, &b, &mut rng);
        // a second, independent z for the comparison sample
        let z2 = sample_z(&l, &mut rng);
        let b2 = harden(&z2);
        for i in 0..D {
            for j in 0..D {
                let a = (b2[i] * h(z2[j])) as f64;
                let c = (b[i] * h(zt[j])) as f64;
                sz[i][j] += a;
                szt[i][j] += c;
                sq[i][j] += (a - c) * (a - c);
            }
        }
    }
    let mut worst = 0.0f64;
    for i in 0..D {
        for j in 0..D {
            let diff = (szt[i][j] - sz[i][j]) / n as f64;
            let var = sq[i][j] / n as f64 - diff * diff;
            let se = (var / n as f64).sqrt().max(1e-12);
            worst = worst.max((diff / se).abs());
        }
    }
    worst
}

/// The discrete-RL reference code's sampler (`policies.py`, "slightly biased"): its `z~_b`
/// keeps `log theta_b`, and its noise is `-log(-log(v + 1e-8) + 1e-8)`. The same check must
/// reject it, which shows the check has the power to see such a bias.
#[test]
fn the_rl_codes_biased_sampler_fails_the_same_check() {
    let biased = |l: &[f32; 3], b: &[f32; 3], rng: &mut Xoshiro128PlusPlus| -> [f32; 3] {
        let lt = crate::math::log_softmax(l);
        let k = Categorical::<3>::argmax(b);
        let v: [f32; 3] = core::array::from_fn(|_| crate::math::uniform_open(rng));
        let zb = lt[k] - libm::logf(-libm::logf(v[k] + 1e-8) + 1e-8);
        core::array::from_fn(|i| {
            if i == k {
                zb
            } else {
                let th = libm::expf(lt[i]);
                lt[i] - libm::logf(-libm::logf(v[i]) + th * libm::expf(-zb))
            }
        })
    };
    let worst = conditional_law_z::<3>(
        [0.4, -1.0, 1.5],
        12,
        &biased,
        &|l, rng| Categorical::<3>::sample_z(l, rng),
        &|z| Categorical::<3>::harden(z),
    );
    assert!(
        worst > 10.0,
        "the biased sampler went unnoticed: max |z| = {worst}"
    );
}

#[test]
fn bernoulli_conditional_has_the_law_of_z_given_b() {
    check_conditional_law::<Bernoulli<2>, 2>([0.4, -2.0], 11);
}

#[test]
fn categorical_conditional_has_the_law_of_z_given_b() {
    check_conditional_law::<Categorical<3>, 3>([0.4, -1.0, 1.5], 12);
}

#[test]
fn gaussian_score_matches_finite_differences() {
    let m = [0.3f32, -1.0];
    let s = [-0.5f32, 0.4];
    let b = [0.9f32, -2.2];
    let (gm, gs) = Gaussian::<2>::score(&m, &s, &b);
    for j in 0..2 {
        let (mut mp, mut mm, mut sp, mut sm) = (m, m, s, s);
        mp[j] += H;
        mm[j] -= H;
        sp[j] += H;
        sm[j] -= H;
        let fdm = (Gaussian::<2>::log_prob(&mp, &s, &b) - Gaussian::<2>::log_prob(&mm, &s, &b))
            / (2.0 * H);
        let fds = (Gaussian::<2>::log_prob(&m, &sp, &b) - Gaussian::<2>::log_prob(&m, &sm, &b))
            / (2.0 * H);
        close(gm[j], fdm, "gaussian score mean");
        close(gs[j], fds, "gaussian score log-std");
    }
    let eps = [0.5f32, -1.5];
    let d = Gaussian::<2>::dsample_dlogstd(&s, &eps);
    for j in 0..2 {
        let (mut sp, mut sm) = (s, s);
        sp[j] += H;
        sm[j] -= H;
        let fd = (Gaussian::<2>::transform(&m, &sp, &eps)[j]
            - Gaussian::<2>::transform(&m, &sm, &eps)[j])
            / (2.0 * H);
        close(d[j], fd, "db/ds");
    }
}

/// The tied conditional: `z~ = z`, and its coefficients are `dz~/dl` at the noise `v` that
/// reproduces `z` (recovered here by inverting the conditional map), checked by differences.
#[test]
fn tied_conditional_matches_the_recovered_noise() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    for l in [[0.3f32, -1.2, 2.0], [8.0, -8.0, 0.1]] {
        for _ in 0..30 {
            let z = Bernoulli::<3>::sample_z(&l, &mut rng);
            let b = Bernoulli::<3>::harden(&z);
            let tied = Bernoulli::<3>::tie(&l, &z, &b);
            assert_eq!(tied.z, z);
            let v: [f32; 3] = core::array::from_fn(|i| {
                let th = crate::math::sigmoid(l[i]) as f64;
                let u = crate::math::sigmoid(z[i] - l[i]) as f64;
                (if b[i] > 0.5 {
                    (u - (1.0 - th)) / th
                } else {
                    u / (1.0 - th)
                }) as f32
            });
            let back = Bernoulli::<3>::conditional_from_noise(&l, &b, &v);
            for i in 0..3 {
                assert!(
                    (back.z[i] - z[i]).abs() < 1e-3 * (1.0 + z[i].abs()),
                    "z~(v) = z"
                );
                close(tied.coef[i], back.coef[i], "tied bernoulli coef");
            }
        }
    }
    let l = [0.5f32, -1.0, 2.0, 0.0];
    for _ in 0..30 {
        let z = Categorical::<4>::sample_z(&l, &mut rng);
        let b = Categorical::<4>::harden(&z);
        let k = Categorical::<4>::argmax(&b);
        let tied = Categorical::<4>::tie(&l, &z, &b);
        let th = Categorical::<4>::probs(&l);
        let eb = libm::exp(-(z[k] as f64));
        let v: [f32; 4] = core::array::from_fn(|i| {
            if i == k {
                libm::exp(-eb) as f32
            } else {
                libm::exp(-(th[i] as f64) * (libm::exp(-(z[i] as f64)) - eb)) as f32
            }
        });
        let back = Categorical::<4>::conditional_from_noise(&l, &b, &v);
        for i in 0..4 {
            assert!(
                (back.z[i] - z[i]).abs() < 1e-2 * (1.0 + z[i].abs()),
                "z~(v) = z"
            );
            close(tied.coef[i], back.coef[i], "tied categorical coef");
        }
    }
}

/// The closed-form Gaussian KL against the Monte Carlo mean of `log p(b) - log q(b)`,
/// `b ~ p`, within 4 standard errors (10^5 draws), and zero between equal distributions.
#[test]
fn gaussian_kl_matches_monte_carlo() {
    let (mp, sp) = ([0.3f32, -1.0], [-0.5f32, 0.4]);
    let (mq, sq) = ([0.1f32, -0.2], [-0.2f32, 0.1]);
    let kl = Gaussian::<2>::kl(&mp, &sp, &mq, &sq) as f64;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(21);
    let n = 100_000;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for _ in 0..n {
        let b = Gaussian::<2>::transform(&mp, &sp, &Gaussian::<2>::sample_noise(&mut rng));
        let d =
            (Gaussian::<2>::log_prob(&mp, &sp, &b) - Gaussian::<2>::log_prob(&mq, &sq, &b)) as f64;
        s1 += d;
        s2 += d * d;
    }
    let mean = s1 / n as f64;
    let se = ((s2 / n as f64 - mean * mean) / n as f64).sqrt();
    assert!(kl > 0.1, "the test case should be far from zero: {kl}");
    assert!(
        (mean - kl).abs() < 4.0 * se,
        "KL {kl} vs Monte Carlo {mean} +- {se}"
    );
    assert!(Gaussian::<2>::kl(&mp, &sp, &mp, &sp).abs() < 1e-6);
}

type Two3 = CategoricalProduct<2, 3, 6>;

#[test]
fn categorical_product_derivatives_match_finite_differences() {
    for (seed, l) in [
        [0.5f32, -1.0, 2.0, 0.0, 0.3, -0.2],
        [8.0, -8.0, 0.0, 1.0, 0.0, 0.0],
    ]
    .into_iter()
    .enumerate()
    {
        for s in 0..20 {
            check_pathwise::<Two3, 6>(l, (seed * 100 + s) as u64);
        }
        for (c0, c1) in [(0, 0), (1, 2), (2, 1)] {
            check_score_and_relaxation::<Two3, 6>(l, Two3::one_hot(&[c0, c1]));
        }
    }
}

#[test]
fn categorical_product_conditional_has_the_law_of_z_given_b() {
    check_conditional_law::<Two3, 6>([0.5, -1.0, 2.0, 0.0, 0.3, -0.2], 71);
}

/// One variable is [`Categorical`] bit for bit, from the same noise; two variables are two
/// categoricals drawn one after the other.
#[test]
fn categorical_product_is_categorical_block_by_block() {
    let l = [0.5f32, -1.0, 2.0, 0.0];
    let mut r1 = Xoshiro128PlusPlus::seed_from_u64(3);
    let mut r2 = Xoshiro128PlusPlus::seed_from_u64(3);
    for _ in 0..100 {
        let z1 = CategoricalProduct::<1, 4, 4>::sample_z(&l, &mut r1);
        let z2 = Categorical::<4>::sample_z(&l, &mut r2);
        assert_eq!(z1, z2);
        let b = Categorical::<4>::harden(&z2);
        assert_eq!(CategoricalProduct::<1, 4, 4>::harden(&z1), b);
        let c1 = CategoricalProduct::<1, 4, 4>::sample_conditional(&l, &b, &mut r1);
        let c2 = Categorical::<4>::sample_conditional(&l, &b, &mut r2);
        assert_eq!(c1, c2);
        assert_eq!(
            CategoricalProduct::<1, 4, 4>::log_prob(&l, &b),
            Categorical::<4>::log_prob(&l, &b)
        );
    }
    let l6 = [0.5f32, -1.0, 2.0, 0.0, 0.3, -0.2];
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    let z = Two3::sample_z(&l6, &mut rng);
    let b = Two3::harden(&z);
    assert!(Two3::is_valid_hard(&b));
    let c = Two3::classes(&b);
    let lp = Categorical::<3>::log_prob(&[0.5, -1.0, 2.0], &Categorical::<3>::one_hot(c[0]))
        + Categorical::<3>::log_prob(&[0.0, 0.3, -0.2], &Categorical::<3>::one_hot(c[1]));
    assert_eq!(Two3::log_prob(&l6, &b), lp);
    assert!(!Two3::is_valid_hard(&[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]));
    let p = Two3::probs(&l6);
    assert!((p[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert!((p[3..].iter().sum::<f32>() - 1.0).abs() < 1e-6);
}
