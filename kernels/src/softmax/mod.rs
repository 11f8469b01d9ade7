//! Scaled softmax over one row.

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
    /// `x = softmax(scale · x)` in place. An empty row is left alone.
    pub fn softmax(&self, x: &mut [f32], scale: f32) {
        (self.softmax)(x, scale)
    }
}
