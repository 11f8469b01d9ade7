//! LayerNorm on any [`F32Vector`]: two passes over each row (mean, then the variance of the
//! deviations, which avoids the cancellation of E[x²] - E[x]²), f32 sums in vector lanes.

use crate::simd::F32Vector;

/// # Safety
/// The CPU must have `V`'s ISA; `x` is a whole number of rows of `gamma.len()` floats and
/// `beta.len() == gamma.len()` (checked by the public entry point).
#[inline(always)]
pub(crate) unsafe fn layernorm<V: F32Vector>(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = gamma.len();
    let lanes = V::LANES;
    let full = width - width % lanes;
    let rest = width - full;
    // SAFETY: every pointer offset stays below `width` within its row / gamma / beta, with
    // partial accesses of exactly `rest` floats; the ISA is present per the contract.
    unsafe {
        for row in x.chunks_exact_mut(width) {
            let p = row.as_mut_ptr();
            let mut sum = V::splat(0.0);
            for i in (0..full).step_by(lanes) {
                sum = sum.add(V::load(p.add(i)));
            }
            if rest > 0 {
                sum = sum.add(V::load_partial(p.add(full), rest, 0.0));
            }
            let mean_value = sum.reduce_sum() / width as f32;
            let mean = V::splat(mean_value);
            let mut squares = V::splat(0.0);
            for i in (0..full).step_by(lanes) {
                let d = V::load(p.add(i)).sub(mean);
                squares = d.mul_add(d, squares);
            }
            if rest > 0 {
                // Padding lanes hold the mean, so their deviation is zero.
                let d = V::load_partial(p.add(full), rest, mean_value).sub(mean);
                squares = d.mul_add(d, squares);
            }
            let inv_std = V::splat(1.0 / (squares.reduce_sum() / width as f32 + eps).sqrt());
            let (g, b) = (gamma.as_ptr(), beta.as_ptr());
            for i in (0..full).step_by(lanes) {
                let y = V::load(p.add(i)).sub(mean).mul(inv_std);
                y.mul_add(V::load(g.add(i)), V::load(b.add(i)))
                    .store(p.add(i));
            }
            if rest > 0 {
                let y = V::load_partial(p.add(full), rest, 0.0)
                    .sub(mean)
                    .mul(inv_std);
                let g = V::load_partial(g.add(full), rest, 0.0);
                y.mul_add(g, V::load_partial(b.add(full), rest, 0.0))
                    .store_partial(p.add(full), rest);
            }
        }
    }
}
