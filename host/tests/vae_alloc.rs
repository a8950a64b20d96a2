//! The VAE's training iteration allocates nothing of its own once its buffers are sized:
//! every estimator's step and the model's Adam step, at the paper's shapes (784 pixels, 200
//! latents, batch 24), for linear1, linear2 and nonlinear, on one thread and on two. A
//! counting allocator sees every thread's allocations (the product threads' too) while the
//! steps run. The one allocation left is `matrixmultiply`'s: a product it computes (the
//! shapes the few-row kernels do not take) packs its factors into a buffer it allocates,
//! aligned to at least 32 bytes; so no allocation of alignment below 32 (every `Vec`,
//! `String` and task box of ours and rayon's) may happen, and no more allocations than
//! `matrixmultiply` products (`linalg::packed_products`). This file holds one test, so that
//! no other test allocates meanwhile.

use host::vae::adam::AdamVec;
use host::vae::estimators::{EstimatorConfig, EstimatorKind, VaeEstimator};
use host::vae::linalg;
use host::vae::model::{ModelKind, Vae};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counts allocations (and reallocations) while `COUNTING` is set, on every thread: those
/// aligned to 32 bytes or more apart.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static SMALL_ALIGN: AtomicU64 = AtomicU64::new(0);
static LARGE_ALIGN: AtomicU64 = AtomicU64::new(0);

fn count(layout: Layout) {
    if COUNTING.load(Ordering::Relaxed) {
        if layout.align() >= 32 {
            LARGE_ALIGN.fetch_add(1, Ordering::Relaxed);
        } else {
            SMALL_ALIGN.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(layout);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 200;
const P: usize = 784;
const BATCH: usize = 24;

/// Iterations run before counting (the estimator's and Adam's first steps).
const WARM_UP: usize = 3;

/// What `steps` training iterations of `kind` on `model` allocated, after [`WARM_UP`] that
/// size whatever is sized on first use (on the calling thread's pool): allocations aligned
/// below 32 bytes, all allocations, and `matrixmultiply`'s products.
fn allocations(model: ModelKind, kind: EstimatorKind, steps: usize) -> (u64, u64, u64) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
    // Pixel means in (0, 1), binary images with about that many pixels on.
    let mean: Vec<f32> = (0..P)
        .map(|i| 0.05 + 0.4 * ((i % 17) as f32 / 17.0))
        .collect();
    let (vae, mut theta) = Vae::new(model, P, N, &mean, 200, &mut rng).expect("model");
    let cfg = EstimatorConfig::new(kind);
    let mut est =
        VaeEstimator::<N>::new(cfg, &vae, BATCH, 1e-3, 0.99999, &mut rng).expect("estimator");
    let mut adam = AdamVec::new(vae.n_params, 1e-3, 0.99999);
    adam.set_matrices(&vae.matrices(), vae.parts());
    let mut grad = vec![0.0f32; vae.n_params];
    let x: Vec<f32> = (0..BATCH * P)
        .map(|i| {
            if (rng.next_u32() as f32 / u32::MAX as f32) < mean[i % P] {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let mut run = |rng: &mut Xoshiro128PlusPlus| {
        est.step(&vae, &theta, &x, BATCH, rng, &mut grad, true)
            .expect("step");
        assert!(adam.step(&mut theta, &mut grad), "a finite gradient");
    };
    for _ in 0..WARM_UP {
        run(&mut rng);
    }
    SMALL_ALIGN.store(0, Ordering::SeqCst);
    LARGE_ALIGN.store(0, Ordering::SeqCst);
    let packed = linalg::packed_products();
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..steps {
        run(&mut rng);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let small = SMALL_ALIGN.load(Ordering::SeqCst);
    let all = small + LARGE_ALIGN.load(Ordering::SeqCst);
    (small, all, linalg::packed_products() - packed)
}

#[test]
fn a_training_iteration_allocates_nothing_of_its_own() {
    let mut checked = 0;
    for threads in [1, 2] {
        linalg::set_threads(threads);
        // As `relax vae` makes its pool: each thread makes its scratch buffers first.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(|_| linalg::prepare_thread())
            .build()
            .expect("pool");
        for model in [ModelKind::Linear1, ModelKind::Linear2, ModelKind::Nonlinear] {
            for kind in EstimatorKind::all() {
                if kind.one_layer_only() && model == ModelKind::Linear2 {
                    continue;
                }
                let (small, all, packed) = pool.install(|| allocations(model, kind, 4));
                let what = format!("{model:?} {} on {threads} thread(s)", kind.label());
                assert_eq!(small, 0, "{what}: {small} allocations in 4 iterations");
                assert!(
                    all <= packed,
                    "{what}: {all} allocations, more than matrixmultiply's {packed} products"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        2 * (10 + 7 + 10),
        "every model x estimator x threads"
    );
}
