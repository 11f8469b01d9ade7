//! Element-wise activations: the exact (erf) GELU BERT uses.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod scalar;
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) mod simd;

use crate::Kernels;

impl Kernels {
    /// `x = 0.5 x (1 + erf(x / √2))` in place, the exact GELU (not the tanh approximation).
    pub fn gelu(&self, x: &mut [f32]) {
        (self.gelu)(x)
    }
}

/// `erf(x)` in f64, accurate to a few ulp: the reference the vectorised versions are tested
/// against.
pub fn erf_reference(x: f64) -> f64 {
    scalar::erf(x)
}

/// `erfc(x) = 1 - erf(x)` in f64, with full relative precision in the tail.
pub fn erfc_reference(x: f64) -> f64 {
    scalar::erfc(x)
}

/// The exact GELU in f64, `0.5 x (1 + erf(x / √2))`, accurate in relative terms for negative x
/// too: the reference for every GELU path.
pub fn gelu_reference(x: f64) -> f64 {
    scalar::gelu_f64(x)
}
