//! Pooling token rows into one sentence vector, and L2 normalisation.

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
    /// Mean of `rows` (a whole number of rows of `out.len()` floats) into `out`. With no rows,
    /// `out` is zeroed (sentence-transformers divides by a count clamped to 1e-9).
    pub fn mean_pool(&self, rows: &[f32], out: &mut [f32]) {
        let n_rows = check_rows(rows, out);
        (self.mean_pool)(rows, n_rows, out)
    }

    /// Element-wise maximum of `rows` into `out`. With no rows, `out` is zeroed.
    pub fn max_pool(&self, rows: &[f32], out: &mut [f32]) {
        let n_rows = check_rows(rows, out);
        (self.max_pool)(rows, n_rows, out)
    }

    /// `v = v / max(‖v‖₂, 1e-12)`, as `torch.nn.functional.normalize`.
    pub fn l2_normalize(&self, v: &mut [f32]) {
        (self.l2_normalize)(v)
    }
}

fn check_rows(rows: &[f32], out: &[f32]) -> usize {
    assert!(!out.is_empty(), "pool: empty output");
    assert_eq!(
        rows.len() % out.len(),
        0,
        "pool: rows are not a multiple of the width"
    );
    rows.len() / out.len()
}
