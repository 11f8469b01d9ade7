//! LayerNorm over rows.

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
    /// Normalises every row of `x` (rows of `gamma.len()` floats) in place:
    /// `y = (x - mean) / sqrt(var + eps) * gamma + beta`, with the biased variance.
    ///
    /// # Panics
    /// If `gamma` and `beta` differ in length or `x` is not a whole number of rows.
    pub fn layernorm(&self, x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        assert_eq!(
            gamma.len(),
            beta.len(),
            "layernorm: gamma and beta lengths differ"
        );
        assert!(
            !gamma.is_empty() && x.len().is_multiple_of(gamma.len()),
            "layernorm: ragged rows"
        );
        (self.layernorm)(x, gamma, beta, eps)
    }
}
