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

use crate::parallel::SharedOutput;
use crate::{Kernels, TaskRunner};

/// Rows one task of [`Kernels::layernorm_parallel`] handles at least: fewer are not worth a
/// hand-off (16 rows of 384 take about a microsecond).
const MIN_ROWS_PER_TASK: usize = 16;

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

    /// [`Kernels::layernorm`] over `runner`'s threads, in blocks of whole rows (each row's
    /// result is the same as on one thread).
    ///
    /// # Panics
    /// As [`Kernels::layernorm`].
    pub fn layernorm_parallel(
        &self,
        x: &mut [f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
        runner: &dyn TaskRunner,
    ) {
        let width = gamma.len().max(1);
        let rows = x.len() / width;
        let per_task = rows
            .div_ceil(runner.threads().max(1))
            .max(MIN_ROWS_PER_TASK);
        let tasks = rows.div_ceil(per_task);
        if tasks <= 1 {
            return self.layernorm(x, gamma, beta, eps);
        }
        assert!(x.len().is_multiple_of(width), "layernorm: ragged rows");
        let (len, shared) = (x.len(), SharedOutput(x.as_mut_ptr()));
        runner.run(tasks, &|t| {
            let start = t * per_task * width;
            let end = ((t + 1) * per_task * width).min(len);
            // SAFETY: task t's rows start..end lie inside `x` and no other task's overlap them;
            // the unique borrow of `x` is held until every task has returned.
            let rows =
                unsafe { std::slice::from_raw_parts_mut(shared.get().add(start), end - start) };
            self.layernorm(rows, gamma, beta, eps);
        });
    }
}
