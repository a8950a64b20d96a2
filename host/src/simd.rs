//! The hot element-wise loops (Adam's step) compiled for the widest vectors the CPU has,
//! chosen at run time: the binary stays portable (x86-64 baseline), and on a CPU with
//! AVX-512 the same loop runs 16 lanes wide instead of 4.
//!
//! The numbers do not change: Rust never fuses a multiply and an add on its own (no
//! contraction, at any target feature), and `+ - * / sqrt` are exactly rounded at every
//! vector width, so each element gets the same operations in the same order and the same
//! bits (`scripts/check-refactor.sh` compares every output file).

/// Defines `fn $name(args)` whose body is compiled three times (AVX-512F, AVX2, baseline)
/// and runs the widest the CPU has (checked at each call: a cached flag).
#[macro_export]
macro_rules! wide_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $crate::wide_fn! { $(#[$meta])* $vis fn $name($($arg: $ty),*) -> () $body }
    };
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512f($($arg: $ty),*) -> $ret {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, checked just above.
                    #[allow(unsafe_code)]
                    return unsafe { avx512f($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    #[allow(unsafe_code)]
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    #[inline(always)]
    fn plain(x: &[f32], y: &mut [f32]) {
        for (y, &v) in y.iter_mut().zip(x) {
            *y = (v * 1.1 + 0.3) / ((v * v).sqrt() + 1e-8) - v * 0.9;
        }
    }

    crate::wide_fn! {
        fn wide(x: &[f32], y: &mut [f32]) {
            plain(x, y)
        }
    }

    #[test]
    fn the_wide_variant_gives_the_bits_of_the_plain_loop() {
        // Operations whose rounding a fused or reordered form would change.
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let (mut a, mut b) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
        plain(&x, &mut a);
        wide(&x, &mut b);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
    }
}
