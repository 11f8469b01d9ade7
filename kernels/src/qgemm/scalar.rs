//! Portable int8 GEMM: the reference for every SIMD int8 path (row-major weights).

use super::{dequantize, QuantizedWeights, RowQuant};
use crate::activation::scalar::gelu_one;
use crate::gemm::{Epilogue, Output};
use crate::workspace::Workspace;

/// The first `len` bytes of `floats` (which holds at least `len.div_ceil(4)` floats).
fn scratch_bytes(floats: &mut [f32], len: usize) -> &mut [u8] {
    assert!(floats.len() * 4 >= len);
    // SAFETY: the floats are initialised memory of at least `len` bytes, borrowed uniquely for
    // the result's lifetime; u8 has no alignment or validity requirement.
    unsafe { std::slice::from_raw_parts_mut(floats.as_mut_ptr().cast::<u8>(), len) }
}

/// Output columns per panel: weights stay row-major.
pub(crate) const PANEL: usize = 1;

/// The quantisation of one row of `A` (each value first multiplied by `smooth_inv[p]` when
/// given): its parameters, and `u` written into `out`.
pub(crate) fn quantize_row(row: &[f32], smooth_inv: Option<&[f32]>, out: &mut [u8]) -> RowQuant {
    let value = |p: usize| smooth_inv.map_or(row[p], |m| row[p] * m[p]);
    let (lo, hi) = (0..row.len()).fold((0.0f32, 0.0f32), |(lo, hi), p| {
        let x = value(p);
        (lo.min(x), hi.max(x))
    });
    let params = RowQuant::for_range(lo, hi);
    for (p, u) in out.iter_mut().enumerate().take(row.len()) {
        *u = params.quantize(value(p));
    }
    params
}

/// # Safety
/// The [`Output`] contract: `out.c` reaches `m` rows of `w.n` floats, and nothing else reads or
/// writes the columns `out.cols` of them during the call.
pub(crate) unsafe fn qgemm(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    let (n, k) = (w.n, w.k);
    // This thread's reusable scratch (k floats hold k bytes with room to spare).
    let mut scratch = Workspace::take(k.div_ceil(4));
    let u = scratch_bytes(&mut scratch, k);
    for i in 0..m {
        let row = quantize_row(&a[i * k..(i + 1) * k], w.smooth_inv.as_deref(), u);
        for j in out.cols.clone() {
            let q = &w.data[j * k..(j + 1) * k];
            // Wrapping (never wraps: |sum| <= 255 * 128 * k) so that it vectorises.
            let acc = u.iter().zip(q).fold(0i32, |sum, (&x, &y)| {
                sum.wrapping_add(i32::from(x).wrapping_mul(i32::from(y)))
            });
            let sum = dequantize(acc, row, w.col_sums[j], w.scales[j]);
            // SAFETY: i < m and j < n: inside the `m x n` output, in this call's columns.
            let dst = unsafe { &mut *out.c.add(i * n + j) };
            *dst = match epilogue {
                Epilogue::None => sum,
                Epilogue::Bias(b) => sum + b[j],
                Epilogue::BiasGelu(b) => gelu_one(sum + b[j]),
                Epilogue::BiasResidual(b) => *dst + (sum + b[j]),
            };
        }
    }
}
