//! Small numeric helpers of the estimators' steps.

/// Sets values below 1e-30 in magnitude to zero. Saturated relaxations (`sigmoid(z / lambda)`
/// with `z / lambda` below -87) give subnormal derivatives, and a few subnormal inputs slow a
/// whole matrix product by an order of magnitude (RELAX's first epoch ran at a tenth of its
/// speed); they carry nothing an f32 sum of O(1) terms could see.
pub(super) fn flush(v: &mut [f32]) {
    for x in v {
        if x.abs() < 1e-30 {
            *x = 0.0;
        }
    }
}

/// An error naming the first non-finite value of `f` in a batch.
pub(super) fn finite_elbo(f: &[f32]) -> std::result::Result<(), String> {
    match f.iter().find(|v| !v.is_finite()) {
        Some(bad) => Err(format!("non-finite ELBO {bad}")),
        None => Ok(()),
    }
}

pub(super) fn add_scaled(dst: &mut [f32], src: &[f32], s: f32) {
    for (d, v) in dst.iter_mut().zip(src) {
        *d += s * v;
    }
}
